"""A unit's model is made in one place (``units.fit_model``) and its result built in one place
(``UnitResult.scored``), whichever runner trains it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.models import model_from_bytes
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.units import TrainingUnit, UnitResult, fit_unit, make_folds

RMSE = get_metric("regression", "rmse")
PARAMS = TrainConfig.from_hyperparameters({"num_round": "30", "early_stopping_rounds": "5"}).booster_params()


@pytest.fixture(scope="module")
def data() -> Dataset:
    X, y = make_regression(n_rows=120)
    return Dataset(X=X, y=y, feature_names=tuple(f"f{i}" for i in range(5)), target_name="label")


@pytest.mark.parametrize("library", ["catboost", "lightgbm", "xgboost"])
def test_a_unit_is_scored_on_its_folds_held_out_rows_with_the_models_best_iteration(
    data: Dataset, library: str
) -> None:
    fold = make_folds(data.n_rows, 3, 0)[2]
    result = fit_unit(TrainingUnit(library, 2), data, fold, PARAMS, {}, 1, metric=RMSE)
    np.testing.assert_array_equal(result.valid_rows, fold.valid_rows)
    np.testing.assert_array_equal(result.oof_prediction, result.model.predict(data.X[fold.valid_rows]))
    assert result.score == RMSE.score(data.y[fold.valid_rows], result.oof_prediction)
    assert result.best_iteration == result.model.best_iteration_ > 0


def test_a_recorded_best_iteration_is_kept_instead_of_the_models_own(data: Dataset) -> None:
    fold = make_folds(data.n_rows, 3, 0)[0]
    fitted = fit_unit(TrainingUnit("xgboost", 0), data, fold, PARAMS, {}, 1, metric=RMSE)
    recorded = UnitResult.scored(fitted.unit, fitted.model, fold, fitted.oof_prediction, data.y, RMSE, 1.5,
                                 best_iteration=fitted.best_iteration + 7)
    assert recorded.best_iteration == fitted.best_iteration + 7
    assert (recorded.score, recorded.seconds) == (fitted.score, 1.5)


@pytest.mark.parametrize("library", ["catboost", "lightgbm", "xgboost"])
def test_a_sharded_hosts_fit_makes_the_model_fit_unit_makes_from_the_same_rows(
    data: Dataset, library: str
) -> None:
    pytest.importorskip("distributed")
    from ensemble_byoc.training.multihost.sharded import _fit_on_host

    fold = make_folds(data.n_rows, 3, 0)[1]
    split = {"X": data.X[fold.train_rows], "y": data.y[fold.train_rows], "X_valid": data.X[fold.valid_rows],
             "y_valid": data.y[fold.valid_rows]}
    blob = _fit_on_host(library, PARAMS, {}, split, data.feature_names, data.categorical_indices,
                        lambda: False)
    on_host = model_from_bytes(library, blob, 1)
    here = fit_unit(TrainingUnit(library, 1), data, fold, PARAMS, {}, 1, metric=RMSE)
    assert on_host.best_iteration_ == here.best_iteration
    np.testing.assert_allclose(on_host.predict(data.X), here.model.predict(data.X), rtol=1e-6)


def test_a_folds_rows_taken_as_float32_are_the_float64_rows_rounded_in_any_block_size(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from ensemble_byoc.training import units

    X = np.random.default_rng(0).normal(scale=1e4, size=(1000, 3))
    X[::7, 1] = np.nan
    rows = np.random.default_rng(1).permutation(1000)[:777]
    monkeypatch.setattr(units, "_ROWS_PER_BLOCK", 100)  # several blocks and a partial last one
    taken = units.rows_of(X, rows, np.float32)
    assert taken.dtype == np.float32
    np.testing.assert_array_equal(taken, X[rows].astype(np.float32))
    assert units.rows_of(X, rows, np.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_folds_rows_taken_column_by_column_hold_the_same_values_in_column_major_order(
    monkeypatch: pytest.MonkeyPatch, dtype: type[np.floating[Any]]
) -> None:
    from ensemble_byoc.training import units

    X = np.random.default_rng(0).normal(scale=1e4, size=(1000, 3))
    X[::7, 1] = np.nan
    rows = np.random.default_rng(1).permutation(1000)[:777]
    monkeypatch.setattr(units, "_ROWS_PER_BLOCK", 100)
    taken = units.rows_of(X, rows, dtype, "F")
    assert taken.flags.f_contiguous and taken.dtype == dtype
    np.testing.assert_array_equal(taken, X[rows].astype(dtype))
