"""`container/serve` configured as a batch transform job configures it: SAGEMAKER_BATCH, a smaller payload
limit, a default Accept, a quieter log level and the worker count left to the CPU count. One server answers
every test of this module."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import HttpResponse, Server, TrainedTree, csv_body, serving_with, worker_pids

from ensemble_byoc.contract.cpus import available_cpus

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def tt(trained_tree_for_serving: TrainedTree) -> TrainedTree:
    return trained_tree_for_serving


@pytest.fixture(scope="module")
def batch_server(tt: TrainedTree) -> Iterator[Server]:
    env = {"SAGEMAKER_BATCH": "True", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
           "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json", "LOG_LEVEL": "WARNING"}
    with serving_with(tt.tree, env) as running:
        yield running


def assert_served(served: list[float | None], expected: np.ndarray) -> None:
    np.testing.assert_allclose(np.array(served, dtype=np.float64), expected, rtol=0,
                               atol=1e-6 * float(np.nanmax(np.abs(expected))), equal_nan=True)


def with_gaps(values: np.ndarray, gaps: list[int]) -> np.ndarray:
    out = list(values)
    for position in gaps:
        out.insert(position, np.nan)
    return np.array(out)


def test_each_input_line_gets_exactly_one_output_line_in_order(batch_server: Server, tt: TrainedTree) -> None:
    rows = tt.X[:6]
    lines = csv_body(rows).decode().splitlines()
    body = "\n".join(lines[:2] + [""] + lines[2:5] + ["  "] + lines[5:]) + "\n"  # blank lines at 2 and 6
    response = batch_server.post(body.encode(), accept="text/csv")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv"
    text = response.body.decode()
    assert text.endswith("\n")
    out = text.split("\n")[:-1]
    assert len(out) == len(body.split("\n")) - 1 == 8
    assert out[2] == "" and out[6] == ""
    assert_served([float(v) if v else None for v in out], with_gaps(tt.ensemble.predict(rows), [2, 6]))


def test_json_lines_in_json_out_one_object_per_line_and_null_for_a_blank_line(batch_server: Server,
                                                                             tt: TrainedTree) -> None:
    rows = tt.X[:3]
    body = (json.dumps(rows[0].tolist()) + "\n\n" + json.dumps(rows[1].tolist()) + "\n"
            + json.dumps(rows[2].tolist())).encode()  # no final newline
    response = batch_server.post(body, content_type="application/jsonlines")  # no Accept: the default, JSON
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.body.endswith(b"\n")
    objects = [json.loads(line) for line in response.body.decode().splitlines()]
    assert len(objects) == 4
    assert objects[1] == {"score": None}
    assert_served([o["score"] for o in objects], with_gaps(tt.ensemble.predict(rows), [1]))


def test_a_json_lines_file_sent_as_application_json_is_one_output_line_per_line(batch_server: Server,
                                                                                 tt: TrainedTree) -> None:
    rows = tt.X[:3]
    body = "".join(json.dumps({"features": row}) + "\n" for row in rows.tolist()).encode()
    response = batch_server.post(body, content_type="application/json", accept="application/jsonlines")
    assert response.status == 200
    scores = [json.loads(line)["score"] for line in response.body.decode().splitlines()]
    assert_served(scores, tt.ensemble.predict(rows))


def test_an_empty_mini_batch_gets_an_empty_answer(batch_server: Server) -> None:
    response = batch_server.post(b"", accept="text/csv")
    assert response.status == 200
    assert response.body == b""


def test_execution_parameters_report_one_transform_per_cpu_and_the_payload_limit(
    batch_server: Server
) -> None:
    response = batch_server.get("/execution-parameters")
    assert response.json() == {"MaxConcurrentTransforms": available_cpus(), "BatchStrategy": "MULTI_RECORD",
                               "MaxPayloadInMB": 1}
    deadline = time.monotonic() + 30
    while len(worker_pids(batch_server)) < available_cpus() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(worker_pids(batch_server)) == available_cpus()


def test_a_body_over_the_payload_limit_gets_413(batch_server: Server) -> None:
    response = batch_server.post(b"1,2,3,4,5\n" * 120_000)
    assert response.status == 413
    assert response.json()["error"] == "PayloadTooLargeError"
    assert "1 MiB" in response.json()["message"]
    assert batch_server.get("/ping").status == 200


def post_chunked(server: Server, body: bytes, chunk: int = 64 * 1024) -> HttpResponse:
    """POST with Transfer-Encoding: chunked and no Content-Length, over a raw socket."""
    host, port = server.url.removeprefix("http://").split(":")
    head = (b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                      for i in range(0, len(body), chunk))
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + chunks + b"0\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    return HttpResponse(int(status_line.split()[1]), {}, payload)


def test_a_chunked_body_is_read_and_one_over_the_limit_gets_413(
    batch_server: Server, tt: TrainedTree
) -> None:
    small = post_chunked(batch_server, csv_body(tt.X[:40]), chunk=100)
    assert small.status == 200
    assert_served([json.loads(line)["score"] for line in small.body.decode().splitlines()],  # default Accept
                  tt.ensemble.predict(tt.X[:40]))
    large = post_chunked(batch_server, b"1,2,3,4,5\n" * 150_000)  # 1.4 MiB
    assert large.status == 413
    assert json.loads(large.body)["error"] == "PayloadTooLargeError"
    assert batch_server.get("/ping").status == 200


def test_at_log_level_warning_there_are_no_access_lines(batch_server: Server, tt: TrainedTree) -> None:
    assert batch_server.post(csv_body(tt.X[:1])).status == 200
    log = batch_server.log()
    assert "POST /invocations" not in log
    assert "Model loaded from" not in log  # an INFO line
