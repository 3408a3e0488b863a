"""CatBoost adapter: native .cbm model files, early stopping on the fold's held-out slice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas as pd

from ensemble_byoc.models.base import (
    DEFAULT_DEPTH,
    BoosterParams,
    FoldRows,
    Model,
    ModelSpec,
    library_feature_names,
)

_LOSSES = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}
_PROBABILISTIC_LOSSES = ("Logloss", "MultiClass")
_EVAL_METRICS = {  # problem type -> our metric -> CatBoost's
    "regression": {"rmse": "RMSE", "mae": "MAE"},
    "binary": {"auc": "AUC", "logloss": "Logloss", "accuracy": "Accuracy", "f1": "F1"},
    "multiclass": {"mlogloss": "MultiClass", "accuracy": "Accuracy"},
}


def _loss(p: BoosterParams) -> str:
    if p.problem_type != "regression" or p.objective == "squared_error":
        return _LOSSES[p.problem_type]
    return "MAE" if p.objective == "absolute_error" else f"Huber:delta={p.huber_delta!r}"


class CatBoostModel(Model):
    name = "catboost"
    library_errors = (catboost.CatBoostError,)
    input_dtype = np.float32  # the library reads features as float32
    input_order = "F"  # it keeps features column by column, and reads a column-major float32 matrix in place
    train_arguments = ("early_stopping_rounds",)  # the rounds are CatBoost's ``iterations`` parameter
    shared_names = {"subsample": "subsample", "colsample_bytree": "rsm", "reg_lambda": "l2_leaf_reg"}
    loss_: str | None = None
    """The loss the model was trained with, read from the booster when it first predicts."""
    cat_features_: tuple[int, ...] = ()

    def _own_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "loss_function": _loss(p),
            "eval_metric": _EVAL_METRICS[p.problem_type][p.eval_metric],
            "iterations": p.num_round,
            "learning_rate": p.learning_rate,
            "depth": DEFAULT_DEPTH if p.max_depth is None else p.max_depth,
            "random_seed": p.seed,
            "thread_count": self.n_threads,
            "logging_level": "Silent",
            "allow_writing_files": False,
        }

    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[catboost.CatBoost, int]:
        stopping = self.stopping_rounds()
        params = self.library_params()
        model = catboost.CatBoost(params)
        cats = list(rows.categorical_features)
        names = library_feature_names(len(rows.feature_names))
        # Huber cannot boost from the labels' average in CatBoost: start from their median, kept as the bias
        start = float(np.median(rows.y)) if str(params["loss_function"]).startswith("Huber") else None

        def pool(X: np.ndarray, y: np.ndarray) -> catboost.Pool:
            return catboost.Pool(_with_category_codes(X, cats, names), label=y, feature_names=names,
                                 cat_features=cats or None,
                                 baseline=None if start is None else np.full(len(y), start))

        model.fit(pool(rows.X, rows.y), eval_set=pool(rows.X_valid, rows.y_valid),
                  early_stopping_rounds=stopping or None, use_best_model=bool(stopping),
                  callbacks=[_StopWhenAsked(should_stop)] if should_stop else None)
        if start is not None:
            scale, bias = model.get_scale_and_bias()
            model.set_scale_and_bias(scale, bias + start)
        # The fitted object also keeps its training state, for a later fit to continue from: about 100
        # bytes a training row (80 MiB at 800,000 rows), held as long as the model. A copy holds the model.
        return model.copy(), int(model.tree_count_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        booster = self.fitted("predict")
        loss = self._read_loss(booster)
        if self.cat_features_:
            X = _with_category_codes(X, self.cat_features_, booster.feature_names_)
        if loss in _PROBABILISTIC_LOSSES:
            probabilities = np.asarray(
                booster.predict(X, prediction_type="Probability", thread_count=self.n_threads),
                dtype=np.float64,
            )
            return probabilities[:, 1] if loss == "Logloss" else probabilities
        prediction = booster.predict(X, prediction_type="RawFormulaVal", thread_count=self.n_threads)
        return np.asarray(prediction, dtype=np.float64)

    def _read_loss(self, booster: catboost.CatBoost) -> str:
        if self.loss_ is None:
            self.loss_ = _loss_of(booster)
            self.cat_features_ = _cat_features_of(booster)
        return self.loss_

    def contributions(self, X: np.ndarray) -> np.ndarray:
        booster = self.fitted("contributions")
        self._read_loss(booster)
        cats = list(self.cat_features_)
        pool = catboost.Pool(_with_category_codes(X, cats, booster.feature_names_), cat_features=cats or None)
        values = booster.get_feature_importance(data=pool, type="ShapValues", thread_count=self.n_threads)
        return np.asarray(values, dtype=np.float64).reshape(X.shape[0], -1, X.shape[1] + 1)

    def save(self, path: Path) -> None:
        self.fitted("save").save_model(str(path), format="cbm")

    def feature_importance(self) -> np.ndarray:
        booster = self.fitted("feature_importance")
        return np.asarray(booster.get_feature_importance(type="PredictionValuesChange"), dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> CatBoostModel:
        booster = catboost.CatBoost()
        booster.load_model(str(path), format="cbm")
        return cls.from_booster(booster, n_threads, int(booster.tree_count_))


MISSING_CATEGORY = -1
"""CatBoost takes categories as integers and has no missing category: a missing (NaN) code becomes -1."""


def _with_category_codes(X: np.ndarray, cat_features: Sequence[int],
                         names: Sequence[str] | None = None) -> Any:
    """``X`` as CatBoost takes it: the categorical columns as integer codes, the others as floats."""
    if not cat_features:
        return X
    frame = pd.DataFrame(X, columns=list(names) if names is not None else None)
    columns = list(frame.columns)
    for column in cat_features:
        frame[columns[column]] = np.nan_to_num(X[:, column], nan=MISSING_CATEGORY).astype(np.int64)
    return frame


def _cat_features_of(booster: catboost.CatBoost) -> tuple[int, ...]:
    try:
        return tuple(int(i) for i in booster.get_cat_feature_indices())
    except catboost.CatBoostError:  # a model made by sum_models keeps no feature metadata
        return ()


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
    fitted = CatBoostModel.all_fitted(models)
    if fitted is None:
        return None
    boosters = [m.fitted("merge") for m in fitted]
    for booster in boosters:
        loss = str(booster.get_all_params().get("loss_function", "")).split(":")[0]
        if (loss not in _IDENTITY_LOSSES or booster.get_cat_feature_indices()
                or booster.get_text_feature_indices() or booster.get_embedding_feature_indices()):
            return None
    merged = catboost.sum_models(boosters, weights=[1.0 / len(boosters)] * len(boosters))
    return CatBoostModel.from_booster(merged, fitted[0].n_threads, int(merged.tree_count_))


SPEC = ModelSpec(CatBoostModel, ".cbm", library_version=lambda: str(catboost.__version__),
                 merge_folds=merge_folds)
