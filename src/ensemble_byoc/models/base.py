"""What every library adapter shares: the hyperparameters, the ``Model`` base class with the helpers an
adapter is built from, the ``ModelSpec`` the trainer and the loader reach a library by, and the wrapping of
a library's errors. Nothing library-specific lives here."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from ensemble_byoc.errors import AlgorithmError, EnsembleError, NotFittedError, UserError

_M = TypeVar("_M", bound="Model")


@dataclass(frozen=True)
class BoosterParams:
    """The shared hyperparameters, mapped by each adapter onto its library's own names."""

    learning_rate: float
    max_depth: int | None  # one depth for every library; None: each library's own tree shape
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
    objective: str = "squared_error"
    """The regression loss: ``squared_error``, ``absolute_error`` or ``huber``."""
    huber_delta: float = 1.0
    """Where the huber loss turns from squared to absolute, in the label's units."""
    rows: int = 0  # the job's rows (each fold trains on most of them): a library's shape may follow them


REGRESSION_OBJECTIVES = ("squared_error", "absolute_error", "huber")
DEFAULT_DEPTH = 6  # the trees' depth when max_depth is not given (CatBoost's and XGBoost's own)


_READ_MODEL_PARAMS = BoosterParams(learning_rate=0.0, max_depth=0, num_round=0, early_stopping_rounds=0,
                                   seed=0)
"""The parameters of a model read from a file or merged from folds: it predicts, it is never fitted."""


@dataclass(frozen=True)
class FoldRows:
    """One fold as a library is given it: the training rows, the held-out rows early stopping watches,
    the user's feature names and the indices of the categorical columns (category codes, NaN when
    missing)."""

    X: Any
    y: Any
    X_valid: Any
    y_valid: Any
    feature_names: tuple[str, ...]
    categorical_features: tuple[int, ...]


class Model(ABC):
    """A fitted (or fittable) model of one library for one fold; each adapter subclasses it.

    ``__init__`` only stores its arguments; ``fit`` early-stops on the held-out slice it is given and
    keeps only the trees up to the best iteration, so a saved model predicts what the fitted one did.
    ``should_stop`` is asked after every boosting round; when it answers True the library stops there
    and the model keeps the best iteration found so far (a time limit or a SIGTERM cut a fit short).
    ``categorical_features`` are column indices whose values are category codes (0, 1, ...; NaN when
    missing), handled natively by each library and remembered by the saved model.

    An adapter implements ``_own_params``, ``_train``, ``predict``, ``save``, ``feature_importance`` and
    ``load`` with the helpers below; ``fit`` turns the exceptions in ``library_errors`` into ours
    (``library_error``).
    """

    name: ClassVar[str]
    """The library, as in the registry (``xgboost``); a portfolio member's models keep their library's
    name."""
    library_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """What the library raises when it refuses its parameters or fails to train."""
    train_arguments: ClassVar[tuple[str, ...]] = ("num_boost_round", "early_stopping_rounds")
    """Overrides the adapter reads itself (``num_rounds``, ``stopping_rounds``), kept out of the library's
    parameters."""
    shared_names: ClassVar[Mapping[str, str]] = {}
    """The library's names of the optional shared hyperparameters: ``{"reg_lambda": "lambda"}``."""
    input_dtype: ClassVar[type[np.floating[Any]]] = np.float64
    """The float type the trainer slices a fold's rows into: ``float32`` for a library that converts its
    input to float32 itself (the same values, half the memory), else ``float64``."""
    input_order: ClassVar[Literal["C", "F"]] = "C"
    """The memory layout the trainer slices a fold's rows into: ``"F"`` (column by column) for a library
    that reads a column-major matrix in place rather than copying it, else ``"C"``."""
    booster_: Any
    """The library's fitted model; None before ``fit``."""

    def __init__(self, params: BoosterParams, overrides: Mapping[str, Any], n_threads: int) -> None:
        self.params = params
        self.overrides = dict(overrides)
        self.n_threads = n_threads
        self.booster_ = None
        self.best_iteration_ = 0

    def fit(
        self: _M,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_valid: np.ndarray,
        y_valid: np.ndarray,
        feature_names: tuple[str, ...],
        should_stop: Callable[[], bool] | None = None,
        categorical_features: tuple[int, ...] = (),
    ) -> _M:
        rows = FoldRows(X, y, X_valid, y_valid, feature_names, categorical_features)
        with self.library_call():
            booster, rounds = self._train(rows, should_stop)
        return self.keep(booster, rounds)

    @abstractmethod
    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[Any, int]:
        """The fitted booster, cut at its best round, and that number of rounds."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """One float64 per row of ``X`` (a row of class probabilities for a multiclass model)."""

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write the fitted model to ``path`` in the library's native format (never pickle)."""

    @abstractmethod
    def feature_importance(self) -> np.ndarray:
        """Total gain per feature, in feature order (unnormalised)."""

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The library's exact tree SHAP values, ``(rows, outputs, features + 1)``, in its raw score.

        One output for regression and binary, one per class for multiclass; the last column is the base
        value, so each row's values sum to its raw score: the prediction of a regression model, the
        margin (log-odds) of a classifier. An adapter without tree SHAP answers with this 400.
        """
        msg = f"{self.name} models cannot explain their predictions (this adapter has no tree SHAP)."
        raise UserError(msg)

    @classmethod
    @abstractmethod
    def load(cls: type[_M], path: Path, n_threads: int) -> _M:
        """Read a model written by ``save`` (build it with ``from_booster``)."""

    @classmethod
    def from_booster(cls: type[_M], booster: Any, n_threads: int, best_iteration: int) -> _M:
        """A model around a booster read from a file or merged from folds, to predict with."""
        return cls(_READ_MODEL_PARAMS, {}, n_threads).keep(booster, best_iteration)

    def use_threads(self, n_threads: int) -> None:
        """Predict on ``n_threads`` threads from now on (a served model, once its worker has forked)."""
        self.n_threads = n_threads

    def keep(self: _M, booster: Any, best_iteration: int) -> _M:
        """Hold ``booster`` as the fitted model, with ``best_iteration`` rounds; return the model."""
        self.booster_ = booster
        self.best_iteration_ = best_iteration
        return self

    def fitted(self, action: str) -> Any:
        """The booster; a ``NotFittedError`` naming ``action`` (``predict``) before ``fit``."""
        if self.booster_ is None:
            msg = f"{type(self).__name__}.{action} called before fit."
            raise NotFittedError(msg)
        return self.booster_

    def num_rounds(self) -> int:
        """The boosting rounds to train: the ``num_boost_round`` override, or ``num_round``."""
        return int(self.overrides.get("num_boost_round", self.params.num_round))

    def stopping_rounds(self) -> int:
        """Rounds without improvement that end training (0: never): the override, or the shared value."""
        return int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))

    @abstractmethod
    def _own_params(self) -> dict[str, Any]:
        """The parameters the adapter always gives its library, from the shared hyperparameters."""

    def library_params(self) -> dict[str, Any]:
        """The library's parameters: ``_own_params``, then each optional shared hyperparameter that is set,
        under its name in ``shared_names``, then the user's overrides except the ``train_arguments``."""
        params = self._own_params()
        for field, library_name in self.shared_names.items():
            value = getattr(self.params, field)
            if value is not None:
                params[library_name] = value
        params.update({k: v for k, v in self.overrides.items() if k not in self.train_arguments})
        return params

    def refuse_unknown_parameters(self, unknown: set[str]) -> None:
        """Raise a ``UserError`` naming the ``<library>__<param>`` overrides among the ``unknown`` parameter
        names the library reported."""
        given = sorted(name for name in unknown if name in self.overrides)
        if given:
            names = ", ".join(f"{self.name}__{name}" for name in given)
            msg = (f"{self.name} does not know the parameter(s) {names}; "
                   "check the spelling against its documentation.")
            raise UserError(msg)

    @classmethod
    def all_fitted(cls: type[_M], models: Sequence[Model]) -> list[_M] | None:
        """``models`` when every one is a fitted ``cls`` (fold models to merge); None otherwise."""
        fitted = [m for m in models if isinstance(m, cls) and m.booster_ is not None]
        return fitted if fitted and len(fitted) == len(models) else None

    @contextmanager
    def library_call(self) -> Iterator[None]:
        """Within the block, an exception in ``library_errors`` is raised as ``library_error``."""
        try:
            yield
        except self.library_errors as exc:
            raise library_error(self.name, exc, self.overrides) from exc


@dataclass(frozen=True)
class ModelSpec:
    """How the trainer and the loader reach one library: its ``Model`` class and what it can do."""

    model: type[Model]
    file_suffix: str
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

    @property
    def name(self) -> str:
        return self.model.name

    def create(self, params: BoosterParams, overrides: Mapping[str, Any], n_threads: int) -> Model:
        """An unfitted model."""
        return self.model(params, overrides, n_threads)

    def load(self, path: Path, n_threads: int) -> Model:
        """A model saved by ``Model.save``."""
        return self.model.load(path, n_threads)


@dataclass(frozen=True)
class DaskParts(FoldRows):
    """One fold of a sharded job as Dask arrays: training rows and held-out rows, one block per host.

    ``score_valid(prediction)`` scores a prediction of every held-out row (in ``X_valid``'s row order)
    against their labels on the client, lower is better; a library that cannot early-stop across hosts
    picks its best round with it.
    """

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
