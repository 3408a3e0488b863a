"""The small protocol every library adapter implements. Nothing library-specific lives here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ensemble_byoc.errors import AlgorithmError, EnsembleError, UserError


@dataclass(frozen=True)
class BoosterParams:
    """The shared hyperparameters, mapped by each adapter onto its library's own names."""

    learning_rate: float
    max_depth: int
    num_round: int
    early_stopping_rounds: int
    seed: int
    subsample: float | None = None
    colsample_bytree: float | None = None
    reg_lambda: float | None = None
    problem_type: str = "regression"
    """``regression`` (predict values), ``binary`` (predict P(second class)) or ``multiclass``
    (predict a row of class probabilities, ``n_classes`` wide)."""
    n_classes: int = 0
    eval_metric: str = "rmse"
    """The metric early stopping watches (names from ``ensemble_byoc.training.scores``)."""


class Model(Protocol):
    """A fitted (or fittable) model of one library for one fold.

    ``__init__`` only stores its arguments; ``fit`` early-stops on the held-out slice it is given and
    keeps only the trees up to the best iteration, so a saved model predicts what the fitted one did.
    ``should_stop`` is asked after every boosting round; when it answers True the library stops there
    and the model keeps the best iteration found so far (a time limit or a SIGTERM cut a fit short).
    ``categorical_features`` are column indices whose values are category codes (0, 1, ...; NaN when
    missing), handled natively by each library and remembered by the saved model.
    """

    name: str
    """The library, as in the registry (``xgboost``); a portfolio member's models keep their library's
    name."""
    best_iteration_: int

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_valid: np.ndarray,
        y_valid: np.ndarray,
        feature_names: tuple[str, ...],
        should_stop: Callable[[], bool] | None = None,
        categorical_features: tuple[int, ...] = (),
    ) -> Model: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...

    def feature_importance(self) -> np.ndarray:
        """Total gain per feature, in feature order (unnormalised)."""
        ...


@dataclass(frozen=True)
class ModelSpec:
    """How the trainer and the loader reach one library."""

    name: str
    file_suffix: str
    create: Callable[[BoosterParams, Mapping[str, Any], int], Model]
    """``create(params, overrides, n_threads)`` returns an unfitted model."""
    load: Callable[[Path, int], Model]
    """``load(path, n_threads)`` reads a model saved by ``Model.save``."""
    library_version: Callable[[], str]
    merge_folds: Callable[[Sequence[Model]], Model | None] | None = None
    """``merge_folds(models)`` returns one model whose prediction is the mean of the fold models'
    predictions (up to floating-point rounding), so serving makes one library call instead of k; or
    None when these models cannot be merged exactly (serving then keeps the fold models)."""
    fit_dask: Callable[..., Model] | None = None
    """``fit_dask(model, client, parts, should_stop)`` trains an unfitted ``model`` across a Dask cluster on
    the row blocks of ``parts`` (a ``DaskParts``), each block staying on the host that loaded it, and returns
    the fitted model in the library's native form; ``None`` when the library has no distributed Python path
    (a sharded job then trains it on one host's shard)."""


@dataclass(frozen=True)
class DaskParts:
    """One fold of a sharded job as Dask arrays: training rows and held-out rows, one block per host.

    ``score_valid(prediction)`` scores a prediction of every held-out row (in ``X_valid``'s row order)
    against their labels on the client, lower is better; a library that cannot early-stop across hosts
    picks its best round with it.
    """

    X: Any
    y: Any
    X_valid: Any
    y_valid: Any
    feature_names: tuple[str, ...]
    categorical_features: tuple[int, ...]
    score_valid: Callable[[np.ndarray], float]
    workers: tuple[str, ...]
    """The Dask workers holding the training blocks, in block (host) order: a library that ranks its
    peers is given this order, so the same hosts and data give the same model."""


def library_feature_names(count: int) -> list[str]:
    """The feature names every adapter gives its library: ``f0`` ... ``f<count-1>``, in column order.

    A CSV header or a Parquet schema can name a column anything (``:``, ``[``, quotes, a number, 2,000
    characters), and each library refuses some of it (LightGBM any JSON special character, XGBoost ``[``,
    ``]`` and ``<``). The user's names live in the manifest, the reports and the responses; a booster knows
    its columns only by position, so a model that carries the user's names (written before this) predicts
    the same.
    """
    return [f"f{index}" for index in range(count)]


_SOURCE_PREFIX = re.compile(r"^(\[[\d:]+\]\s*)?(\S+\.(?:cc|cpp|cu|h|hpp):\d+:\s*)?")
"""The ``[12:00:00] /src/learner.cc:123:`` prefix the C++ libraries put before their message."""


def library_error(library: str, exc: Exception, overrides: Mapping[str, Any]) -> EnsembleError:
    """Wrap an exception a library raised while fitting, by its type, at the adapter boundary.

    When the user passed ``<library>__<param>`` overrides, a rejection is theirs to fix, so it is a
    ``UserError`` that names the library and the parameters; otherwise it is an ``AlgorithmError``.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reason = _SOURCE_PREFIX.sub("", lines[0]) if lines else type(exc).__name__
    if overrides:
        given = ", ".join(f"{library}__{key}={value!r}" for key, value in overrides.items())
        return UserError(f"{library} rejected its parameters ({given}): {reason}")
    return AlgorithmError(f"{library} failed to train: {reason}")


def unknown_parameters_error(
    library: str, unknown: set[str], overrides: Mapping[str, Any]
) -> UserError | None:
    """A ``UserError`` naming the ``<library>__<param>`` overrides the library said it does not know."""
    given = sorted(name for name in unknown if name in overrides)
    if not given:
        return None
    names = ", ".join(f"{library}__{name}" for name in given)
    return UserError(
        f"{library} does not know the parameter(s) {names}; check the spelling against its documentation."
    )
