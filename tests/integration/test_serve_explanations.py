"""Explanations over HTTP (``X-Amzn-SageMaker-Custom-Attributes: explain=shap``): the real `container/serve`
answers each row's SHAP values and base value next to its prediction, in JSON, JSON Lines and CSV, in batch
transform and on a multi-model endpoint; they add up to the served prediction (regression) or to the
blended margins (classification). One server per kind of model, each started once for the module."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import (
    FAST_HYPERPARAMETERS,
    OptMl,
    Server,
    TrainedTree,
    csv_body,
    http,
    make_regression,
    serving_with,
    write_csv,
)

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.serving.handlers import model_fn
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
SHAP = {ATTRIBUTES: "explain=shap"}
CAP = 40
ONE_WORKER = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}


def close(got: Any, expected: Any) -> None:
    """Equal within 1e-6 relative to the largest magnitude (at least 1)."""
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=0.0, atol=1e-6 * scale)


def lines(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.decode().splitlines()]


@pytest.fixture(scope="module")
def regressor(trained_tree_for_serving: TrainedTree) -> Iterator[Server]:
    env = {**ONE_WORKER, "ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS": str(CAP)}
    with serving_with(trained_tree_for_serving.tree, env) as running:
        yield running


@pytest.fixture(scope="module")
def batch_server(trained_tree_for_serving: TrainedTree) -> Iterator[Server]:
    env = {**ONE_WORKER, "SAGEMAKER_BATCH": "true", "ENSEMBLE_BYOC_EXPLAIN": "shap"}
    with serving_with(trained_tree_for_serving.tree, env) as running:
        yield running


def test_regression_values_and_base_value_sum_to_the_served_score(
    regressor: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:CAP]
    response = regressor.post(csv_body(X), accept="application/json", headers=SHAP)
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    names = list(model_fn(trained_tree_for_serving.tree.model_dir).feature_names)
    assert [list(p) for p in predictions] == [["score", "explanations", "base_value"]] * CAP
    assert all(list(p["explanations"]) == names for p in predictions)
    totals = [sum(p["explanations"].values()) + p["base_value"] for p in predictions]
    close(totals, [p["score"] for p in predictions])


def test_without_the_attribute_the_answer_is_the_known_encoding_byte_for_byte(
    regressor: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:9]
    scores = model_fn(trained_tree_for_serving.tree.model_dir).predict(X).tolist()
    assert regressor.post(csv_body(X)).body == "".join(f"{v!r}\n" for v in scores).encode()
    as_json = regressor.post(csv_body(X), accept="application/json").body
    assert as_json == json.dumps({"predictions": [{"score": v} for v in scores]}).encode()
    switched_off = regressor.post(csv_body(X), headers={ATTRIBUTES: "explain=none"}).body
    assert switched_off == "".join(f"{v!r}\n" for v in scores).encode()


def test_csv_answers_the_score_then_one_column_per_feature_then_the_base_value(
    regressor: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:6]
    plain = [float(v) for v in regressor.post(csv_body(X)).body.decode().split()]
    rows = [[float(v) for v in line.split(",")]
            for line in regressor.post(csv_body(X), headers=SHAP).body.decode().splitlines()]
    assert [len(row) for row in rows] == [1 + X.shape[1] + 1] * 6
    assert [row[0] for row in rows] == plain
    close([sum(row[1:]) for row in rows], plain)


def test_json_lines_and_models_all_combine_with_explanations(
    regressor: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:3]
    response = regressor.post(csv_body(X), accept="application/jsonlines",
                              headers={ATTRIBUTES: "models=all; explain=SHAP"})
    assert response.status == 200, response.body
    answers = lines(response.body)
    libraries = list(model_fn(trained_tree_for_serving.tree.model_dir).weights)
    assert [list(a) for a in answers] == [["score", *libraries, "explanations", "base_value"]] * 3
    close([sum(a["explanations"].values()) + a["base_value"] for a in answers], [a["score"] for a in answers])


def test_an_unknown_explain_value_is_a_400_naming_it_and_the_choices(regressor: Server) -> None:
    response = regressor.post(b"1,2,3,4,5\n", headers={ATTRIBUTES: "explain=bogus"})
    assert response.status == 400
    assert response.json()["message"] == (
        "X-Amzn-SageMaker-Custom-Attributes explain == 'bogus', must be one of shap, none.")


def test_explaining_more_rows_than_the_cap_is_a_413_naming_the_cap_the_rows_and_the_variable(
    regressor: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[: CAP + 1]
    response = regressor.post(csv_body(X), headers=SHAP)
    assert response.status == 413
    assert response.json()["error"] == "TooManyRowsToExplainError"
    message = response.json()["message"]
    assert f"explain {CAP + 1} rows" in message and f"at most {CAP} rows" in message
    assert "ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS" in message
    assert regressor.post(csv_body(X)).status == 200  # the cap is on explanations only


def test_batch_transform_explains_by_default_and_a_blank_line_gets_no_explanation(
    batch_server: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:3]
    body = csv_body(X[:2]) + b"\n" + csv_body(X[2:])
    answers = lines(batch_server.post(body, accept="application/jsonlines").body)
    assert [a["explanations"] is None for a in answers] == [False, False, True, False]
    assert answers[2] == {"score": None, "explanations": None, "base_value": None}
    present = [a for a in answers if a["score"] is not None]
    close([sum(a["explanations"].values()) + a["base_value"] for a in present], [a["score"] for a in present])
    csv_lines = batch_server.post(body).body.decode().splitlines()
    assert len(csv_lines) == 4 and csv_lines[2] == "," * (1 + X.shape[1])
    for accept in ("application/jsonlines", "text/csv", "application/json"):  # before: CSV answered 500
        only_blank = batch_server.post(b"\n", accept=accept)
        assert (only_blank.status, only_blank.body) == (200, b""), accept


def test_explain_none_turns_the_default_off_with_the_plain_batch_answer(
    batch_server: Server, trained_tree_for_serving: TrainedTree
) -> None:
    X = trained_tree_for_serving.X[:4]
    scores = model_fn(trained_tree_for_serving.tree.model_dir).predict(X).tolist()
    response = batch_server.post(csv_body(X), accept="application/json", headers={ATTRIBUTES: "explain=none"})
    assert response.body == "".join(json.dumps({"score": v}) + "\n" for v in scores).encode()


# -- classification: the values add up to the blended margins ------------------------------------------------


def raw_margins(ensemble: Ensemble, X: np.ndarray) -> np.ndarray:
    """The weighted sum of the members' margins, each the mean of its fold models' raw scores."""
    import xgboost as xgb

    def raw(model: Any) -> np.ndarray:
        booster = model.booster_
        if model.name == "catboost":
            scores = booster.predict(X, prediction_type="RawFormulaVal")
        elif model.name == "lightgbm":
            scores = booster.predict(X, raw_score=True)
        else:
            scores = booster.predict(xgb.DMatrix(X, feature_names=booster.feature_names), output_margin=True)
        return np.asarray(scores, dtype=np.float64)

    return np.asarray(sum(weight * np.mean([raw(m) for m in ensemble.members[name]], axis=0)
                          for name, weight in ensemble.weights.items()))


def train(tree: OptMl, **hyperparameters: str) -> Ensemble:
    run_training(SageMakerPaths(tree.base),
                 TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, **hyperparameters}),
                 input_data_config={"train": {"ContentType": "text/csv"}}, n_threads=1,
                 metric_stream=io.StringIO())
    return model_fn(tree.model_dir)


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Ensemble, list[list[Any]]]]:
    """A binary classifier with a text feature (its first), served by one worker."""
    rng = np.random.default_rng(5)
    colour = rng.choice(["red", "green", "blue"], 240)
    x = rng.normal(size=(240, 2)).round(3)
    label = ((colour == "blue") ^ (x[:, 0] > 0.3)).astype(int)
    rows = [[int(y), c, float(a), float(b)] for y, c, (a, b) in zip(label, colour, x, strict=True)]
    tree = OptMl(tmp_path_factory.mktemp("explain-binary") / "opt_ml")
    write_csv(tree.channel("train") / "data.csv", rows)
    ensemble = train(tree)
    with serving_with(tree, ONE_WORKER) as running:
        yield running, ensemble, [row[1:] for row in rows[:12]]


def test_a_binary_answer_explains_the_log_odds_with_one_value_for_the_text_feature(binary) -> None:
    server, ensemble, rows = binary
    body = "".join(f"{c},{a},{b}\n" for c, a, b in rows).encode()
    response = server.post(body, accept="application/json", headers=SHAP)
    assert response.status == 200, response.body
    predictions = response.json()["predictions"]
    assert [list(p["explanations"]) for p in predictions] == [list(ensemble.feature_names)] * len(rows)
    assert all(isinstance(p["base_value"], float) for p in predictions)
    levels = ensemble.categories[ensemble.feature_names[0]]
    X = np.array([[float(levels.index(c)), a, b] for c, a, b in rows])
    close([sum(p["explanations"].values()) + p["base_value"] for p in predictions], raw_margins(ensemble, X))


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ensemble, np.ndarray]:
    X, _ = make_regression(n_rows=240, n_features=4, seed=11)
    y = np.select([X[:, 0] > 0.5, X[:, 0] < -0.5], [2.0, 0.0], 1.0)
    tree = OptMl(tmp_path_factory.mktemp("explain-multiclass") / "opt_ml")
    tree.add_training_csv(X, y)
    return tree.model_dir, train(tree, problem_type="multiclass"), X[:8]


def test_a_multi_model_endpoint_explains_a_multiclass_model_per_class_summing_to_its_margins(
    tmp_path_factory: pytest.TempPathFactory, multiclass: tuple[Path, Ensemble, np.ndarray]
) -> None:
    model_dir, ensemble, X = multiclass
    empty = OptMl(tmp_path_factory.mktemp("explain-mme") / "opt_ml")
    empty.base.mkdir(parents=True)
    with serving_with(empty, {**ONE_WORKER, "SAGEMAKER_MULTI_MODEL": "true"}) as server:
        load = json.dumps({"model_name": "m", "url": str(model_dir)}).encode()
        loaded = http("POST", server.url + "/models", load, {"Content-Type": "application/json"})
        assert loaded.status == 200, loaded.body
        invoke = server.url + "/models/m/invoke"
        as_json = http("POST", invoke, csv_body(X), {"Content-Type": "text/csv", "Accept": "application/json",
                                                      **SHAP})
        as_csv = http("POST", invoke, csv_body(X), {"Content-Type": "text/csv", **SHAP})
    assert as_json.status == 200, as_json.body
    labels = [str(label) for label in ensemble.classes]
    margins = raw_margins(ensemble, X)
    predictions = as_json.json()["predictions"]
    assert [list(p["explanations"]) for p in predictions] == [labels] * len(X)
    assert [list(p["base_value"]) for p in predictions] == [labels] * len(X)
    for k, label in enumerate(labels):
        assert list(predictions[0]["explanations"][label]) == list(ensemble.feature_names)
        close([sum(p["explanations"][label].values()) + p["base_value"][label] for p in predictions],
              margins[:, k])
    cells = [line.split(",") for line in as_csv.body.decode().splitlines()]
    width = X.shape[1] + 1  # per class: one column per feature, then the base value
    assert {len(row) for row in cells} == {2 + len(labels) * width}  # predicted_label, probability first
    blocks = np.array([[float(v) for v in row[2:]] for row in cells]).reshape(len(X), len(labels), width)
    close(blocks.sum(axis=2), margins)
