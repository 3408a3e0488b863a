"""LightGBM adapter: native text model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

import logging
import re
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import lightgbm as lgb
import numpy as np

from ensemble_byoc.errors import NotFittedError
from ensemble_byoc.models.base import (
    BoosterParams,
    DaskParts,
    Model,
    ModelSpec,
    library_error,
    library_feature_names,
    unknown_parameters_error,
)

_TRAIN_ARGUMENTS = ("num_boost_round", "early_stopping_rounds")
_MAX_LEAVES = 131072
_METRICS = {
    ("regression", "rmse"): "rmse",
    ("binary", "auc"): "auc",
    ("binary", "logloss"): "binary_logloss",
    ("binary", "accuracy"): "binary_error",
    ("binary", "f1"): "binary_logloss",  # no F1 in LightGBM: stop on log loss, the blend still optimises F1
    ("multiclass", "mlogloss"): "multi_logloss",
    ("multiclass", "accuracy"): "multi_error",
}
_UNKNOWN_PARAMETER = re.compile(r"Unknown parameter: (\S+)")


class LightGBMModel:
    name = "lightgbm"

    def __init__(self, params: BoosterParams, overrides: Mapping[str, Any], n_threads: int) -> None:
        self.params = params
        self.overrides = dict(overrides)
        self.n_threads = n_threads
        self.booster_: lgb.Booster | None = None
        self.best_iteration_ = 0

    def _library_params(self) -> dict[str, Any]:
        p = self.params
        params: dict[str, Any] = {
            "objective": p.problem_type,
            "metric": _METRICS[(p.problem_type, p.eval_metric)],
            "learning_rate": p.learning_rate,
            "max_depth": p.max_depth,
            "num_leaves": min(2**p.max_depth, _MAX_LEAVES),
            "seed": p.seed,
            "num_threads": self.n_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": 0,  # warnings reach _LibraryLog (debug), so unknown parameter names are seen
        }
        if p.problem_type == "multiclass":
            params["num_class"] = p.n_classes
        if p.subsample is not None:
            params["bagging_fraction"] = p.subsample
            params["bagging_freq"] = 1
        if p.colsample_bytree is not None:
            params["feature_fraction"] = p.colsample_bytree
        if p.reg_lambda is not None:
            params["lambda_l2"] = p.reg_lambda
        params.update({k: v for k, v in self.overrides.items() if k not in _TRAIN_ARGUMENTS})
        return params

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
    ) -> LightGBMModel:
        num_round = int(self.overrides.get("num_boost_round", self.params.num_round))
        stopping = int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))
        library_log = _LibraryLog()
        lgb.register_logger(library_log)
        try:
            dtrain = lgb.Dataset(X, label=y, feature_name=library_feature_names(len(feature_names)),
                                 free_raw_data=True,
                                 categorical_feature=list(categorical_features) or "auto")
            dvalid = lgb.Dataset(X_valid, label=y_valid, reference=dtrain)
            callbacks: list[Any] = [lgb.early_stopping(stopping, verbose=False)] if stopping else []
            if should_stop is not None:
                callbacks.append(_StopWhenAsked(should_stop, keep_best=bool(stopping)))
            booster = lgb.train(
                self._library_params(),
                dtrain,
                num_boost_round=num_round,
                valid_sets=[dvalid],
                valid_names=["valid"],
                callbacks=callbacks,
            )
        except lgb.basic.LightGBMError as exc:
            raise library_error("lightgbm", exc, self.overrides) from exc
        rejected = unknown_parameters_error("lightgbm", library_log.unknown_parameters, self.overrides)
        if rejected is not None:
            raise rejected
        rounds = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        # Re-read the model truncated at the best iteration, so the fitted model is the one saved.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))
        self.best_iteration_ = rounds
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("LightGBMModel.predict called before fit.")
        return np.asarray(self.booster_.predict(X, num_threads=self.n_threads), dtype=np.float64)

    def save(self, path: Path) -> None:
        if self.booster_ is None:
            raise NotFittedError("LightGBMModel.save called before fit.")
        self.booster_.save_model(str(path))

    def feature_importance(self) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("LightGBMModel.feature_importance called before fit.")
        return np.asarray(self.booster_.feature_importance(importance_type="gain"), dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> LightGBMModel:
        model = cls(BoosterParams(0.0, 0, 0, 0, 0), {}, n_threads)
        model.booster_ = lgb.Booster(model_file=str(path))
        model.best_iteration_ = model.booster_.current_iteration()
        return model


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

    num_round = int(model.overrides.get("num_boost_round", model.params.num_round))
    stopping = int(model.overrides.get("early_stopping_rounds", model.params.early_stopping_rounds))
    params = {k: v for k, v in model._library_params().items() if k != "num_threads"}  # each host: its cores
    params["verbosity"] = -1  # the hosts' library logs would print raw, once per host and round
    params["machines"] = _machines(client, parts.workers)
    params["time_out"] = NETWORK_TIMEOUT_MINUTES
    estimator = dlgb.DaskLGBMRegressor(client=client, n_estimators=num_round, **params)
    try:
        with warnings.catch_warnings(), client.as_current():  # lightgbm.dask waits through the current client
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            estimator.fit(parts.X, parts.y, feature_name=library_feature_names(len(parts.feature_names)),
                          categorical_feature=list(parts.categorical_features) or "auto")
    except lgb.basic.LightGBMError as exc:
        raise library_error("lightgbm", exc, model.overrides) from exc
    text = estimator.to_local().booster_.model_to_string()
    trained = lgb.Booster(model_str=text).current_iteration()
    with client.as_current():
        rounds = _best_rounds(text, trained, parts) if stopping else trained
    model.booster_ = lgb.Booster(model_str=lgb.Booster(model_str=text).model_to_string(num_iteration=rounds))
    model.best_iteration_ = rounds
    return model


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



_IDENTITY_OBJECTIVES = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})
"""Objectives whose prediction is the raw score, so the mean of predictions is the mean of raw scores."""
_SCALED_KEYS = ("leaf_value=", "internal_value=", "shrinkage=")
_TREE_START = re.compile(r"^Tree=", re.MULTILINE)
_END_OF_TREES = "end of trees\n"


def merge_folds(models: Sequence[Model]) -> LightGBMModel | None:
    """One booster predicting the mean of the fold boosters: all their trees, leaf values scaled by 1/k.

    LightGBM's text format keeps each tree's leaf values (shrinkage already applied; the first tree
    carries the boost-from-average score), so the mean of k folds is the sum of every fold's trees with
    ``leaf_value`` (and ``internal_value``, ``shrinkage``) divided by k; ``tree_sizes`` is recomputed.
    Values are doubles written at full precision, so the merge is exact up to double rounding. Other
    objectives (a link function), several trees per iteration, averaged (rf) and linear trees stay
    unmerged.
    """
    fitted = [m for m in models if isinstance(m, LightGBMModel) and m.booster_ is not None]
    if not fitted or len(fitted) != len(models):
        return None
    texts = [m.booster_.model_to_string() for m in fitted]  # type: ignore[union-attr]
    try:
        text = _merged_model_text(texts)
    except ValueError:
        return None  # a model layout this code does not know: keep the folds
    if text is None:
        return None
    model = LightGBMModel(BoosterParams(0.0, 0, 0, 0, 0), {}, fitted[0].n_threads)
    model.booster_ = lgb.Booster(model_str=text)
    model.best_iteration_ = model.booster_.current_iteration()
    return model


def _merged_model_text(texts: list[str]) -> str | None:
    k = len(texts)
    parts = [_split_model_text(text) for text in texts]
    first_fields = _header_fields(parts[0][0])
    blocks: list[str] = []
    for header, trees, _ in parts:
        fields = _header_fields(header)
        objective = fields.get("objective", "").split()
        if (
            not objective
            or objective[0] not in _IDENTITY_OBJECTIVES
            or "sqrt" in objective[1:]
            or fields.get("num_tree_per_iteration") != "1"
            or "average_output" in fields
            or fields.get("feature_names") != first_fields.get("feature_names")
        ):
            return None
        for tree in trees:
            if "\nis_linear=1" in tree:
                return None
            blocks.append(_scaled_tree(tree, len(blocks), k))
    sizes = " ".join(str(len(block.encode("utf-8"))) for block in blocks)
    header = re.sub(r"^tree_sizes=.*$", lambda _: f"tree_sizes={sizes}", parts[0][0], flags=re.MULTILINE)
    return header + "".join(blocks) + parts[0][2]


def _split_model_text(text: str) -> tuple[str, list[str], str]:
    """The header, each ``Tree=`` block (up to the next one), and the rest from ``end of trees``."""
    starts = [match.start() for match in _TREE_START.finditer(text)]
    end = text.find("\n" + _END_OF_TREES) + 1
    if not starts or end <= starts[-1]:
        raise ValueError("no trees or no end-of-trees line")
    bounds = [*starts, end]
    return text[: starts[0]], [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)], text[end:]


def _header_fields(header: str) -> dict[str, str]:
    fields = {}
    for line in header.splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip()
    return fields


def _scaled_tree(block: str, index: int, k: int) -> str:
    lines = block.split("\n")
    lines[0] = f"Tree={index}"
    for i, line in enumerate(lines):
        for key in _SCALED_KEYS:
            if line.startswith(key):
                values = line[len(key):].split(" ")
                lines[i] = key + " ".join(repr(float(value) / k) for value in values)
    return "\n".join(lines)


SPEC = ModelSpec(
    name=LightGBMModel.name,
    file_suffix=".txt",
    create=LightGBMModel,
    load=LightGBMModel.load,
    library_version=lambda: str(lgb.__version__),
    merge_folds=merge_folds,
    fit_dask=fit_dask,
)
