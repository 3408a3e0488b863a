"""Blend weights learned from out-of-fold predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ensemble_byoc.bundle.ensemble import blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.blending import BLEND_METHODS, fit_blend


def rmse(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - prediction) ** 2)))


def oof_predictions(seed: int, n: int = 300) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    shared = rng.normal(scale=0.5, size=n)
    return {
        "catboost": y + shared * 0.6 + rng.normal(scale=0.4, size=n),
        "lightgbm": y + shared * 0.6 + rng.normal(scale=0.5, size=n),
        "xgboost": y - shared * 0.4 + rng.normal(scale=0.8, size=n),
    }, y


def test_mean_blend_weighs_every_library_the_same_when_that_helps() -> None:
    oof, y = oof_predictions(0)
    result = fit_blend("mean", oof, y)
    if result.fallback is None:
        assert result.weights == {lib: 1 / 3 for lib in oof}
        assert result.score == pytest.approx(rmse(y, blend(oof, result.weights)))


@pytest.mark.parametrize("method", BLEND_METHODS)
@pytest.mark.parametrize("seed", range(5))
def test_every_blend_is_never_worse_than_the_best_single_library_out_of_fold(method: str, seed: int) -> None:
    oof, y = oof_predictions(seed)
    result = fit_blend(method, oof, y, seed=seed)
    best_single = min(rmse(y, prediction) for prediction in oof.values())
    assert result.score <= best_single + 1e-12
    assert all(w >= 0 for w in result.weights.values())
    assert sum(result.weights.values()) > 0


@pytest.mark.parametrize("seed", range(3))
def test_weighted_blend_weights_are_selection_counts_that_sum_to_one_and_beat_the_mean(seed: int) -> None:
    oof, y = oof_predictions(seed)
    weighted = fit_blend("weighted", oof, y)
    assert sum(weighted.weights.values()) == pytest.approx(1.0)
    assert weighted.score <= rmse(y, blend(oof, {lib: 1 / 3 for lib in oof})) + 1e-12
    assert weighted.score == pytest.approx(rmse(y, blend(oof, weighted.weights)))


def test_weighted_blend_gives_all_weight_to_a_perfect_library() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    oof = {"catboost": y + rng.normal(size=200), "xgboost": y.copy(), "lightgbm": y + 2.0}
    result = fit_blend("weighted", oof, y)
    assert result.weights == {"catboost": 0.0, "xgboost": 1.0, "lightgbm": 0.0}
    assert result.score == 0.0


def test_stack_reports_its_cross_validated_score_not_its_fit_on_all_rows() -> None:
    oof, y = oof_predictions(2)
    result = fit_blend("stack", oof, y)
    in_sample = rmse(y, blend(oof, result.weights))
    if result.fallback is None:
        assert result.score >= in_sample - 1e-12


def test_a_blend_worse_than_the_best_library_falls_back_to_that_library_and_says_so() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    oof = {"catboost": y + rng.normal(scale=0.1, size=200), "xgboost": y + 5.0, "lightgbm": y + 4.9}
    result = fit_blend("mean", oof, y)
    mean_score = rmse(y, blend(oof, {lib: 1 / 3 for lib in oof}))
    assert mean_score > rmse(y, oof["catboost"])
    assert result.fallback == "catboost"
    assert result.weights == {"catboost": 1.0, "xgboost": 0.0, "lightgbm": 0.0}
    assert "fell back to catboost alone" in result.describe()


def test_unknown_blend_method_is_a_user_error() -> None:
    oof, y = oof_predictions(0)
    with pytest.raises(UserError, match="Unknown blend method 'median'; choose one of mean, weighted, stack"):
        fit_blend("median", oof, y)


def test_a_regression_stack_on_mae_keeps_unnormalised_weights_as_on_rmse() -> None:
    from ensemble_byoc.training.scores import REGRESSION, get_metric

    rng = np.random.default_rng(11)
    y = rng.normal(100.0, 10.0, size=400)
    oof = {"catboost": y / 2 + rng.normal(0, 1, 400), "xgboost": y / 2 + rng.normal(0, 1, 400)}
    on_rmse = fit_blend("stack", oof, y, get_metric(REGRESSION, "rmse"))
    on_mae = fit_blend("stack", oof, y, get_metric(REGRESSION, "mae"))
    assert sum(on_mae.weights.values()) == pytest.approx(sum(on_rmse.weights.values()), rel=1e-6)
    assert sum(on_mae.weights.values()) > 1.5  # each member predicts half the label: the stack doubles them
