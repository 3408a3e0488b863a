"""LightGBM adapter: native text model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lightgbm as lgb
import numpy as np

from ensemble_byoc.models.base import (
    DEFAULT_DEPTH,
    BoosterParams,
    DaskParts,
    FoldRows,
    Model,
    ModelSpec,
    library_feature_names,
)
from ensemble_byoc.models.lightgbm_merge import merged_model_text

_MAX_LEAVES = 131072
LARGE_DATA_ROWS = 40_000
"""From this many rows, LightGBM's trees grow leaf-wise when ``max_depth`` is not given."""
_LEAF_WISE = {"max_depth": -1, "num_leaves": 128, "min_data_in_leaf": 3, "feature_fraction": 0.9}
"""LightGBM's tree shape from ``LARGE_DATA_ROWS`` rows when ``max_depth`` is not given: leaf-wise growth
without a depth cap, up to 128 leaves of 3 rows or more, 90% of the features a tree (``colsample_bytree``,
when given, replaces that). Chosen on the accuracy suite's "choose" sets (bench/RESULTS.md, section
``accuracy_suite-leaves`` and ``-sizes``): better than depth 6 with 64 leaves on diamonds (43,000 rows),
worse on txhousing (6,400), digits (1,400) and diamonds sampled to 30,000 rows, a tie at 10,000-20,000."""
_METRICS = {  # problem type -> our metric -> LightGBM's (no F1: stop on log loss, the blend optimises F1)
    "regression": {"rmse": "rmse", "mae": "l1"},
    "binary": {"auc": "auc", "logloss": "binary_logloss", "accuracy": "binary_error", "f1": "binary_logloss"},
    "multiclass": {"mlogloss": "multi_logloss", "accuracy": "multi_error"},
}
_REGRESSION_OBJECTIVES = {"squared_error": "regression", "absolute_error": "regression_l1", "huber": "huber"}
_UNKNOWN_PARAMETER = re.compile(r"Unknown parameter: (\S+)")


def _tree_shape(p: BoosterParams, leaves: Any) -> dict[str, Any]:
    """``max_depth`` given: that depth, with ``num_leaves = 2**depth``. Unset: ``_LEAF_WISE`` from
    ``LARGE_DATA_ROWS`` rows; below, ``DEFAULT_DEPTH`` with 64 leaves, the depth raised to hold a larger
    ``num_leaves`` of the user's or a portfolio member's (``leaves``; 200 leaves: depth 8), which the
    depth would otherwise cut to 64 without a word."""
    if p.max_depth is not None:
        return {"max_depth": p.max_depth, "num_leaves": min(2**p.max_depth, _MAX_LEAVES)}
    if p.rows >= LARGE_DATA_ROWS:
        return dict(_LEAF_WISE)
    deeper = isinstance(leaves, int) and leaves > 2**DEFAULT_DEPTH
    return {"max_depth": math.ceil(math.log2(leaves)) if deeper else DEFAULT_DEPTH,
            "num_leaves": 2**DEFAULT_DEPTH}


class LightGBMModel(Model):
    name = "lightgbm"
    library_errors = (lgb.basic.LightGBMError,)
    shared_names = {"subsample": "bagging_fraction", "colsample_bytree": "feature_fraction",
                    "reg_lambda": "lambda_l2"}

    def _own_params(self) -> dict[str, Any]:
        p = self.params
        params: dict[str, Any] = {
            "objective": _REGRESSION_OBJECTIVES[p.objective] if p.problem_type == "regression"
            else p.problem_type,
            "metric": _METRICS[p.problem_type][p.eval_metric],
            "learning_rate": p.learning_rate,
            **_tree_shape(p, self.overrides.get("num_leaves")),
            "seed": p.seed,
            "num_threads": self.n_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": 0,  # warnings reach _LibraryLog (debug), so unknown parameter names are seen
        }
        if p.problem_type == "regression" and p.objective == "huber":
            params["alpha"] = p.huber_delta  # LightGBM's name for the huber delta
        if p.problem_type == "multiclass":
            params["num_class"] = p.n_classes
        if p.subsample is not None:
            params["bagging_freq"] = 1  # bagging_fraction applies every round
        return params

    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[lgb.Booster, int]:
        num_round, stopping = self.num_rounds(), self.stopping_rounds()
        library_log = _LibraryLog()
        route_log_in_this_thread()
        _THREAD_LOGS.current = library_log
        names = library_feature_names(len(rows.feature_names))
        dtrain = lgb.Dataset(rows.X, label=rows.y, feature_name=names, free_raw_data=True,
                             categorical_feature=list(rows.categorical_features) or "auto")
        dvalid = lgb.Dataset(rows.X_valid, label=rows.y_valid, reference=dtrain)
        callbacks: list[Any] = [lgb.early_stopping(stopping, verbose=False)] if stopping else []
        if should_stop is not None:
            callbacks.append(_StopWhenAsked(should_stop, keep_best=bool(stopping)))
        booster = lgb.train(self.library_params(), dtrain, num_boost_round=num_round, valid_sets=[dvalid],
                            valid_names=["valid"], callbacks=callbacks)
        self.refuse_unknown_parameters(library_log.unknown_parameters)
        rounds = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        # Re-read the model truncated at the best iteration, so the fitted model is the one saved.
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds)), rounds

    def predict(self, X: np.ndarray) -> np.ndarray:
        booster = self.fitted("predict")
        return np.asarray(booster.predict(X, num_threads=self.n_threads), dtype=np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        values = self.fitted("contributions").predict(X, pred_contrib=True, num_threads=self.n_threads)
        return np.asarray(values, dtype=np.float64).reshape(X.shape[0], -1, X.shape[1] + 1)

    def save(self, path: Path) -> None:
        self.fitted("save").save_model(str(path))

    def feature_importance(self) -> np.ndarray:
        booster = self.fitted("feature_importance")
        return np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> LightGBMModel:
        booster = lgb.Booster(model_file=str(path))
        return cls.from_booster(booster, n_threads, booster.current_iteration())


def route_log_in_this_thread() -> None:
    """Register LightGBM's native log callback in the calling thread.

    The callback is thread-local and set only in the thread that imported LightGBM; a unit trained in
    another thread (a Dask worker's, the job's units side by side) would otherwise print LightGBM's
    messages raw, and ``fit`` would never see an ``Unknown parameter`` warning, so a misspelt
    ``lightgbm__`` override would train instead of failing.
    """
    library = getattr(lgb.basic, "_LIB", None)  # LightGBM's native library handle (ctypes)
    callback = getattr(library, "callback", None)
    if library is not None and callback is not None:
        library.LGBM_RegisterLogCallback(callback)


NETWORK_TIMEOUT_MINUTES = 10
"""LightGBM's socket timeout between hosts (its default is 120 minutes); the job notices a lost host
sooner through Dask, this bounds how long a host waits for a peer that will not answer."""
STAGES = 16
"""A sharded job's LightGBM unit scores this many evenly spaced round counts to pick its best one."""


def fit_dask(
    model: LightGBMModel, client: Any, parts: DaskParts, should_stop: Callable[[], bool] | None
) -> LightGBMModel:
    """Train across the cluster with ``lightgbm.dask`` (data-parallel: each host's blocks stay on it).

    LightGBM evaluates a validation set on each host's own rows only, so early stopping inside the
    library would stop different hosts at different rounds. Instead every round is trained and the best
    of ``STAGES`` evenly spaced round counts, scored on all held-out rows, is kept. A unit cannot be cut
    short either (a host stopping alone would leave the others waiting), so ``should_stop`` is not used:
    a stop request or ``time_limit`` takes effect at the next unit.
    """
    del should_stop
    from lightgbm import dask as dlgb  # only a sharded multi-host job imports Dask

    num_round, stopping = model.num_rounds(), model.stopping_rounds()
    params = {k: v for k, v in model.library_params().items() if k != "num_threads"}  # each host: its cores
    params["verbosity"] = -1  # the hosts' library logs would print raw, once per host and round
    params["machines"] = _machines(client, parts.workers)
    params["time_out"] = NETWORK_TIMEOUT_MINUTES
    estimator = dlgb.DaskLGBMRegressor(client=client, n_estimators=num_round, **params)
    # lightgbm.dask waits for its futures through the current client
    with model.library_call(), warnings.catch_warnings(), client.as_current():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        estimator.fit(parts.X, parts.y, feature_name=library_feature_names(len(parts.feature_names)),
                      categorical_feature=list(parts.categorical_features) or "auto")
    text = estimator.to_local().booster_.model_to_string()
    booster = lgb.Booster(model_str=text)
    trained = booster.current_iteration()
    with client.as_current():
        rounds = _best_rounds(text, trained, parts) if stopping else trained
    return model.keep(lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds)), rounds)


def _machines(client: Any, workers: tuple[str, ...]) -> str:
    """LightGBM's ``machines`` list (``ip:port,...``) in the hosts' order, with a free port on each host.

    A machine's place in this list is its rank, and rank decides which features' bin boundaries it
    computes from its own rows: left to ``lightgbm.dask``, the order (and so the model) changes from run
    to run.
    """
    ports = client.run(_free_port, workers=list(workers))
    return ",".join(f"{urlsplit(worker).hostname}:{ports[worker]}" for worker in workers)


def _free_port() -> int:
    """Run on a host: a TCP port free there now (LightGBM binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _best_rounds(text: str, trained: int, parts: DaskParts) -> int:
    """The round count, of ``STAGES`` evenly spaced ones, whose prediction scores best on the held-out
    rows. One stage at a time: the client holds one prediction of the held-out rows, not ``STAGES``."""
    stages = sorted({int(r) for r in np.linspace(1, trained, num=min(trained, STAGES)).round()})
    width = lgb.Booster(model_str=text).num_model_per_iteration()
    scores = []
    for rounds in stages:
        prediction = parts.X_valid.map_blocks(_predict_block, text, rounds, dtype=np.float64,
                                              chunks=(parts.X_valid.chunks[0], (width,)),
                                              meta=np.empty((0, 0), dtype=np.float64)).compute()
        scores.append(parts.score_valid(prediction[:, 0] if width == 1 else prediction))
    return stages[int(np.argmin(scores))]


def _predict_block(X: np.ndarray, text: str, rounds: int) -> np.ndarray:
    """Run on the host holding ``X``: the model's prediction after ``rounds`` rounds, one row per row."""
    booster = lgb.Booster(model_str=text)
    return np.asarray(booster.predict(X, num_iteration=rounds), dtype=np.float64).reshape(X.shape[0], -1)


class _StopWhenAsked:
    """Ends boosting after the round in which ``should_stop`` answers True, at the best round so far."""

    order = 40  # after LightGBM's own early-stopping callback (30)

    def __init__(self, should_stop: Callable[[], bool], *, keep_best: bool) -> None:
        self.should_stop = should_stop
        self.keep_best = keep_best
        self.best_score = float("inf")
        self.best_iteration = -1
        self.best_results: list[Any] = []

    def __call__(self, env: Any) -> None:
        results = env.evaluation_result_list or []
        if results:
            # results[0]: (data, metric, value, higher_is_better)
            loss = -results[0][2] if results[0][3] else results[0][2]
            if loss < self.best_score:
                self.best_score, self.best_iteration, self.best_results = loss, env.iteration, results
        if self.should_stop():
            best = self.best_iteration if self.keep_best and self.best_iteration >= 0 else env.iteration
            raise lgb.callback.EarlyStopException(best, self.best_results or results)


class _LibraryLog:
    """LightGBM's logger interface: its messages go to ours at debug level, and the names it reports as
    ``Unknown parameter`` are collected so that ``fit`` can refuse them."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("ensemble_byoc.lightgbm")
        self.unknown_parameters: set[str] = set()

    def info(self, msg: str) -> None:
        found = _UNKNOWN_PARAMETER.search(msg)
        if found:
            self.unknown_parameters.add(found.group(1))
        self._logger.debug("%s", msg.rstrip())

    def warning(self, msg: str) -> None:
        self._logger.warning("%s", msg.rstrip())


class _ThreadLogs(threading.local):
    """LightGBM's one Python logger for the whole process, handing each message to the ``_LibraryLog`` of
    the unit training in the calling thread: units trained side by side each see their own warnings."""

    current: _LibraryLog | None = None

    def info(self, msg: str) -> None:
        (self.current or _LibraryLog()).info(msg)

    def warning(self, msg: str) -> None:
        (self.current or _LibraryLog()).warning(msg)


_THREAD_LOGS = _ThreadLogs()
lgb.register_logger(_THREAD_LOGS)


def merge_folds(models: Sequence[Model]) -> LightGBMModel | None:
    """One booster predicting the mean of the fold boosters (``lightgbm_merge.merged_model_text``)."""
    fitted = LightGBMModel.all_fitted(models)
    if fitted is None:
        return None
    text = merged_model_text([m.fitted("merge").model_to_string() for m in fitted])
    if text is None:
        return None
    booster = lgb.Booster(model_str=text)
    return LightGBMModel.from_booster(booster, fitted[0].n_threads, booster.current_iteration())


SPEC = ModelSpec(LightGBMModel, ".txt", library_version=lambda: str(lgb.__version__),
                 merge_folds=merge_folds, fit_dask=fit_dask)
