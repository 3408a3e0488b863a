"""CatBoost adapter: native .cbm model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas as pd

from ensemble_byoc.errors import NotFittedError
from ensemble_byoc.models.base import BoosterParams, Model, ModelSpec, library_error, library_feature_names

_TRAIN_ARGUMENTS = ("early_stopping_rounds",)
_LOSSES = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}
_PROBABILISTIC_LOSSES = ("Logloss", "MultiClass")
_EVAL_METRICS = {
    ("regression", "rmse"): "RMSE",
    ("binary", "auc"): "AUC",
    ("binary", "logloss"): "Logloss",
    ("binary", "accuracy"): "Accuracy",
    ("binary", "f1"): "F1",
    ("multiclass", "mlogloss"): "MultiClass",
    ("multiclass", "accuracy"): "Accuracy",
}


class CatBoostModel:
    name = "catboost"

    def __init__(self, params: BoosterParams, overrides: Mapping[str, Any], n_threads: int) -> None:
        self.params = params
        self.overrides = dict(overrides)
        self.n_threads = n_threads
        self.booster_: catboost.CatBoost | None = None
        self.loss_: str | None = None
        self.cat_features_: list[int] = []
        self.best_iteration_ = 0

    def _library_params(self) -> dict[str, Any]:
        p = self.params
        params: dict[str, Any] = {
            "loss_function": _LOSSES[p.problem_type],
            "eval_metric": _EVAL_METRICS[(p.problem_type, p.eval_metric)],
            "iterations": p.num_round,
            "learning_rate": p.learning_rate,
            "depth": p.max_depth,
            "random_seed": p.seed,
            "thread_count": self.n_threads,
            "logging_level": "Silent",
            "allow_writing_files": False,
        }
        if p.subsample is not None:
            params["subsample"] = p.subsample
        if p.colsample_bytree is not None:
            params["rsm"] = p.colsample_bytree
        if p.reg_lambda is not None:
            params["l2_leaf_reg"] = p.reg_lambda
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
    ) -> CatBoostModel:
        stopping = int(self.overrides.get("early_stopping_rounds", self.params.early_stopping_rounds))
        try:
            model = catboost.CatBoost(self._library_params())
            cats = list(categorical_features)
            names = library_feature_names(len(feature_names))
            model.fit(
                catboost.Pool(_with_category_codes(X, cats, names), label=y, feature_names=names,
                              cat_features=cats or None),
                eval_set=catboost.Pool(_with_category_codes(X_valid, cats, names), label=y_valid,
                                       feature_names=names, cat_features=cats or None),
                early_stopping_rounds=stopping or None,
                use_best_model=bool(stopping),
                callbacks=[_StopWhenAsked(should_stop)] if should_stop else None,
            )
        except catboost.CatBoostError as exc:
            raise library_error("catboost", exc, self.overrides) from exc
        self.booster_ = model
        self.best_iteration_ = int(model.tree_count_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("CatBoostModel.predict called before fit.")
        if self.loss_ is None:
            self.loss_ = _loss_of(self.booster_)
            self.cat_features_ = _cat_features_of(self.booster_)
        loss = self.loss_
        if self.cat_features_:
            X = _with_category_codes(X, self.cat_features_, self.booster_.feature_names_)
        if loss in _PROBABILISTIC_LOSSES:
            probabilities = np.asarray(
                self.booster_.predict(X, prediction_type="Probability", thread_count=self.n_threads),
                dtype=np.float64,
            )
            return probabilities[:, 1] if loss == "Logloss" else probabilities
        prediction = self.booster_.predict(X, prediction_type="RawFormulaVal", thread_count=self.n_threads)
        return np.asarray(prediction, dtype=np.float64)

    def save(self, path: Path) -> None:
        if self.booster_ is None:
            raise NotFittedError("CatBoostModel.save called before fit.")
        self.booster_.save_model(str(path), format="cbm")

    def feature_importance(self) -> np.ndarray:
        if self.booster_ is None:
            raise NotFittedError("CatBoostModel.feature_importance called before fit.")
        return np.asarray(self.booster_.get_feature_importance(type="PredictionValuesChange"),
                          dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> CatBoostModel:
        model = cls(BoosterParams(0.0, 0, 0, 0, 0), {}, n_threads)
        booster = catboost.CatBoost()
        booster.load_model(str(path), format="cbm")
        model.booster_ = booster
        model.best_iteration_ = int(booster.tree_count_)
        return model



MISSING_CATEGORY = -1
"""CatBoost takes categories as integers and has no missing category: a missing (NaN) code becomes -1."""


def _with_category_codes(X: np.ndarray, cat_features: list[int], names: Sequence[str] | None = None) -> Any:
    """``X`` as CatBoost takes it: the categorical columns as integer codes, the others as floats."""
    if not cat_features:
        return X
    frame = pd.DataFrame(X, columns=list(names) if names is not None else None)
    columns = list(frame.columns)
    for column in cat_features:
        frame[columns[column]] = np.nan_to_num(X[:, column], nan=MISSING_CATEGORY).astype(np.int64)
    return frame


def _cat_features_of(booster: catboost.CatBoost) -> list[int]:
    try:
        return [int(i) for i in booster.get_cat_feature_indices()]
    except catboost.CatBoostError:  # a model made by sum_models keeps no feature metadata
        return []


def _loss_of(booster: catboost.CatBoost) -> str:
    """The loss a CatBoost model was trained with; a model made by ``sum_models`` keeps no parameters and
    is only ever built from RMSE models here."""
    try:
        return str(booster.get_all_params().get("loss_function", "RMSE")).split(":")[0]
    except catboost.CatBoostError:
        return "RMSE"


class _StopWhenAsked:
    """Ends boosting after the round in which ``should_stop`` answers True."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def after_iteration(self, info: Any) -> bool:
        return not self.should_stop()  # CatBoost goes on while this is True


_IDENTITY_LOSSES = frozenset({"RMSE", "MAE", "Quantile", "Huber", "Expectile", "MAPE", "Lq"})
"""Losses whose prediction is the raw formula value, so the mean of predictions is the mean of raw values."""


def merge_folds(models: Sequence[Model]) -> CatBoostModel | None:
    """One model whose RawFormulaVal is the mean of the fold models': ``sum_models`` with weights 1/k.

    CatBoost sums the weighted leaf values and biases, so the merge is exact up to double rounding.
    Models of other losses (a link function), and models with categorical, text or embedding features
    (``sum_models`` merges their counter tables by a policy rather than summing) stay unmerged.
    """
    fitted = [m for m in models if isinstance(m, CatBoostModel) and m.booster_ is not None]
    if not fitted or len(fitted) != len(models):
        return None
    boosters = [m.booster_ for m in fitted]
    for booster in boosters:
        loss = str(booster.get_all_params().get("loss_function", "")).split(":")[0]
        if (loss not in _IDENTITY_LOSSES or booster.get_cat_feature_indices()
                or booster.get_text_feature_indices() or booster.get_embedding_feature_indices()):
            return None
    merged = catboost.sum_models(boosters, weights=[1.0 / len(boosters)] * len(boosters))
    model = CatBoostModel(BoosterParams(0.0, 0, 0, 0, 0), {}, fitted[0].n_threads)
    model.booster_ = merged
    model.best_iteration_ = int(merged.tree_count_)
    return model


SPEC = ModelSpec(
    name=CatBoostModel.name,
    file_suffix=".cbm",
    create=CatBoostModel,
    load=CatBoostModel.load,
    library_version=lambda: str(catboost.__version__),
    merge_folds=merge_folds,
)
