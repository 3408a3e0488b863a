"""The WSGI app without a server (Flask's test client): the routes' answers, and what a bug of ours looks
like."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from flask import Flask

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.serving.app import create_app
from ensemble_byoc.serving.settings import ServeSettings

FEATURES = ("a", "b")


class ConstantModel:
    """A fitted model of the protocol that predicts 2.0 for every row."""

    best_iteration_ = 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], 2.0)


class BrokenModel(ConstantModel):
    """A fitted model whose library fails while predicting, as a bug would."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise RuntimeError("the library crashed at /src/predictor.cc:42")


def app_with(model: object) -> Flask:
    ensemble = Ensemble(feature_names=FEATURES, members={"lib": [model]}, weights={"lib": 1.0})  # type: ignore[list-item]
    app = create_app(ensemble, ServeSettings())
    app.testing = False
    return app


def test_ping_and_invocations_answer_without_a_server() -> None:
    client = app_with(ConstantModel()).test_client()
    assert client.get("/ping").status_code == 200
    answer = client.post("/invocations", data=b"1,2\n3,4\n", content_type="text/csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv"
    assert answer.data == b"2.0\n2.0\n"


def test_a_bug_of_ours_is_a_500_without_details_and_its_traceback_is_logged(
    caplog: pytest.LogCaptureFixture
) -> None:
    client = app_with(BrokenModel()).test_client()
    with caplog.at_level(logging.ERROR, logger="ensemble_byoc"):
        answer = client.post("/invocations", data=b"1,2\n", content_type="text/csv")
    assert answer.status_code == 500
    assert answer.get_json() == {"error": "InternalError",
                                 "message": "The server failed to answer this request."}
    assert "predictor.cc" not in answer.get_data(as_text=True)
    assert "Unexpected error while answering POST /invocations" in caplog.text
    assert "RuntimeError: the library crashed" in caplog.text


def test_routes_answer_json_errors_for_wrong_methods_and_unknown_paths() -> None:
    client = app_with(ConstantModel()).test_client()
    assert client.get("/invocations").status_code == 405
    assert client.get("/invocations").get_json()["error"] == "MethodNotAllowed"
    assert client.delete("/ping").status_code == 405
    assert client.get("/nope").get_json()["error"] == "NotFound"
    assert client.post("/execution-parameters").status_code == 405
    assert client.get("/execution-parameters").get_json()["BatchStrategy"] == "MULTI_RECORD"
