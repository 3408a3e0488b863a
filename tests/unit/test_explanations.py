"""Explanations: each library's exact tree SHAP values, blended with the ensemble's weights, add up to the
served prediction (regression) or to the weighted sum of the members' margins (classification)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression
from scipy.special import expit

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.bundle.explain import MARGIN, PREDICTION, explain
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import Model
from ensemble_byoc.serving.handlers import model_fn
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training

RELATIVE = 1e-6


def trained(tmp_path: Path, X: np.ndarray, y: np.ndarray, **hyperparameters: str) -> Ensemble:
    tree = OptMl(tmp_path / "opt_ml")
    tree.add_training_csv(X, y)
    run_training(SageMakerPaths(tree.base),
                 TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, **hyperparameters}),
                 input_data_config={"train": {"ContentType": "text/csv"}}, n_threads=1,
                 metric_stream=io.StringIO())
    return model_fn(tree.model_dir)


def assert_adds_up(got: np.ndarray, expected: np.ndarray) -> None:
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(got, expected, rtol=0.0, atol=RELATIVE * scale)


def margin(model: Model, X: np.ndarray) -> np.ndarray:
    """A classifier's raw score, asked of its library directly."""
    booster = model.booster_
    if model.name == "xgboost":
        import xgboost as xgb

        return np.asarray(booster.predict(xgb.DMatrix(X, feature_names=booster.feature_names),
                                          output_margin=True), dtype=np.float64)
    if model.name == "lightgbm":
        return np.asarray(booster.predict(X, raw_score=True), dtype=np.float64)
    return np.asarray(booster.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64)


def blended_margins(ensemble: Ensemble, X: np.ndarray) -> np.ndarray:
    return sum(weight * np.mean([margin(m, X) for m in ensemble.members[member]], axis=0)
               for member, weight in ensemble.weights.items())


def only(ensemble: Ensemble, member: str) -> Ensemble:
    return Ensemble(ensemble.feature_names, {member: ensemble.members[member]}, {member: 1.0},
                    ensemble.problem_type, ensemble.classes, ensemble.categories)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ensemble, np.ndarray]:
    X, y = make_regression(n_rows=300)
    return trained(tmp_path_factory.mktemp("shap-reg"), X, y, blend="weighted"), X


@pytest.mark.parametrize("objective", ["squared_error", "absolute_error", "huber"])
def test_regression_contributions_and_base_value_sum_to_the_served_prediction_for_each_member_and_the_blend(
    tmp_path: Path, objective: str
) -> None:
    X, y = make_regression(n_rows=300)
    ensemble = trained(tmp_path, X, 100.0 + y, blend="weighted", objective=objective)
    rows = np.vstack([X[:50], np.full((1, X.shape[1]), np.nan)])
    for member in ensemble.members:
        alone = only(ensemble, member)
        assert_adds_up(explain(alone, rows).totals[:, 0], alone.predict(rows))
    explanation = explain(ensemble, rows)
    assert explanation.space == PREDICTION and explanation.outputs == ()
    assert explanation.values.shape == (51, 1, 5) and explanation.base_values.shape == (51, 1)
    assert_adds_up(explanation.totals[:, 0], ensemble.predict(rows))


def test_the_strongest_feature_gets_the_largest_mean_contribution(
    regression: tuple[Ensemble, np.ndarray]
) -> None:
    ensemble, X = regression
    mean_abs = np.abs(explain(ensemble, X).values[:, 0, :]).mean(axis=0)
    assert int(np.argmax(mean_abs)) == 0  # y = 3 x0 - 2 x1 x2 + sin(x3) + noise


def test_a_binary_explanation_sums_to_the_weighted_sum_of_the_members_log_odds(tmp_path: Path) -> None:
    X, _ = make_regression(n_rows=300)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float)
    ensemble = trained(tmp_path, X, y, problem_type="binary")
    explanation = explain(ensemble, X[:40])
    assert explanation.space == MARGIN and explanation.values.shape == (40, 1, 5)
    assert_adds_up(explanation.totals[:, 0], blended_margins(ensemble, X[:40]))
    for models in ensemble.members.values():  # each fold's margin is its probability's log-odds
        for model in models:
            np.testing.assert_allclose(expit(margin(model, X[:40])), model.predict(X[:40]), atol=1e-6)


def test_a_multiclass_explanation_has_one_output_per_class_summing_to_the_blended_margins(
    tmp_path: Path
) -> None:
    X, _ = make_regression(n_rows=300)
    y = np.select([X[:, 0] > 0.5, X[:, 0] < -0.5], [2.0, 0.0], 1.0)
    ensemble = trained(tmp_path, X, y, problem_type="multiclass")
    explanation = explain(ensemble, X[:30])
    assert explanation.outputs == ensemble.classes and explanation.values.shape == (30, 3, 5)
    assert_adds_up(explanation.totals, blended_margins(ensemble, X[:30]))
    assert int(np.argmax(np.abs(explanation.values).mean(axis=(0, 1)))) == 0


def test_a_categorical_feature_gets_one_contribution_not_one_per_level(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    color = rng.choice(["red", "green", "blue"], 300)
    x = rng.normal(size=300).round(3)
    label = (np.where(color == "red", 2.0, -1.0) + x + rng.normal(scale=0.3, size=300)).round(3)
    tree = OptMl(tmp_path / "opt_ml")
    tree.channel("train").mkdir(parents=True)
    (tree.channel("train") / "data.csv").write_text(
        "label,color,x\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(label, color, x, strict=True)))
    run_training(SageMakerPaths(tree.base),
                 TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "target": "label"}),
                 input_data_config={}, n_threads=1, metric_stream=io.StringIO())
    ensemble = model_fn(tree.model_dir)
    rows = np.array([[ensemble.categories["color"].index("red"), 0.1],
                     [ensemble.categories["color"].index("blue"), 0.1], [np.nan, np.nan]])
    explanation = explain(ensemble, rows)
    assert explanation.feature_names == ("color", "x") and explanation.values.shape == (3, 1, 2)
    assert_adds_up(explanation.totals[:, 0], ensemble.predict(rows))
    assert explanation.values[0, 0, 0] > 1.0 > explanation.values[1, 0, 0]


def test_no_rows_are_explained_without_calling_a_library(regression: tuple[Ensemble, np.ndarray]) -> None:
    ensemble, X = regression
    explanation = explain(ensemble, X[:0])
    assert explanation.values.shape == (0, 1, X.shape[1]) and explanation.base_values.shape == (0, 1)


def test_a_model_its_library_cannot_explain_is_a_user_error_naming_the_member(tmp_path: Path) -> None:
    # Before: LightGBM's own error for linear trees reached the server as a 500.
    X, y = make_regression(n_rows=200)
    ensemble = trained(tmp_path, X, y, models="lightgbm", lightgbm__linear_tree="true")
    message = "Member 'lightgbm' \\(lightgbm\\) cannot explain its predictions: .*linear"
    with pytest.raises(UserError, match=message):
        explain(ensemble, X[:3])
