"""XGBoost adapter: native UBJSON model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

import ctypes
import json
import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import xgboost as xgb

from ensemble_byoc.errors import AlgorithmError, NotFittedError
from ensemble_byoc.models.base import (
    BoosterParams,
    DaskParts,
    Model,
    ModelSpec,
    library_error,
    library_feature_names,
    unknown_parameters_error,
)

_OBJECTIVES = {"regression": "reg:squarederror", "binary": "binary:logistic", "multiclass": "multi:softprob"}
_EVAL_METRICS = {
    ("regression", "rmse"): "rmse",
    ("binary", "auc"): "auc",
    ("binary", "logloss"): "logloss",
    ("binary", "accuracy"): "error",
    ("binary", "f1"): "logloss",  # no F1 in XGBoost: stop on log loss, the blend still optimises F1
    ("multiclass", "mlogloss"): "mlogloss",
    ("multiclass", "accuracy"): "merror",
}
_UNUSED_PARAMETERS = re.compile(r"Parameters: \{(.*?)\} are not used", re.DOTALL)
logger = logging.getLogger(__name__)
_TRAIN_ARGUMENTS = ("num_boost_round", "early_stopping_rounds")


class XGBoostModel:
    name = "xgboost"

    def __init__(self, params: BoosterParams, overrides: Mapping[str, Any], n_threads: int) -> None:
        self.params = params
        self.overrides = dict(overrides)
        self.n_threads = n_threads
        self.booster_: xgb.Booster | None = None
        self.best_iteration_ = 0

    def _library_params(self) -> dict[str, Any]:
        p = self.params
        params: dict[str, Any] = {
            "objective": _OBJECTIVES[p.problem_type],
            "eval_metric": _EVAL_METRICS[(p.problem_type, p.eval_metric)],
            "tree_method": "hist",
            "eta": p.learning_rate,
            "max_depth": p.max_depth,
            "seed": p.seed,
            "nthread": self.n_threads,
            "verbosity": 1,  # warnings only; they arrive as Python warnings and are read in fit
        }
        if p.problem_type == "multiclass":
            params["num_class"] = p.n_classes
        if p.subsample is not None:
            params["subsample"] = p.subsample
        if p.colsample_bytree is not None:
            params["colsample_bytree"] = p.colsample_bytree
        if p.reg_lambda is not None:
            params["lambda"] = p.reg_lambda
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
    ) -> XGBoostModel:
        num_round = int(self.overrides.get("num_boost_round", self.params.num_round))
        stopping = int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))
        try:
            types = ["c" if i in categorical_features else "q" for i in range(X.shape[1])]
            common = {"feature_names": library_feature_names(len(feature_names)), "feature_types": types,
                      "nthread": self.n_threads,
                      "enable_categorical": bool(categorical_features)}
            dtrain = xgb.DMatrix(X, label=y, **common)
            dvalid = xgb.DMatrix(X_valid, label=y_valid, **common)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                booster = xgb.train(
                    self._library_params(),
                    dtrain,
                    num_boost_round=num_round,
                    evals=[(dvalid, "valid")],
                    early_stopping_rounds=stopping or None,
                    verbose_eval=False,
                    callbacks=[_StopWhenAsked(should_stop)] if should_stop else None,
                )
        except xgb.core.XGBoostError as exc:
            raise library_error("xgboost", exc, self.overrides) from exc
        unknown: set[str] = set()
        for warning in caught:
            text = str(warning.message)
            found = _UNUSED_PARAMETERS.search(text)
            if found:
                unknown.update(name.strip().strip('"') for name in found.group(1).split(","))
            else:
                logger.warning("xgboost: %s", " ".join(text.split()))
        rejected = unknown_parameters_error("xgboost", unknown, self.overrides)
        if rejected is not None:
            raise rejected
        rounds = _rounds_kept(booster, stopping)
        self.booster_ = booster[:rounds]
        self.best_iteration_ = rounds
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("XGBoostModel.predict called before fit.")
        return np.asarray(self.booster_.inplace_predict(X, validate_features=False), dtype=np.float64)

    def save(self, path: Path) -> None:
        if self.booster_ is None:
            raise NotFittedError("XGBoostModel.save called before fit.")
        self.booster_.save_model(str(path))

    def feature_importance(self) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("XGBoostModel.feature_importance called before fit.")
        names = self.booster_.feature_names or library_feature_names(self.booster_.num_features())
        gains = self.booster_.get_score(importance_type="total_gain")
        return np.array([float(gains.get(name, 0.0)) for name in names], dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> XGBoostModel:
        booster = xgb.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": n_threads})
        model = cls(BoosterParams(0.0, 0, 0, 0, 0), {}, n_threads)
        model.booster_ = booster
        model.best_iteration_ = booster.num_boosted_rounds()
        return model



def fit_dask(
    model: XGBoostModel, client: Any, parts: DaskParts, should_stop: Callable[[], bool] | None
) -> XGBoostModel:
    """Train across the cluster with ``xgboost.dask``: every host boosts on its own blocks, the hosts agree
    on each round's histograms and on the held-out metric (early stopping sees every held-out row)."""
    from xgboost import collective
    from xgboost import dask as dxgb  # only a sharded multi-host job imports Dask

    # The tracker that pairs the hosts runs beside the scheduler, on the cluster's address (by default it
    # would guess an address from a route to the internet, which a training network may not have).
    scheduler_host = urlsplit(str(client.scheduler.address)).hostname

    num_round = int(model.overrides.get("num_boost_round", model.params.num_round))
    stopping = int(model.overrides.get("early_stopping_rounds", model.params.early_stopping_rounds))
    types = ["c" if i in parts.categorical_features else "q" for i in range(len(parts.feature_names))]
    common = {"feature_names": library_feature_names(len(parts.feature_names)), "feature_types": types,
              "enable_categorical": bool(parts.categorical_features)}
    params = {k: v for k, v in model._library_params().items() if k != "nthread"}  # each host uses its cores
    try:
        with client.as_current():  # xgboost.dask checks the client against the current one
            dtrain = dxgb.DaskDMatrix(client, parts.X, parts.y, **common)
            dvalid = dxgb.DaskDMatrix(client, parts.X_valid, parts.y_valid, **common)
            output = dxgb.train(client, params, dtrain, num_boost_round=num_round, evals=[(dvalid, "valid")],
                                early_stopping_rounds=stopping or None, verbose_eval=False,
                                callbacks=[_AgreedStop(should_stop)] if should_stop else None,
                                coll_cfg=collective.Config(tracker_host_ip=scheduler_host))
    except xgb.core.XGBoostError as exc:
        raise library_error("xgboost", exc, model.overrides) from exc
    booster: xgb.Booster = output["booster"]
    rounds = _rounds_kept(booster, stopping)
    booster.set_param({"nthread": model.n_threads})
    model.booster_ = booster[:rounds]
    model.best_iteration_ = rounds
    return model


def _rounds_kept(booster: xgb.Booster, stopping: int) -> int:
    """The rounds up to the best one when early stopping ran; all of them otherwise, and when a stop
    request ended the job in its first round, before early stopping had recorded a best round."""
    if stopping and "best_iteration" in booster.attributes():
        return booster.best_iteration + 1
    return booster.num_boosted_rounds()


class _AgreedStop(xgb.callback.TrainingCallback):
    """``_StopWhenAsked`` across hosts: a round ends the training on every host once any host's
    ``should_stop`` answers True (a host stopping alone would leave the others waiting for it).

    Every host calls it after every round, and the allreduce inside is matched on every host, because
    XGBoost runs the user's callbacks before its own early stopping and ends the round loop at the first
    True: early stopping too decides on an allreduced metric, so all hosts leave the loop together.
    """

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        from xgboost import collective

        asked = np.array([1 if self.should_stop() else 0], dtype=np.int32)
        return bool(collective.allreduce(asked, collective.Op.MAX)[0])


class _StopWhenAsked(xgb.callback.TrainingCallback):
    """Ends boosting after the round in which ``should_stop`` answers True."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return bool(self.should_stop())


_IDENTITY_OBJECTIVES = frozenset(
    {"reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"}
)
"""Objectives whose prediction is the margin itself, so the mean of predictions is the mean of margins."""


def merge_folds(models: Sequence[Model]) -> XGBoostModel | None:
    """One booster predicting the mean of the fold boosters: all their trees, leaf values scaled by 1/k.

    For the objectives in ``_IDENTITY_OBJECTIVES`` a booster predicts ``base_score + sum(leaves)``, so
    the mean of k folds is ``mean(base_score) + sum(leaf / k)`` over every fold's trees; the merged
    model's ``base_score`` (``learner_model_param``) is the mean of the folds'. XGBoost adds leaves in
    float32, so the merged prediction differs from the fold mean by float32 rounding only (at most about
    n_trees * 2**-24 relative). Other objectives, dart and gblinear boosters, multi-output and categorical
    models stay unmerged.
    """
    fitted = [m for m in models if isinstance(m, XGBoostModel) and m.booster_ is not None]
    if not fitted or len(fitted) != len(models):
        return None
    documents = [json.loads(m.booster_.save_raw("json")) for m in fitted]  # type: ignore[union-attr]
    try:
        merged = _merged_document(documents)
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # a model layout this code does not know: keep the folds
    if merged is None:
        return None
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(merged).encode("utf-8")))
    booster.set_param({"nthread": fitted[0].n_threads})
    model = ServingXGBoostModel(BoosterParams(0.0, 0, 0, 0, 0), {}, fitted[0].n_threads)
    model.booster_ = booster
    model.best_iteration_ = booster.num_boosted_rounds()
    model.dense_predictor_ = DensePredictor.for_booster(booster)
    return model


class ServingXGBoostModel(XGBoostModel):
    """A loaded model that predicts float64 rows through ``DensePredictor`` when it is available."""

    dense_predictor_: DensePredictor | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.dense_predictor_ is not None and X.dtype == np.float64 and X.ndim == 2:
            return self.dense_predictor_(X)
        return super().predict(X)


class DensePredictor:
    """XGBoost's C inplace prediction (``XGBoosterPredictFromDense``) for dense float64 rows.

    ``Booster.inplace_predict`` makes a new proxy DMatrix on every call, whose context reads the cgroup
    CPU-quota files (about ten system calls), and rebuilds its JSON arguments in Python; for one row that
    is most of the call. This keeps one proxy DMatrix (the C API takes it for meta information, as
    ``inplace_predict`` does for a base margin) and the configuration string, so a one-row call costs
    about a third. It uses the same C function, so the predictions are the same bits (``for_booster``
    checks that); calls are serialised by a lock, as the proxy is shared.
    """

    _CONFIG = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                          "strict_shape": False, "missing": float("nan"), "cache_id": 0}).encode("utf-8")

    def __init__(self, booster: xgb.Booster) -> None:
        from xgboost import core  # the C library handle and its error check live there

        self._booster = booster
        self._lib = core._LIB
        self._check = core._check_call
        self._proxy = core._ProxyDMatrix()
        self._shape = ctypes.POINTER(core.c_bst_ulong)()
        self._dims = core.c_bst_ulong()
        self._out = ctypes.POINTER(ctypes.c_float)()
        self._lock = threading.Lock()

    @classmethod
    def for_booster(cls, booster: xgb.Booster) -> DensePredictor | None:
        """The fast path, if this XGBoost has it and it predicts exactly what ``inplace_predict`` does."""
        try:
            predictor = cls(booster)
            rows = np.random.default_rng(0).normal(scale=100.0, size=(16, booster.num_features()))
            rows[::3, ::2] = np.nan
            expected = booster.inplace_predict(rows, validate_features=False)
            if not np.array_equal(predictor(rows), expected, equal_nan=True):
                return None
        except Exception:  # noqa: BLE001 - an XGBoost without these internals keeps inplace_predict
            return None
        return predictor

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        interface = json.dumps({"data": [X.ctypes.data, True], "shape": list(X.shape), "strides": None,
                                "typestr": X.dtype.str, "version": 3}).encode("utf-8")
        with self._lock:
            self._check(self._lib.XGBoosterPredictFromDense(
                self._booster.handle, interface, self._CONFIG, self._proxy.handle,
                ctypes.byref(self._shape), ctypes.byref(self._dims), ctypes.byref(self._out),
            ))
            if self._dims.value != 1 or self._shape[0] != X.shape[0]:
                raise AlgorithmError(f"xgboost answered shape {self._shape[0]} x {self._dims.value} "
                                     f"for {X.shape[0]} rows.")
            return np.ctypeslib.as_array(self._out, shape=(X.shape[0],)).astype(np.float64)


def _merged_document(documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    first = documents[0]["learner"]
    k = len(documents)
    base_scores: list[float] = []
    trees: list[dict[str, Any]] = []
    for document in documents:
        learner = document["learner"]
        param = learner["learner_model_param"]
        model = learner["gradient_booster"].get("model", {})
        if (
            learner["gradient_booster"]["name"] != "gbtree"
            or learner["objective"]["name"] not in _IDENTITY_OBJECTIVES
            or param.get("num_class", "0") != "0"
            or param.get("num_target", "1") != "1"
            or param["num_feature"] != first["learner_model_param"]["num_feature"]
            or learner.get("feature_names") != first.get("feature_names")
            or any(model.get("cats", {}).values())
        ):
            return None
        base_scores.append(_single_value(param["base_score"]))
        for tree in model["trees"]:
            if any(tree["split_type"]) or tree["tree_param"].get("size_leaf_vector", "1") not in ("0", "1"):
                return None
            leaves = [child == -1 for child in tree["left_children"]]
            tree["split_conditions"] = [v / k if leaf else v
                                        for v, leaf in zip(tree["split_conditions"], leaves, strict=True)]
            tree["base_weights"] = [v / k for v in tree["base_weights"]]
            tree["id"] = len(trees)
            trees.append(tree)
    merged = documents[0]
    learner = merged["learner"]
    base = repr(sum(base_scores) / k)
    bracketed = str(learner["learner_model_param"]["base_score"]).startswith("[")
    learner["learner_model_param"]["base_score"] = f"[{base}]" if bracketed else base
    learner["attributes"] = {}  # no best_iteration: every tree counts
    model = learner["gradient_booster"]["model"]
    model["trees"] = trees
    model["tree_info"] = [0] * len(trees)
    model["iteration_indptr"] = list(range(len(trees) + 1))
    model["gbtree_model_param"] = {**model["gbtree_model_param"], "num_trees": str(len(trees)),
                                   "num_parallel_tree": "1"}
    return merged


def _single_value(text: str) -> float:
    """``"[1.5E2]"`` (XGBoost >= 2) or ``"1.5E2"`` -> 150.0; a vector of several values is refused."""
    values = str(text).strip().strip("[]").split(",")
    if len(values) != 1:
        raise ValueError(f"base_score {text!r} holds {len(values)} values")
    return float(values[0])


SPEC = ModelSpec(
    name=XGBoostModel.name,
    file_suffix=".ubj",
    create=XGBoostModel,
    load=XGBoostModel.load,
    library_version=lambda: str(xgb.__version__),
    merge_folds=merge_folds,
    fit_dask=fit_dask,
)
