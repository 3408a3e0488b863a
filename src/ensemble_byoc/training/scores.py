"""Scores of out-of-fold predictions, by problem type.

Predictions are what the libraries give: a value per row for regression, the probability of the second
class per row for binary classification, and a row of class probabilities for multiclass. Labels of a
classification task are class indices (0..K-1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

REGRESSION = "regression"
BINARY = "binary"
MULTICLASS = "multiclass"
PROBLEM_TYPES = (REGRESSION, BINARY, MULTICLASS)

_EPS = 1e-15


def _sklearn() -> Any:
    """scikit-learn's metrics, imported at the first score: the launcher reads this module's metric names
    and starts without scikit-learn and SciPy (about 1.6 s of every command)."""
    import sklearn.metrics

    return sklearn.metrics


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y, dtype=np.float64) - p) ** 2)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y, dtype=np.float64) - p)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    """1 - residual sum of squares / total sum of squares; negative when worse than predicting the mean,
    ``nan`` when every label is the same."""
    y = np.asarray(y, dtype=np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / total if total > 0 else float("nan")


def _mape(y: np.ndarray, p: np.ndarray) -> float:
    """Mean absolute percentage error, in percent, over the rows whose label is not 0 (``nan`` if none)."""
    y = np.asarray(y, dtype=np.float64)
    kept = y != 0
    if not kept.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((y[kept] - p[kept]) / y[kept])))


def zero_labels(y: np.ndarray) -> int:
    """How many rows MAPE leaves out (their label is 0)."""
    return int(np.count_nonzero(np.asarray(y, dtype=np.float64) == 0))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if np.unique(y).size < 2:
        return float("nan")
    return float(_sklearn().roc_auc_score(y, p))


def _logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(_sklearn().log_loss(y, np.column_stack([1 - p, p]), labels=[0, 1]))


def _binary_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(_sklearn().accuracy_score(y, (p > 0.5).astype(int)))


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    return float(_sklearn().f1_score(y, (p > 0.5).astype(int), zero_division=0.0))


def _mlogloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return float(_sklearn().log_loss(y, p, labels=list(range(p.shape[1]))))


def _multiclass_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(_sklearn().accuracy_score(y, np.argmax(p, axis=1)))


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    function: Callable[[np.ndarray, np.ndarray], float]

    def score(self, y: np.ndarray, prediction: np.ndarray) -> float:
        return self.function(y, prediction)

    def loss(self, y: np.ndarray, prediction: np.ndarray) -> float:
        """The score turned so that lower is better (for selection and fallbacks)."""
        value = self.score(y, prediction)
        return -value if self.greater_is_better else value


_METRICS: dict[str, dict[str, Metric]] = {
    REGRESSION: {
        "rmse": Metric("rmse", False, _rmse),
        "mae": Metric("mae", False, _mae),
        "r2": Metric("r2", True, _r2),
        "mape": Metric("mape", False, _mape),
    },
    BINARY: {
        "auc": Metric("auc", True, _auc),
        "logloss": Metric("logloss", False, _logloss),
        "accuracy": Metric("accuracy", True, _binary_accuracy),
        "f1": Metric("f1", True, _f1),
    },
    MULTICLASS: {
        "mlogloss": Metric("mlogloss", False, _mlogloss),
        "accuracy": Metric("accuracy", True, _multiclass_accuracy),
    },
}

DEFAULT_EVAL_METRIC = {REGRESSION: "rmse", BINARY: "logloss", MULTICLASS: "mlogloss"}
_EVAL_METRICS = {
    REGRESSION: ("rmse", "mae"),
    BINARY: ("auc", "logloss", "accuracy", "f1"),
    MULTICLASS: ("mlogloss", "accuracy"),
}
"""What ``eval_metric`` may name: the metrics early stopping can watch in every library. The others
(``r2``, ``mape``) are reported beside them."""


def metrics_for(problem_type: str) -> tuple[str, ...]:
    """The metric lines a job of this problem type prints, in order."""
    return tuple(_METRICS[problem_type])


def eval_metrics_for(problem_type: str) -> tuple[str, ...]:
    """The metrics ``eval_metric`` may name for this problem type."""
    return _EVAL_METRICS[problem_type]


def get_metric(problem_type: str, name: str) -> Metric:
    return _METRICS[problem_type][name]


def all_eval_metric_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for names in _EVAL_METRICS.values() for name in names))
