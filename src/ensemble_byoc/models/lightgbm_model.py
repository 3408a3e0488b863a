"""LightGBM adapter: native text model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from ensemble_byoc.errors import NotFittedError
from ensemble_byoc.models.base import BoosterParams, ModelSpec, library_error

_TRAIN_ARGUMENTS = ("num_boost_round", "early_stopping_rounds")
_MAX_LEAVES = 131072


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
            "objective": "regression",
            "metric": "rmse",
            "learning_rate": p.learning_rate,
            "max_depth": p.max_depth,
            "num_leaves": min(2**p.max_depth, _MAX_LEAVES),
            "seed": p.seed,
            "num_threads": self.n_threads,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
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
    ) -> LightGBMModel:
        num_round = int(self.overrides.get("num_boost_round", self.params.num_round))
        stopping = int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))
        _route_library_log()
        try:
            dtrain = lgb.Dataset(X, label=y, feature_name=list(feature_names), free_raw_data=True)
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

    @classmethod
    def load(cls, path: Path, n_threads: int) -> LightGBMModel:
        model = cls(BoosterParams(0.0, 0, 0, 0, 0), {}, n_threads)
        model.booster_ = lgb.Booster(model_file=str(path))
        model.best_iteration_ = model.booster_.current_iteration()
        return model


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
        if results and results[0][2] < self.best_score:
            self.best_score, self.best_iteration, self.best_results = results[0][2], env.iteration, results
        if self.should_stop():
            best = self.best_iteration if self.keep_best and self.best_iteration >= 0 else env.iteration
            raise lgb.callback.EarlyStopException(best, self.best_results or results)


class _LibraryLog:
    """LightGBM's logger interface, forwarding its messages to ours at debug level."""

    def __init__(self) -> None:
        self._logger = logging.getLogger("ensemble_byoc.lightgbm")

    def info(self, msg: str) -> None:
        self._logger.debug("%s", msg.rstrip())

    def warning(self, msg: str) -> None:
        self._logger.warning("%s", msg.rstrip())


def _route_library_log() -> None:
    lgb.register_logger(_LibraryLog())



SPEC = ModelSpec(
    name=LightGBMModel.name,
    file_suffix=".txt",
    create=LightGBMModel,
    load=LightGBMModel.load,
    library_version=lambda: str(lgb.__version__),
)
