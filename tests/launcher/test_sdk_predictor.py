"""The SDK's own predictor path (``Endpoint.invoke`` with its serializers) against our real server.

Between them sits a stand-in for SageMaker's front door on 127.0.0.1: it takes the runtime API's
``POST /endpoints/<name>/invocations`` that boto3 sends and passes body, Content-Type and Accept to
the container's ``/invocations``, as the service does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from conftest import OptMl, Server, make_regression, run_train, serving
from sagemaker.core.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.core.serializers import CSVSerializer, JSONSerializer

from ensemble_byoc.launcher import explanation_table, predict

ENDPOINT = "ensemble-endpoint"
ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
"""The runtime API sends CustomAttributes in this header; the front door passes it on, as SageMaker does."""


def front_door(server: Server) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != f"/endpoints/{ENDPOINT}/invocations":
                self.send_error(404)
                return
            headers = {k: self.headers[k] for k in ("Content-Type", "Accept", ATTRIBUTES) if self.headers[k]}
            answer = server.post(body, content_type=None, headers=headers)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/octet-stream"))
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def endpoint(opt_ml: OptMl, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    assert run_train(opt_ml).returncode == 0
    with serving(opt_ml) as server:
        door = front_door(server)
        thread = threading.Thread(target=door.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{door.server_address[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        try:
            yield server
        finally:
            door.shutdown()
            door.server_close()
            thread.join(timeout=30)


def rows() -> list[list[float]]:
    X, _ = make_regression(n_rows=4, seed=11)
    return X.tolist()


def test_sdk_csv_serializer_and_deserializer_get_one_prediction_per_row(endpoint: Server) -> None:
    expected = endpoint.post(CSVSerializer().serialize(rows()).encode()).body.decode().split()

    answer = predict(
        ENDPOINT,
        rows(),
        serializer=CSVSerializer(),
        deserializer=CSVDeserializer(),
        session=boto3.Session(region_name="us-east-1"),
        region="us-east-1",
    )

    assert answer == [[value] for value in expected]
    assert len(answer) == 4


def test_sdk_json_serializer_and_deserializer_get_scores(endpoint: Server) -> None:
    csv_answer = predict(ENDPOINT, rows(), session=boto3.Session(region_name="us-east-1"), region="us-east-1")

    answer = predict(
        ENDPOINT,
        {"instances": rows()},
        serializer=JSONSerializer(),
        deserializer=JSONDeserializer(),
        session=boto3.Session(region_name="us-east-1"),
        region="us-east-1",
    )

    assert [item["score"] for item in answer["predictions"]] == [float(v) for [v] in csv_answer]


def test_predict_with_explain_gets_contributions_that_add_up_to_each_score_and_prints_them(
    endpoint: Server,
) -> None:
    session = boto3.Session(region_name="us-east-1")
    scores = predict(ENDPOINT, {"instances": rows()}, serializer=JSONSerializer(),
                     deserializer=JSONDeserializer(), session=session, region="us-east-1")

    answer = predict(ENDPOINT, rows(), explain=True, session=session, region="us-east-1")

    served = [item["score"] for item in scores["predictions"]]
    assert [item["score"] for item in answer["predictions"]] == served
    for item in answer["predictions"]:
        assert list(item["explanations"]) == ["f0", "f1", "f2", "f3", "f4"]
        total = sum(item["explanations"].values()) + item["base_value"]
        assert total == pytest.approx(item["score"], rel=1e-6, abs=1e-6)
    table = explanation_table(answer)
    assert table.count("base value") == 4 and "f0" in table
