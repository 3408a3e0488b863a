"""Blend strategies, presets, the portfolio, refit_full and the report, through the real `container/train`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, metric_lines, run_train

from ensemble_byoc.bundle.artifacts import load_bundle


def train(tree: OptMl, **hyperparameters: str) -> tuple[dict, str, str]:
    X, y = make_regression()
    tree.add_training_csv(X, y)
    tree.hyperparameters({**FAST_HYPERPARAMETERS, **hyperparameters})
    done = run_train(tree)
    assert done.returncode == 0, done.stderr
    return json.loads((tree.model_dir / "manifest.json").read_text()), done.stdout, done.stderr


@pytest.mark.parametrize("method", ["mean", "weighted", "stack"])
def test_every_blend_is_at_least_as_good_as_the_best_library_out_of_fold(opt_ml: OptMl, method: str) -> None:
    manifest, stdout, _ = train(opt_ml, blend=method)
    cv = manifest["cv"]
    assert manifest["blend"]["method"] == method
    assert cv["score"] <= min(cv["library_scores"].values()) + 1e-9
    assert metric_lines(stdout, "validation-rmse")[-1] == pytest.approx(cv["score"], abs=1e-6)
    assert set(manifest["blend"]["weights"]) == set(manifest["libraries"])


def test_presets_set_defaults_and_any_hyperparameter_given_wins(opt_ml: OptMl) -> None:
    manifest, _, stderr = train(opt_ml, presets="fast", k_fold="4")
    assert manifest["config"]["presets"] == "fast"
    assert manifest["config"]["k_fold"] == 4
    assert manifest["config"]["early_stopping_rounds"] == 10  # given by the test, not the preset's 30
    assert "Plan: 12 units" in stderr


def test_best_preset_with_a_portfolio_of_two_trains_two_members_per_library(opt_ml: OptMl) -> None:
    manifest, stdout, stderr = train(opt_ml, presets="best", k_fold="3", num_round="40",
                                     early_stopping_rounds="5", portfolio_size="2")
    assert manifest["config"]["portfolio_size"] == 2
    members = set(manifest["cv"]["library_scores"])
    assert members == {"catboost", "catboost-2", "lightgbm", "lightgbm-2", "xgboost", "xgboost-2"}
    assert "Plan: 18 units" in stderr
    assert metric_lines(stdout, "validation-rmse-xgboost-2")
    for name, entry in manifest["libraries"].items():
        assert entry["library"] == name.split("-")[0]
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    assert np.isfinite(ensemble.predict(make_regression()[0][:5])).all()


def test_refit_full_serves_one_model_per_library_trained_on_every_row(opt_ml: OptMl) -> None:
    manifest, _, stderr = train(opt_ml, refit_full="true", blend="mean")
    assert manifest["served_form"] == "refit_full"
    for name, entry in manifest["libraries"].items():
        assert [fold["file"].split("/")[1].split(".")[0] for fold in entry["folds"]] == ["full-0"]
        assert f"refit_full: {name} on all 200 rows" in stderr
    X, _ = make_regression()
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    assert all(len(models) == 1 for models in ensemble.members.values())
    assert np.isfinite(ensemble.predict(X)).all()


def test_report_leaderboard_and_feature_importance_land_in_output_data(opt_ml: OptMl) -> None:
    manifest, _, _ = train(opt_ml)
    data = opt_ml.output_data
    board = json.loads((data / "leaderboard.json").read_text())
    assert {row["model"] for row in board} == {"catboost", "lightgbm", "xgboost", "ensemble"}
    assert [row["rmse"] for row in board] == sorted(row["rmse"] for row in board)
    importance = json.loads((data / "feature_importance.json").read_text())
    assert set(importance["ensemble"]) == {f"f{i}" for i in range(5)}
    assert max(importance["ensemble"], key=importance["ensemble"].get) == "f0"  # y = 3 x0 + ...
    assert sum(importance["ensemble"].values()) == pytest.approx(1.0)
    assert json.loads((data / "blend_weights.json").read_text()) == manifest["cv"]["blend"]["weights"]
    report = (data / "report.html").read_text()
    assert report.startswith("<!doctype html>")
    assert report.count("<svg") == 4  # prediction vs actual, residuals, importance, weights
    assert "Leaderboard" in report
