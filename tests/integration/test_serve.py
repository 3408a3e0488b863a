"""`container/serve` as SageMaker runs it: the real gunicorn server, spoken to over HTTP."""

from __future__ import annotations

import io
import json
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import (FAST_HYPERPARAMETERS, OptMl, Server, make_regression, serving, start_server,
                      wait_until_healthy)

from ensemble_byoc.config import TrainConfig
from ensemble_byoc.paths import SageMakerPaths
from ensemble_byoc.training import TrainingResult, run_training


@pytest.fixture(scope="module")
def trained_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[OptMl, TrainingResult, np.ndarray]:
    tree = OptMl(tmp_path_factory.mktemp("serve") / "opt_ml")
    X, y = make_regression()
    tree.add_training_csv(X, y)
    result = run_training(
        SageMakerPaths(tree.base),
        TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS),
        input_data_config={"train": {"ContentType": "text/csv"}},
        n_threads=1,
        metric_stream=io.StringIO(),
    )
    return tree, result, X


@pytest.fixture(scope="module")
def server(trained_tree: tuple[OptMl, TrainingResult, np.ndarray]) -> Iterator[Server]:
    with serving(trained_tree[0]) as running:
        yield running


def csv_body(rows: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def test_served_csv_predictions_equal_the_in_process_ensemble(server: Server, trained_tree) -> None:
    _, result, X = trained_tree
    response = server.post(csv_body(X[:25]))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    served = np.array([float(line) for line in response.body.decode().splitlines()])
    np.testing.assert_array_equal(served, result.ensemble.predict(X[:25]))


def test_served_json_predictions_equal_the_in_process_ensemble(server: Server, trained_tree) -> None:
    _, result, X = trained_tree
    body = json.dumps({"instances": X[:10].tolist()}).encode()
    response = server.post(body, content_type="application/json", accept="application/json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    scores = [p["score"] for p in response.json()["predictions"]]
    np.testing.assert_array_equal(np.array(scores), result.ensemble.predict(X[:10]))


def test_json_records_are_matched_to_features_by_name_in_any_order(server: Server, trained_tree) -> None:
    _, result, X = trained_tree
    names = result.ensemble.feature_names
    records = [{name: float(value) for name, value in reversed(list(zip(names, row)))} for row in X[:3]]
    response = server.post(json.dumps({"instances": records}).encode(), content_type="application/json",
                           accept="application/json")
    assert response.status == 200
    np.testing.assert_array_equal([p["score"] for p in response.json()["predictions"]], result.ensemble.predict(X[:3]))


def test_csv_with_charset_parameter_and_no_trailing_newline_is_accepted(server: Server, trained_tree) -> None:
    _, result, X = trained_tree
    response = server.post(csv_body(X[:2]).rstrip(b"\n"), content_type="text/csv; charset=utf-8")
    assert response.status == 200
    assert len(response.body.decode().splitlines()) == 2


def test_ping_answers_200_with_the_model_loaded(server: Server) -> None:
    assert server.get("/ping").status == 200


def test_execution_parameters_describe_batch_transform(server: Server) -> None:
    response = server.get("/execution-parameters")
    assert response.status == 200
    assert response.json() == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


BAD_REQUESTS = [
    pytest.param(b"1,2,3", "text/xml", None, 415, "UnsupportedMediaTypeError", "send one of text/csv, application/json",
                 id="unsupported-content-type"),
    pytest.param(b"1,2,3", "application/x-www-form-urlencoded", None, 415, "UnsupportedMediaTypeError",
                 "'application/x-www-form-urlencoded' is not supported", id="form-content-type-curl-sends-by-default"),
    pytest.param(b"1,2,3", "text/csv; charset=latin-1", None, 415, "UnsupportedMediaTypeError", "charset",
                 id="unsupported-charset"),
    pytest.param(b"1,2,3,4,5", "text/csv", "application/xml", 406, "NotAcceptableError", "ask for one of",
                 id="unsupported-accept"),
    pytest.param(b"1,2,3", "text/csv", None, 400, "UserError", "Expected 5 features per row, got 3",
                 id="too-few-features"),
    pytest.param(b"9,1,2,3,4,5", "text/csv", None, 400, "UserError", "Rows must not include the label",
                 id="label-included"),
    pytest.param(b"1,2,x,4,5", "text/csv", None, 400, "UserError", "Row 1, column 3: 'x' is not a number",
                 id="non-numeric-value"),
    pytest.param(b"1,2,3,4,5\n1,2\n", "text/csv", None, 400, "UserError", "Row 2 has 2 values", id="ragged-rows"),
    pytest.param(b"", "text/csv", None, 400, "UserError", "empty", id="empty-body"),
    pytest.param(b"{not json", "application/json", None, 400, "UserError", "not valid JSON", id="malformed-json"),
    pytest.param(b'{"rows": []}', "application/json", None, 400, "UserError", '"instances"', id="json-without-instances"),
    pytest.param(b'[{"f0": 1}]', "application/json", None, 400, "UserError", "lacks features", id="record-missing-names"),
    pytest.param(b"\xff\xfe1,2", "text/csv", None, 400, "UserError", "not UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("body", "content_type", "accept", "status", "error", "message"), BAD_REQUESTS)
def test_bad_request_gets_a_4xx_json_error_naming_the_problem_and_the_server_stays_healthy(
    server: Server, body: bytes, content_type: str | None, accept: str | None, status: int, error: str, message: str
) -> None:
    response = server.post(body, content_type=content_type, accept=accept)
    assert response.status == status
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["error"] == error
    assert message in document["message"]
    assert "Traceback" not in document["message"]
    assert server.get("/ping").status == 200


def test_body_over_the_payload_limit_gets_413(trained_tree) -> None:
    tree = trained_tree[0]
    with serving(tree, SAGEMAKER_MAX_PAYLOAD_IN_MB="1") as small:
        response = small.post(b"1,2,3,4,5\n" * 120_000)
        assert response.status == 413
        assert response.json()["error"] == "PayloadTooLargeError"
        assert "1 MiB" in response.json()["message"]
        assert small.get("/ping").status == 200


def test_unknown_paths_and_methods_get_json_404_and_405(server: Server) -> None:
    assert server.get("/nope").status == 404
    assert server.get("/invocations").status == 405


def test_sigterm_lets_a_request_in_flight_finish_and_exits_zero(trained_tree) -> None:
    tree, result, X = trained_tree
    server = start_server(tree)
    wait_until_healthy(server)
    body = csv_body(X[:50])
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
    np.testing.assert_array_equal(served, result.ensemble.predict(X[:50]))
    assert server.process.wait(timeout=30) == 0


@pytest.mark.parametrize("damage", ["remove-manifest", "corrupt-model-file", "wrong-schema-version"])
def test_broken_model_directory_never_reports_healthy_and_logs_why(
    trained_tree, tmp_path: Path, damage: str
) -> None:
    source = trained_tree[0]
    tree = OptMl(tmp_path / "opt_ml")
    shutil.copytree(source.base, tree.base)
    manifest_path = tree.model_dir / "manifest.json"
    if damage == "remove-manifest":
        manifest_path.unlink()
        expected = "has no manifest.json"
    elif damage == "corrupt-model-file":
        model_file = tree.model_dir / "xgboost" / "fold-1.ubj"
        model_file.write_bytes(model_file.read_bytes()[:-1] + b"\x00")
        expected = "xgboost/fold-1.ubj does not match its checksum"
    else:
        manifest = json.loads(manifest_path.read_text())
        manifest["schema_version"] = 99
        manifest_path.write_text(json.dumps(manifest))
        expected = "schema_version 99"
    server = start_server(tree)
    try:
        code = server.process.wait(timeout=60)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert code != 0
    log = server.log()
    assert "cannot be served" in log
    assert expected in log
