"""`container/serve` as SageMaker runs it: the real gunicorn server, spoken to over HTTP.

One server (2 workers, default settings) answers most tests of this module; the SIGTERM and broken-model
tests start their own. Served predictions come from the folds merged into one model per library, so they
are compared to the in-process fold ensemble within float32 rounding (see tests/unit/test_fold_merging.py):
``atol = 1e-6 * max |prediction|``.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import (
    HttpResponse,
    OptMl,
    Server,
    TrainedTree,
    csv_body,
    exit_code_of_refused_start,
    http,
    serving_with,
    start_server,
    thread_count,
    wait_until_healthy,
    worker_pids,
)

from ensemble_byoc.contract.cpus import available_cpus

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
REQUEST_TYPES = "text/csv, application/json, application/jsonlines, application/x-npy, application/x-parquet"


@pytest.fixture(scope="module")
def tt(trained_tree_for_serving: TrainedTree) -> TrainedTree:
    return trained_tree_for_serving


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def server(tt: TrainedTree, home: Path) -> Iterator[Server]:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30", "HOME": str(home),
           "XDG_RUNTIME_DIR": str(home)}
    with serving_with(tt.tree, env) as running:  # stopped by SIGTERM, so no worker outlives the module
        deadline = time.monotonic() + 30  # /ping answers once the first worker is up; wait for both
        while len(worker_pids(running)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        running.first_workers = worker_pids(running)  # type: ignore[attr-defined]
        yield running


def assert_served(served: list[float] | np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(served, dtype=np.float64), expected, rtol=0,
                               atol=1e-6 * float(np.max(np.abs(expected))))


def csv_values(response: HttpResponse) -> list[float]:
    return [float(line) for line in response.body.decode().splitlines()]


def json_scores(response: HttpResponse) -> list[float]:
    return [entry["score"] for entry in response.json()["predictions"]]


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


# -- request formats -------------------------------------------------------------------------------------


def test_served_csv_predictions_equal_the_in_process_ensemble(server: Server, tt: TrainedTree) -> None:
    response = server.post(csv_body(tt.X[:25]))
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert_served(csv_values(response), tt.ensemble.predict(tt.X[:25]))


def test_csv_with_charset_crlf_no_final_newline_and_empty_fields_is_read(
    server: Server, tt: TrainedTree
) -> None:
    rows = tt.X[:3].copy()
    rows[1, 2] = np.nan
    text = csv_body(rows).decode().replace("nan", "").replace("\n", "\r\n").rstrip("\r\n")
    response = server.post(text.encode(), content_type="text/csv; charset=utf-8")
    assert response.status == 200
    assert_served(csv_values(response), tt.ensemble.predict(rows))


def names(tt: TrainedTree) -> tuple[str, ...]:
    return tuple(tt.ensemble.feature_names)


@pytest.mark.parametrize(
    ("shape", "content_type"),
    [
        ("instances-rows", "application/json"),
        ("instances-records-reversed", "application/json"),
        ("instances-features-objects", "application/json"),
        ("bare-rows", "application/json"),
        ("bare-records", "application/json"),
        ("lines-rows", "application/jsonlines"),
        ("lines-records", "application/jsonlines"),
        ("lines-features-objects", "application/jsonlines"),
    ],
)
def test_every_json_shape_gets_the_ensemble_prediction(server: Server, tt: TrainedTree, shape: str,
                                                       content_type: str) -> None:
    rows = tt.X[:4]
    records = [dict(reversed(list(zip(names(tt), map(float, row), strict=True)))) for row in rows]
    documents = {
        "instances-rows": {"instances": rows.tolist()},
        "instances-records-reversed": {"instances": records},
        "instances-features-objects": {"instances": [{"features": row} for row in rows.tolist()]},
        "bare-rows": rows.tolist(),
        "bare-records": records,
    }
    lines = {"lines-rows": rows.tolist(), "lines-records": records,
             "lines-features-objects": [{"features": row} for row in rows.tolist()]}
    if shape in documents:
        body = json.dumps(documents[shape]).encode()
    else:
        body = "".join(json.dumps(line) + "\n" for line in lines[shape]).encode()
    response = server.post(body, content_type=content_type, accept="application/json")
    assert response.status == 200, response.body
    assert_served(json_scores(response), tt.ensemble.predict(rows))


def test_a_json_features_object_is_one_row(server: Server, tt: TrainedTree) -> None:
    response = server.post(json.dumps({"features": tt.X[0].tolist()}).encode(),
                           content_type="application/json")
    assert response.status == 200
    assert_served(csv_values(response), tt.ensemble.predict(tt.X[:1]))


def test_npy_matrices_rows_and_structured_arrays_are_read(server: Server, tt: TrainedTree) -> None:
    rows = tt.X[:5]
    structured = np.zeros(5, dtype=[(name, "f8") for name in reversed(names(tt))])
    for i, name in enumerate(names(tt)):
        structured[name] = rows[:, i]
    for body, expected in [(npy(rows), rows), (npy(rows.astype(np.float32)), rows.astype(np.float32)),
                           (npy(rows[0]), rows[:1]), (npy(structured), rows)]:
        response = server.post(body, content_type="application/x-npy")
        assert response.status == 200, response.body
        assert_served(csv_values(response), tt.ensemble.predict(expected.astype(np.float64)))


def test_parquet_columns_are_matched_to_features_by_name_in_any_order(
    server: Server, tt: TrainedTree
) -> None:
    rows = tt.X[:6]
    table = pa.table({name: rows[:, i] for i, name in reversed(list(enumerate(names(tt))))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    response = server.post(buffer.getvalue(), content_type="application/x-parquet", accept="application/json")
    assert response.status == 200, response.body
    assert_served(json_scores(response), tt.ensemble.predict(rows))


@pytest.mark.parametrize("content_type", ["text/csv", "application/json"])
def test_a_gzip_compressed_body_is_read(server: Server, tt: TrainedTree, content_type: str) -> None:
    rows = tt.X[:8]
    plain = (csv_body(rows) if content_type == "text/csv"
             else json.dumps({"instances": rows.tolist()}).encode())
    response = server.post(gzip.compress(plain), content_type=content_type,
                           headers={"Content-Encoding": "gzip"})
    assert response.status == 200, response.body
    assert_served(csv_values(response), tt.ensemble.predict(rows))


def test_unknown_headers_are_ignored(server: Server, tt: TrainedTree) -> None:
    response = server.post(csv_body(tt.X[:2]), headers={
        "X-Amzn-SageMaker-Target-Model": "model.tar.gz", "X-Something": "else", "Accept-Charset": "latin-1",
        "Accept-Language": "fr", "Cookie": "a=b", "X-Amzn-Trace-Id": "Root=1-abc",
    })
    assert response.status == 200
    assert_served(csv_values(response), tt.ensemble.predict(tt.X[:2]))


# -- response formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "text/csv"),
        ("*/*", "text/csv"),
        ("text/csv", "text/csv"),
        ("application/json", "application/json"),
        ("application/jsonlines", "application/jsonlines"),
        ("text/html;q=0.9, application/jsonlines;q=0.5, */*;q=0.1", "application/jsonlines"),
        ("application/json; charset=utf-8", "application/json"),
    ],
)
def test_the_answer_has_exactly_the_negotiated_content_type(
    server: Server, tt: TrainedTree, accept: str | None, content_type: str
) -> None:
    response = server.post(csv_body(tt.X[:3]), accept=accept)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    expected = tt.ensemble.predict(tt.X[:3])
    if content_type == "text/csv":
        assert_served(csv_values(response), expected)
    elif content_type == "application/json":
        assert_served(json_scores(response), expected)
    else:
        assert response.body.endswith(b"\n")
        assert_served([json.loads(line)["score"] for line in response.body.decode().splitlines()], expected)


def test_custom_attributes_add_each_library_next_to_the_blend_and_are_echoed(
    server: Server, tt: TrainedTree
) -> None:
    rows = tt.X[:4]
    members = tt.ensemble.predict_members(rows)
    response = server.post(csv_body(rows), accept="application/json",
                           headers={CUSTOM_ATTRIBUTES: "trace=7; models=all"})
    assert response.status == 200
    assert response.headers[CUSTOM_ATTRIBUTES] == "trace=7; models=all"
    predictions = response.json()["predictions"]
    libraries = list(tt.ensemble.weights)  # the blended libraries, as in the manifest
    assert list(predictions[0]) == ["score", *libraries]
    assert_served([p["score"] for p in predictions], tt.ensemble.predict(rows))
    for library in libraries:
        assert_served([p[library] for p in predictions], members[library])
    last = libraries[-1]
    csv_answer = server.post(csv_body(rows), headers={CUSTOM_ATTRIBUTES: f"models={last}"})
    assert [len(line.split(",")) for line in csv_answer.body.decode().splitlines()] == [2] * 4
    assert_served([float(line.split(",")[1]) for line in csv_answer.body.decode().splitlines()],
                  members[last])


def test_custom_attributes_are_echoed_on_errors_too(server: Server) -> None:
    response = server.post(b"1,2", content_type="text/xml", headers={CUSTOM_ATTRIBUTES: "models=all"})
    assert response.status == 415
    assert response.headers[CUSTOM_ATTRIBUTES] == "models=all"


# -- errors ----------------------------------------------------------------------------------------------


def _npy_object() -> bytes:
    return npy(np.array([[1, "x", None, 4, 5]], dtype=object))


def _parquet_strings() -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"f0": ["a"], "f1": [1.0]}), buffer)
    return buffer.getvalue()


BAD_REQUESTS = [
    pytest.param(b"1,2,3", "text/xml", None, {}, 415, "UnsupportedMediaTypeError",
                 f"send one of {REQUEST_TYPES}", id="unsupported-content-type"),
    pytest.param(b"1,2,3", "application/x-www-form-urlencoded", None, {}, 415, "UnsupportedMediaTypeError",
                 "'application/x-www-form-urlencoded' is not supported",
                 id="form-content-type-curl-sends-by-default"),
    pytest.param(b"1,2,3", "text/csv; charset=latin-1", None, {}, 415, "UnsupportedMediaTypeError", "charset",
                 id="unsupported-charset"),
    pytest.param(b"1,2,3,4,5", "text/csv", None, {"Content-Encoding": "br"}, 415, "UnsupportedMediaTypeError",
                 "Content-Encoding 'br' is not supported", id="unsupported-content-encoding"),
    pytest.param(b"1,2,3,4,5", "text/csv", "application/xml", {}, 406, "NotAcceptableError", "ask for one of",
                 id="unsupported-accept"),
    pytest.param(b"1,2,3", "text/csv", None, {}, 400, "UserError", "Expected 5 features per row, got 3",
                 id="too-few-features"),
    pytest.param(b"9,1,2,3,4,5", "text/csv", None, {}, 400, "UserError", "Rows must not include the label",
                 id="label-included"),
    pytest.param(b"1,2,x,4,5", "text/csv", None, {}, 400, "UserError", "Row 1, column 3: 'x' is not a number",
                 id="non-numeric-value"),
    pytest.param(b"1,2,3,4,5\n1,2\n", "text/csv", None, {}, 400, "UserError", "Row 2 has 2 values",
                 id="ragged-rows"),
    pytest.param(b"", "text/csv", None, {}, 400, "UserError", "The request body is empty", id="empty-body"),
    pytest.param(b"{not json", "application/json", None, {}, 400, "UserError", "not valid JSON",
                 id="malformed-json"),
    pytest.param(b"[" * 50_000, "application/json", None, {}, 400, "UserError", "nested too deeply",
                 id="json-nested-too-deeply"),
    pytest.param(b'{"rows": []}', "application/json", None, {}, 400, "UserError", '"instances"',
                 id="json-without-instances"),
    pytest.param(b'[{"f0": 1}]', "application/json", None, {}, 400, "UserError", "missing features",
                 id="record-missing-names"),
    pytest.param(b'{"f0": 1, "oops": 2}\n', "application/jsonlines", None, {}, 400, "UserError",
                 "unknown features ['oops']", id="record-unknown-name"),
    pytest.param(b"[1, 2, 3, 4, 5]\n[1, 2", "application/jsonlines", None, {}, 400, "UserError",
                 "Line 2 is not valid JSON", id="bad-json-line"),
    pytest.param(b"\xff\xfe1,2", "text/csv", None, {}, 400, "UserError", "not UTF-8", id="not-utf8"),
    pytest.param(_npy_object(), "application/x-npy", None, {}, 400, "UserError", "holds Python objects",
                 id="npy-object-dtype-never-unpickled"),
    pytest.param(b"not an array", "application/x-npy", None, {}, 400, "UserError",
                 "not a readable .npy array", id="npy-garbage"),
    pytest.param(_parquet_strings(), "application/x-parquet", None, {}, 400, "UserError",
                 "these are not: f0 (string)", id="parquet-non-numeric"),
    pytest.param(b"PAR1 garbage", "application/x-parquet", None, {}, 400, "UserError",
                 "not a readable Parquet file", id="parquet-garbage"),
    pytest.param(gzip.compress(b"1,2,3,4,5\n" * 50)[:-9], "text/csv", None, {"Content-Encoding": "gzip"}, 400,
                 "UserError", "gzip body is cut short", id="truncated-gzip"),
    pytest.param(b"1,2,3,4,5 not gzip", "text/csv", None, {"Content-Encoding": "gzip"}, 400, "UserError",
                 "not valid gzip data", id="corrupt-gzip"),
    pytest.param(b"1,2,3,4,5", "text/csv", None, {CUSTOM_ATTRIBUTES: "models=randomforest"}, 400, "UserError",
                 "asks for models ['randomforest']", id="unknown-model-in-custom-attributes"),
]


@pytest.mark.parametrize(("body", "content_type", "accept", "headers", "status", "error", "message"),
                         BAD_REQUESTS)
def test_bad_request_gets_a_4xx_json_error_naming_the_problem_and_the_server_stays_healthy(
    server: Server, body: bytes, content_type: str | None, accept: str | None, headers: dict[str, str],
    status: int, error: str, message: str
) -> None:
    response = server.post(body, content_type=content_type, accept=accept, headers=headers)
    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["error"] == error
    assert message in document["message"]
    assert "Traceback" not in document["message"]
    assert server.get("/ping").status == 200


def test_a_gzip_bomb_gets_413_without_inflating_it(server: Server) -> None:
    bomb = gzip.compress(b"1,2,3,4,5\n" * (6 * 1024 * 1024))  # 60 MiB of CSV in about 120 KiB
    assert len(bomb) < 200_000
    response = server.post(bomb, headers={"Content-Encoding": "gzip"})
    assert response.status == 413
    assert response.json() == {"error": "PayloadTooLargeError",
                               "message": "The gzip body inflates to more than the "
                               "6 MiB payload limit; split it into smaller requests."}
    assert server.get("/ping").status == 200


def test_random_bytes_of_every_content_type_never_get_a_5xx(server: Server) -> None:
    rng = np.random.default_rng(5)
    bodies = [rng.bytes(int(n)) for n in rng.integers(1, 400, size=12)]
    bodies += [b"\x93NUMPY" + rng.bytes(60), b"PAR1" + rng.bytes(60) + b"PAR1", b"\x1f\x8b" + rng.bytes(30)]
    for content_type in ("text/csv", "application/json", "application/jsonlines", "application/x-npy",
                         "application/x-parquet"):
        for body in bodies:
            for headers in ({}, {"Content-Encoding": "gzip"}):
                response = server.post(body, content_type=content_type, headers=headers)
                assert 400 <= response.status < 500, (content_type, body, response.body)
    assert server.get("/ping").status == 200


def test_unknown_paths_and_methods_get_json_404_and_405(server: Server) -> None:
    assert server.get("/nope").status == 404
    assert server.get("/nope").json()["error"] == "NotFound"
    wrong_method = server.get("/invocations")
    assert wrong_method.status == 405
    assert wrong_method.json() == {"error": "MethodNotAllowed", "message": "/invocations answers POST."}
    assert wrong_method.headers["Allow"] == "POST"
    assert server.post(b"1", content_type="text/csv", headers={}).status != 405
    assert http("POST", server.url + "/ping", b"").status == 405


# -- server settings -------------------------------------------------------------------------------------


def test_ping_answers_200_with_the_model_loaded(server: Server) -> None:
    assert server.get("/ping").status == 200


def test_execution_parameters_describe_batch_transform(server: Server) -> None:
    response = server.get("/execution-parameters")
    assert response.status == 200
    assert response.json() == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD",
                               "MaxPayloadInMB": 6}


def test_the_model_is_loaded_once_before_the_workers_fork_and_each_worker_runs_one_thread(
    server: Server, tt: TrainedTree
) -> None:
    for _ in range(4):
        assert server.post(csv_body(tt.X[:50])).status == 200
    workers = worker_pids(server)
    assert len(workers) == 2
    assert [thread_count(pid) for pid in workers] == [1, 1]
    assert server.log().count("Model loaded from") == 1
    for library in tt.ensemble.weights:
        assert f"{library} (folds merged into one model)" in server.log()
    assert f"Library calls per prediction: {len(tt.ensemble.weights)}." in server.log()


def test_the_server_does_not_load_scikit_learn_which_serving_never_uses(server: Server) -> None:
    for pid in [server.process.pid, *worker_pids(server)]:
        assert "sklearn" not in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(available_cpus() < 2, reason="needs two usable cores to give one worker two threads")
def test_a_single_worker_predicts_on_every_usable_core_and_answers_what_two_workers_answer(
    server: Server, tt: TrainedTree
) -> None:
    body = csv_body(tt.X)
    expected = server.post(body).body
    with serving_with(tt.tree, {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}) as single:
        answer = single.post(body)
        (worker,) = worker_pids(single)
        threads = thread_count(worker)
        log = single.log()
    assert answer.status == 200
    assert answer.body == expected
    assert f"{available_cpus()} library thread(s) per worker ({available_cpus()} usable cores" in log
    assert threads > 1  # the libraries' thread pools: a worker of a two-worker server runs one thread


def test_the_log_names_every_setting_and_the_variable_that_sets_it(server: Server) -> None:
    log = server.log()
    assert "2 workers (SAGEMAKER_MODEL_SERVER_WORKERS)" in log
    assert "timeout 30 s (SAGEMAKER_MODEL_SERVER_TIMEOUT)" in log
    assert f"port {server.url.rsplit(':', 1)[1]} (SAGEMAKER_BIND_TO_PORT)" in log
    assert f"{max(1, available_cpus() // 2)} library thread(s) per worker" in log


def test_the_access_log_has_a_line_per_request_but_none_for_ping(server: Server, tt: TrainedTree) -> None:
    for _ in range(3):
        assert server.get("/ping").status == 200
    assert server.post(csv_body(tt.X[:1]), headers={"X-Mark": "1"}).status == 200
    deadline = time.monotonic() + 10
    while '"POST /invocations HTTP/1.1" 200' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.log()
    assert '"POST /invocations HTTP/1.1" 200' in log
    assert '"GET /execution-parameters HTTP/1.1" 200' in log or "execution-parameters" not in log
    assert "/ping" not in log


def test_no_control_socket_is_created(server: Server, home: Path) -> None:
    assert not any(home.rglob("*.ctl"))
    assert not (home / ".gunicorn").exists()


def test_no_request_in_this_module_killed_a_worker(server: Server) -> None:
    now = worker_pids(server)
    commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for pid in now}
    assert now == server.first_workers, (commands, server.log()[-3000:])  # type: ignore[attr-defined]
    assert "Worker exiting" not in server.log() and "WORKER TIMEOUT" not in server.log()


# -- shutdown and broken models --------------------------------------------------------------------------


def test_sigterm_lets_a_request_in_flight_finish_and_exits_zero(tt: TrainedTree) -> None:
    server = start_server(tt.tree)
    wait_until_healthy(server)
    body = csv_body(tt.X[:50])
    head = (f"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body[:-1])  # a worker accepts the request and waits for its last byte
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        sock.sendall(body[-1:])
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    served = [float(line) for line in rest.partition(b"\r\n\r\n")[2].decode().splitlines()]
    assert_served(served, tt.ensemble.predict(tt.X[:50]))
    assert server.process.wait(timeout=30) == 0


@pytest.mark.parametrize("damage", ["remove-manifest", "corrupt-model-file", "wrong-schema-version"])
def test_broken_model_directory_never_reports_healthy_and_logs_why(
    tt: TrainedTree, tmp_path: Path, damage: str
) -> None:
    tree = OptMl(tmp_path / "opt_ml")
    shutil.copytree(tt.tree.base, tree.base)
    manifest_path = tree.model_dir / "manifest.json"
    if damage == "remove-manifest":
        manifest_path.unlink()
        expected = "has no manifest.json"
    elif damage == "corrupt-model-file":
        listed = json.loads(manifest_path.read_text())["libraries"]
        relative = next(iter(listed.values()))["folds"][1]["file"]
        model_file = tree.model_dir / relative
        data = model_file.read_bytes()
        model_file.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
        expected = f"{relative} does not match its checksum"
    else:
        manifest = json.loads(manifest_path.read_text())
        manifest["schema_version"] = 99
        manifest_path.write_text(json.dumps(manifest))
        expected = "schema_version 99"
    server = start_server(tree)
    code = exit_code_of_refused_start(server)
    assert code != 0
    log = server.log()
    assert "cannot be served" in log
    assert expected in log

