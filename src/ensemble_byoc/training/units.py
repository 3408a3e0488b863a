"""k-fold training as independent units: one (library, fold) pair is one unit of work.

A unit needs only the data, its fold's row indices and the configuration, so the same units can be run
one after another here or scheduled across hosts later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from ensemble_byoc.contract.memory import return_free_heap
from ensemble_byoc.errors import UserError
from ensemble_byoc.models import load_spec
from ensemble_byoc.models.base import BoosterParams, Model
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.data_checks import cell_text
from ensemble_byoc.training.scores import Metric, get_metric

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    index: int
    train_rows: np.ndarray
    valid_rows: np.ndarray


@dataclass(frozen=True)
class TrainingUnit:
    """One library (one portfolio ``member`` of it) trained on the other folds of ``fold``."""

    library: str
    fold: int
    member: str = ""

    @property
    def name(self) -> str:
        """The member's name (``xgboost``, ``xgboost-2``); the library's name for its first member."""
        return self.member or self.library


@dataclass(frozen=True)
class UnitResult:
    unit: TrainingUnit
    model: Model
    valid_rows: np.ndarray
    oof_prediction: np.ndarray
    best_iteration: int
    score: float
    seconds: float

    @classmethod
    def scored(
        cls,
        unit: TrainingUnit,
        model: Model,
        fold: Fold,
        oof_prediction: np.ndarray,
        labels: np.ndarray,
        metric: Metric,
        seconds: float,
        best_iteration: int | None = None,
    ) -> UnitResult:
        """A unit's result: ``oof_prediction`` of the fold's held-out rows, scored by ``metric`` against
        their labels (``labels`` holds every row's). The one place a ``UnitResult`` is made.

        ``best_iteration`` is the model's own (``best_iteration_``) unless given, as a checkpoint or another
        host records it.
        """
        return cls(
            unit=unit,
            model=model,
            valid_rows=fold.valid_rows,
            oof_prediction=oof_prediction,
            best_iteration=model.best_iteration_ if best_iteration is None else best_iteration,
            score=metric.score(labels[fold.valid_rows], oof_prediction),
            seconds=seconds,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "member": self.unit.name,
            "library": self.unit.library,
            "fold": self.unit.fold,
            "best_iteration": self.best_iteration,
            "score": self.score,
            "seconds": round(self.seconds, 4),
            "valid_rows": int(self.valid_rows.size),
        }


def make_folds(
    n_rows: int, k_fold: int, seed: int, classes: np.ndarray | None = None, class_names: Sequence[Any] = ()
) -> list[Fold]:
    """Seeded, shuffled k-fold split; a rerun with the same seed gives the same folds.

    With ``classes`` (the encoded label of a classification task) the folds are stratified, and every
    class must have at least ``k_fold`` rows, so that every fold's training part holds every class.
    """
    if n_rows < k_fold:
        msg = f"The data has {n_rows} rows, fewer than k_fold == {k_fold}; lower k_fold or add rows."
        raise UserError(msg)
    if classes is None:
        splits = KFold(n_splits=k_fold, shuffle=True, random_state=seed).split(np.zeros((n_rows, 1)))
    else:
        counts = np.bincount(classes)
        rarest = int(np.argmin(counts))
        if counts[rarest] < k_fold:
            name = class_names[rarest] if rarest < len(class_names) else rarest
            msg = (
                f"Class {cell_text(name)} has {counts[rarest]} rows, fewer than k_fold == {k_fold}; "
                "lower k_fold or add rows of that class."
            )
            raise UserError(msg)
        splits = StratifiedKFold(n_splits=k_fold, shuffle=True, random_state=seed).split(
            np.zeros((n_rows, 1)), classes
        )
    return [Fold(index=i, train_rows=train, valid_rows=valid) for i, (train, valid) in enumerate(splits)]


def fit_model(
    library: str,
    params: BoosterParams,
    overrides: Mapping[str, Any],
    n_threads: int,
    X: np.ndarray,
    y: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    feature_names: tuple[str, ...],
    categorical_indices: tuple[int, ...],
    should_stop: Callable[[], bool] | None = None,
) -> Model:
    """A new model of ``library``, fitted on ``X``/``y`` and early-stopping on ``X_valid``/``y_valid``: the
    one place a unit's model is made on one host's rows (a distributed fit is the adapter's ``fit_dask``).
    The C heap's free memory goes back to the system first, so that the fit does not add to it."""
    return_free_heap()
    return load_spec(library).create(params, overrides, n_threads).fit(
        X,
        y,
        X_valid=X_valid,
        y_valid=y_valid,
        feature_names=feature_names,
        should_stop=should_stop,
        categorical_features=categorical_indices,
    )


def fit_unit(
    unit: TrainingUnit,
    data: Dataset,
    fold: Fold,
    params: BoosterParams,
    overrides: Mapping[str, Any],
    n_threads: int,
    should_stop: Callable[[], bool] | None = None,
    metric: Metric | None = None,
) -> UnitResult:
    """Train one library on k-1 folds, early-stopping on (and predicting) the held-out fold."""
    started = time.perf_counter()
    adapter = load_spec(unit.library).model
    dtype, order = adapter.input_dtype, adapter.input_order
    X_valid = rows_of(data.X, fold.valid_rows, dtype, order)
    model = fit_model(unit.library, params, overrides, n_threads,
                      rows_of(data.X, fold.train_rows, dtype, order), data.y[fold.train_rows],
                      X_valid, data.y[fold.valid_rows],
                      data.feature_names, data.categorical_indices, should_stop)
    prediction = model.predict(X_valid)
    seconds = time.perf_counter() - started
    return UnitResult.scored(unit, model, fold, prediction, data.y,
                             metric or get_metric("regression", "rmse"), seconds)


_ROWS_PER_BLOCK = 65_536


def rows_of(X: np.ndarray, rows: np.ndarray, dtype: type[np.floating[Any]],
            order: Literal["C", "F"] = "C") -> np.ndarray:
    """``X[rows]`` as ``dtype`` in memory ``order``, converted a block of rows at a time: no float64 copy of
    the fold's rows when a library takes float32, and no row-major copy when it takes them column by
    column."""
    if dtype == X.dtype and order == "C":
        same: np.ndarray = X[rows]
        return same
    out = np.empty((len(rows), X.shape[1]), dtype=dtype, order=order)
    for start in range(0, len(rows), _ROWS_PER_BLOCK):
        out[start:start + _ROWS_PER_BLOCK] = X[rows[start:start + _ROWS_PER_BLOCK]]
    return out


REFIT_IGNORED_OVERRIDES = (
    "num_boost_round", "early_stopping_rounds", "iterations", "num_iterations", "n_estimators"
)
"""Per-library overrides that would change the refit's round count, which comes from cross-validation."""


def refit_on_all_rows(
    library: str,
    data: Dataset,
    params: BoosterParams,
    overrides: Mapping[str, Any],
    n_threads: int,
    rounds: int,
    should_stop: Callable[[], bool] | None = None,
) -> Model:
    """One model of ``library`` on every row, boosting the ``rounds`` its fold models found best on average.

    There is no held-out data left to stop on, so early stopping is off; the library still needs a
    validation set, which is a few of the training rows and does not steer anything.
    """
    refit_params = replace(params, num_round=max(1, rounds), early_stopping_rounds=0)
    kept = {key: value for key, value in overrides.items() if key not in REFIT_IGNORED_OVERRIDES}
    probe = slice(0, min(data.n_rows, 256))
    return fit_model(library, refit_params, kept, n_threads, data.X, data.y, data.X[probe], data.y[probe],
                     data.feature_names, data.categorical_indices, should_stop)
