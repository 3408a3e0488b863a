"""XGBoost adapter: native UBJSON model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from ensemble_byoc.errors import NotFittedError
from ensemble_byoc.models.base import BoosterParams, ModelSpec, library_error

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
            "objective": "reg:squarederror",
            "eval_metric": "rmse",
            "tree_method": "hist",
            "eta": p.learning_rate,
            "max_depth": p.max_depth,
            "seed": p.seed,
            "nthread": self.n_threads,
            "verbosity": 0,
        }
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
    ) -> XGBoostModel:
        num_round = int(self.overrides.get("num_boost_round", self.params.num_round))
        stopping = int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))
        try:
            dtrain = xgb.DMatrix(X, label=y, feature_names=list(feature_names), nthread=self.n_threads)
            dvalid = xgb.DMatrix(X_valid, label=y_valid, feature_names=list(feature_names), nthread=self.n_threads)
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
        rounds = booster.best_iteration + 1 if stopping else booster.num_boosted_rounds()
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

    @classmethod
    def load(cls, path: Path, n_threads: int) -> XGBoostModel:
        booster = xgb.Booster()
        booster.load_model(str(path))
        booster.set_param({"nthread": n_threads})
        model = cls(BoosterParams(0.0, 0, 0, 0, 0), {}, n_threads)
        model.booster_ = booster
        model.best_iteration_ = booster.num_boosted_rounds()
        return model



class _StopWhenAsked(xgb.callback.TrainingCallback):
    """Ends boosting after the round in which ``should_stop`` answers True."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return bool(self.should_stop())


SPEC = ModelSpec(
    name=XGBoostModel.name,
    file_suffix=".ubj",
    create=XGBoostModel,
    load=XGBoostModel.load,
    library_version=lambda: str(xgb.__version__),
)
