"""What kind of task the label describes, and the label encoded for the libraries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data_checks import LABEL_FIRST, cell_text
from ensemble_byoc.training.scores import (
    BINARY,
    DEFAULT_EVAL_METRIC,
    MULTICLASS,
    REGRESSION,
    eval_metrics_for,
)

logger = logging.getLogger(__name__)

MAX_INFERRED_CLASSES = 20
"""An integer label with at most this many distinct values is taken as classes when not told otherwise."""


@dataclass(frozen=True)
class Task:
    problem_type: str
    eval_metric: str
    classes: tuple[Any, ...] = ()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_classification(self) -> bool:
        return self.problem_type != REGRESSION

    def to_dict(self) -> dict[str, Any]:
        return {"problem_type": self.problem_type, "eval_metric": self.eval_metric,
                "classes": list(self.classes)}


def _json_value(value: Any) -> Any:
    """A label as JSON keeps it: numpy numbers become Python ones; integral floats become ints."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return value


def resolve_task(
    labels: np.ndarray, problem_type: str | None, eval_metric: str | None, objective: str = "squared_error"
) -> tuple[Task, np.ndarray]:
    """Decide the problem type (given, or inferred and logged) and encode the label.

    A regression ``objective`` other than squared error, or an ``eval_metric`` only regression has, makes
    the inferred problem type of a numeric label regression (a count label of a few integers would
    otherwise be taken for classes); a text label is classes still, and the setting's refusal names it.

    Returns the task and the label as the libraries need it: float64 values for regression, class
    indices 0..K-1 for classification (classes sorted, kept in the task for the manifest).
    """
    series = pd.Series(labels)
    numeric = pd.to_numeric(series, errors="coerce")
    is_numeric = bool(numeric.notna().all())
    distinct = series.nunique(dropna=True)
    if distinct == 1 and len(series) > 1:
        msg = (f"The label holds one value in all {len(series)} rows: there is nothing to learn. "
               f"{LABEL_FIRST}.")
        raise UserError(msg)
    if problem_type is None:  # a text label stays classes: its refusal then names the setting that misfits
        by_settings = is_numeric and _regression_by_settings(objective, eval_metric)
        problem_type = REGRESSION if by_settings else _inferred_problem_type(numeric, is_numeric, distinct)
    metric = eval_metric or DEFAULT_EVAL_METRIC[problem_type]
    if metric not in eval_metrics_for(problem_type):
        msg = (f"Hyperparameter 'eval_metric' == {metric!r} does not fit problem_type {problem_type!r}; "
               f"choose one of {', '.join(eval_metrics_for(problem_type))}.")
        raise UserError(msg)
    if problem_type == REGRESSION:
        return Task(REGRESSION, metric), _regression_label(labels, numeric, is_numeric)
    return _classes(series if not is_numeric else numeric, problem_type, metric, is_numeric)


def _regression_by_settings(objective: str, eval_metric: str | None) -> bool:
    """Whether a setting only regression has was given (then the numeric label is regression; logged)."""
    if objective != "squared_error":
        reason = f"objective {objective!r} is a regression loss"
    elif eval_metric in eval_metrics_for(REGRESSION):  # no classification metric has these names
        reason = f"eval_metric {eval_metric!r} is a regression metric"
    else:
        return False
    logger.info("problem_type inferred as regression: %s. Set the hyperparameter problem_type to choose.",
                reason)
    return True


def _inferred_problem_type(numeric: pd.Series, is_numeric: bool, distinct: int) -> str:
    if not is_numeric:
        problem_type = BINARY if distinct == 2 else MULTICLASS
        reason = f"the label holds text ({distinct} distinct values)"
    elif distinct == 2:
        problem_type, reason = BINARY, "the label has exactly 2 distinct values"
    elif (numeric == numeric.round()).all() and distinct <= MAX_INFERRED_CLASSES:
        problem_type = MULTICLASS
        reason = f"the label holds {distinct} distinct integers (at most {MAX_INFERRED_CLASSES} are classes)"
    else:
        problem_type, reason = REGRESSION, "the label holds numbers that are not a few integer classes"
    logger.info("problem_type inferred as %s: %s. Set the hyperparameter problem_type to choose.",
                problem_type, reason)
    return problem_type


def _regression_label(labels: np.ndarray, numeric: pd.Series, is_numeric: bool) -> np.ndarray:
    if not is_numeric:
        row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
        msg = (f"problem_type 'regression' needs a numeric label, but row {row + 1} holds "
               f"{cell_text(labels[row])}. {LABEL_FIRST}.")
        raise UserError(msg)
    values: np.ndarray = numeric.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        msg = f"The label is {values[row]} in row {row + 1}; labels must be finite numbers."
        raise UserError(msg)
    return values


def _classes(values: pd.Series, problem_type: str, metric: str, is_numeric: bool) -> tuple[Task, np.ndarray]:
    keys = values if is_numeric else values.astype(str)
    classes = sorted(pd.unique(keys))
    if problem_type == BINARY and len(classes) != 2:
        msg = f"problem_type 'binary' needs exactly 2 classes; the label has {len(classes)}."
        raise UserError(msg)
    if problem_type == MULTICLASS and len(classes) < 2:
        msg = f"problem_type 'multiclass' needs at least 2 classes; the label has {len(classes)}."
        raise UserError(msg)
    index = {value: i for i, value in enumerate(classes)}
    encoded = np.fromiter((index[value] for value in keys), dtype=np.int64, count=len(keys))
    task = Task(problem_type, metric, tuple(_json_value(c) for c in classes))
    logger.info("%s classification: %d classes [%s].", problem_type, len(classes),
                ", ".join(cell_text(c) if isinstance(c, str) else str(c) for c in task.classes[:10]))
    return task, encoded
