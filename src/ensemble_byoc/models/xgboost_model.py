"""XGBoost adapter: native UBJSON model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import xgboost as xgb

from ensemble_byoc.models.base import (
    DEFAULT_DEPTH,
    DaskParts,
    FoldRows,
    Model,
    ModelSpec,
    library_feature_names,
)
from ensemble_byoc.models.xgboost_merge import merged_document
from ensemble_byoc.models.xgboost_predict import DensePredictor

_OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob"}
_REGRESSION_OBJECTIVES = {"squared_error": "reg:squarederror", "absolute_error": "reg:absoluteerror",
                          "huber": "reg:pseudohubererror"}  # XGBoost's smooth huber, slope = the delta
_EVAL_METRICS = {  # problem type -> our metric -> XGBoost's (no F1: stop on log loss, the blend optimises F1)
    "regression": {"rmse": "rmse", "mae": "mae"},
    "binary": {"auc": "auc", "logloss": "logloss", "accuracy": "error", "f1": "logloss"},
    "multiclass": {"mlogloss": "mlogloss", "accuracy": "merror"},
}
_UNUSED_PARAMETERS = re.compile(r"Parameters: \{(.*?)\} are not used", re.DOTALL)
logger = logging.getLogger(__name__)


class XGBoostModel(Model):
    name = "xgboost"
    library_errors = (xgb.core.XGBoostError,)
    input_dtype = np.float32  # the library reads features as float32
    shared_names = {"subsample": "subsample", "colsample_bytree": "colsample_bytree", "reg_lambda": "lambda"}

    def _own_params(self) -> dict[str, Any]:
        p = self.params
        params: dict[str, Any] = {
            "objective": _REGRESSION_OBJECTIVES[p.objective] if p.problem_type == "regression"
            else _OBJECTIVES[p.problem_type],
            "eval_metric": _EVAL_METRICS[p.problem_type][p.eval_metric],
            "tree_method": "hist",
            "eta": p.learning_rate,
            "max_depth": DEFAULT_DEPTH if p.max_depth is None else p.max_depth,
            "seed": p.seed,
            "nthread": self.n_threads,
            "verbosity": 1,  # warnings only; they arrive as Python warnings and are read in fit
        }
        if p.problem_type == "multiclass":
            params["num_class"] = p.n_classes
        if p.problem_type == "regression" and p.objective == "huber":
            params["huber_slope"] = p.huber_delta
        return params

    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[xgb.Booster, int]:
        num_round, stopping = self.num_rounds(), self.stopping_rounds()
        params = self.library_params()
        dtrain, dvalid = _train_matrices(rows, params, self.n_threads)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            booster = xgb.train(
                _huber_start(params, lambda: float(np.median(rows.y))),
                dtrain,
                num_boost_round=num_round,
                evals=[(dvalid, "valid")],
                early_stopping_rounds=stopping or None,
                verbose_eval=False,
                callbacks=[_StopWhenAsked(should_stop)] if should_stop else None,
            )
        self._read_warnings(caught)
        rounds = _rounds_kept(booster, stopping)
        return booster[:rounds], rounds

    def _read_warnings(self, caught: list[warnings.WarningMessage]) -> None:
        """Refuse the overrides XGBoost warned it does not use; log its other warnings."""
        unknown: set[str] = set()
        for warning in caught:
            text = str(warning.message)
            found = _UNUSED_PARAMETERS.search(text)
            if found:
                unknown.update(name.strip().strip('"') for name in found.group(1).split(","))
            else:
                logger.warning("xgboost: %s", " ".join(text.split()))
        self.refuse_unknown_parameters(unknown)

    def predict(self, X: np.ndarray) -> np.ndarray:
        booster = self.fitted("predict")
        return np.asarray(booster.inplace_predict(X, validate_features=False), dtype=np.float64)

    def use_threads(self, n_threads: int) -> None:
        super().use_threads(n_threads)
        if self.booster_ is not None:  # inplace prediction runs on the booster's own nthread
            self.booster_.set_param({"nthread": n_threads})

    def contributions(self, X: np.ndarray) -> np.ndarray:
        booster = self.fitted("contributions")
        types = booster.feature_types
        matrix = xgb.DMatrix(X, feature_names=booster.feature_names, feature_types=types,
                             enable_categorical=bool(types and "c" in types), nthread=self.n_threads)
        values = booster.predict(matrix, pred_contribs=True, validate_features=False)
        return np.asarray(values, dtype=np.float64).reshape(X.shape[0], -1, X.shape[1] + 1)

    def save(self, path: Path) -> None:
        self.fitted("save").save_model(str(path))

    def feature_importance(self) -> np.ndarray:
        booster = self.fitted("feature_importance")
        names = booster.feature_names or library_feature_names(booster.num_features())
        gains = booster.get_score(importance_type="total_gain")
        return np.array([float(gains.get(name, 0.0)) for name in names], dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> XGBoostModel:
        booster = _booster_from(str(path), n_threads)
        return cls.from_booster(booster, n_threads, booster.num_boosted_rounds())


def _booster_from(source: str | bytearray, n_threads: int) -> xgb.Booster:
    """A booster read from a model file (its path) or from a model document's bytes."""
    booster = xgb.Booster()
    booster.load_model(source)
    booster.set_param({"nthread": n_threads})
    return booster


def _matrix_arguments(rows: FoldRows) -> dict[str, Any]:
    """The ``DMatrix`` arguments naming the columns (``f0``...) and marking the categorical ones."""
    types = ["c" if i in rows.categorical_features else "q" for i in range(len(rows.feature_names))]
    return {"feature_names": library_feature_names(len(rows.feature_names)), "feature_types": types,
            "enable_categorical": bool(rows.categorical_features)}


def _train_matrices(
    rows: FoldRows, params: dict[str, Any], n_threads: int
) -> tuple[xgb.DMatrix, xgb.DMatrix]:
    """The fold's training and validation matrices. With the hist method (the product's), a
    ``QuantileDMatrix`` bins the rows as it reads them, about one byte per value where a ``DMatrix`` keeps
    eight, for the same bins and models (compared bit for bit); the validation rows take the training
    rows' bins. Another ``tree_method`` a user sets gets the ``DMatrix`` it needs."""
    matrix = {**_matrix_arguments(rows), "nthread": n_threads}
    if str(params.get("tree_method", "hist")) != "hist":
        return (xgb.DMatrix(rows.X, label=rows.y, **matrix),
                xgb.DMatrix(rows.X_valid, label=rows.y_valid, **matrix))
    bins = int(params.get("max_bin", 256))
    dtrain = xgb.QuantileDMatrix(rows.X, label=rows.y, max_bin=bins, **matrix)
    return dtrain, xgb.QuantileDMatrix(rows.X_valid, label=rows.y_valid, ref=dtrain, max_bin=bins, **matrix)


def _huber_start(params: dict[str, Any], centre: Callable[[], float]) -> dict[str, Any]:
    """XGBoost's own first estimate for pseudo-Huber runs away on labels far from 0 (3e8 for labels near
    1,000): start from the labels' centre instead, unless the user set ``base_score``."""
    if params.get("objective") != "reg:pseudohubererror" or "base_score" in params:
        return params
    return {**params, "base_score": centre()}


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

    num_round, stopping = model.num_rounds(), model.stopping_rounds()
    matrix = _matrix_arguments(parts)
    params = {k: v for k, v in model.library_params().items() if k != "nthread"}  # each host uses its cores
    with model.library_call(), client.as_current():  # xgboost.dask checks the client against the current one
        params = _huber_start(params, lambda: float(parts.y.mean().compute()))
        dtrain = dxgb.DaskDMatrix(client, parts.X, parts.y, **matrix)
        dvalid = dxgb.DaskDMatrix(client, parts.X_valid, parts.y_valid, **matrix)
        output = dxgb.train(client, params, dtrain, num_boost_round=num_round, evals=[(dvalid, "valid")],
                            early_stopping_rounds=stopping or None, verbose_eval=False,
                            callbacks=[_AgreedStop(should_stop)] if should_stop else None,
                            coll_cfg=collective.Config(tracker_host_ip=scheduler_host))
    booster: xgb.Booster = output["booster"]
    rounds = _rounds_kept(booster, stopping)
    booster.set_param({"nthread": model.n_threads})
    return model.keep(booster[:rounds], rounds)


def _rounds_kept(booster: xgb.Booster, stopping: int) -> int:
    """The rounds up to the best one when early stopping ran; all of them otherwise, and when a stop
    request ended the job in its first round, before early stopping had recorded a best round."""
    if stopping and "best_iteration" in booster.attributes():
        return booster.best_iteration + 1
    return booster.num_boosted_rounds()


class _StopWhenAsked(xgb.callback.TrainingCallback):
    """Ends boosting after the round in which ``should_stop`` answers True."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return bool(self.should_stop())


class _AgreedStop(_StopWhenAsked):
    """``_StopWhenAsked`` across hosts: a round ends the training on every host once any host's
    ``should_stop`` answers True (a host stopping alone would leave the others waiting for it).

    Every host calls it after every round, and the allreduce inside is matched on every host, because
    XGBoost runs the user's callbacks before its own early stopping and ends the round loop at the first
    True: early stopping too decides on an allreduced metric, so all hosts leave the loop together.
    """

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        from xgboost import collective

        asked = np.array([1 if self.should_stop() else 0], dtype=np.int32)
        return bool(collective.allreduce(asked, collective.Op.MAX)[0])


def merge_folds(models: Sequence[Model]) -> XGBoostModel | None:
    """One booster predicting the mean of the fold boosters (``xgboost_merge.merged_document``), served
    through ``DensePredictor`` when it predicts the same bits."""
    fitted = XGBoostModel.all_fitted(models)
    if fitted is None:
        return None
    merged = merged_document([json.loads(m.fitted("merge").save_raw("json")) for m in fitted])
    if merged is None:
        return None
    n_threads = fitted[0].n_threads
    booster = _booster_from(bytearray(json.dumps(merged).encode("utf-8")), n_threads)
    model = ServingXGBoostModel.from_booster(booster, n_threads, booster.num_boosted_rounds())
    model.dense_predictor_ = DensePredictor.for_booster(booster)
    return model


class ServingXGBoostModel(XGBoostModel):
    """A loaded model that predicts float64 rows through ``DensePredictor`` when it is available."""

    dense_predictor_: DensePredictor | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.dense_predictor_ is not None and X.dtype == np.float64 and X.ndim == 2:
            return self.dense_predictor_(X)
        return super().predict(X)


SPEC = ModelSpec(XGBoostModel, ".ubj", library_version=lambda: str(xgb.__version__),
                 merge_folds=merge_folds, fit_dask=fit_dask)
