"""``validation_mode`` holdout: the validation channel's rows, kept out of the folds, the blend and the
refit, prepared as the models read the training rows, and scored once on the served ensemble."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import pandas as pd

from ensemble_byoc.bundle.ensemble import Ensemble, blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import Model
from ensemble_byoc.training.channels import check_same_columns
from ensemble_byoc.training.data import Dataset, encode_categories
from ensemble_byoc.training.data_checks import cell_text
from ensemble_byoc.training.metric_lines import emit_metric, ensemble_metric_name, library_metric_name
from ensemble_byoc.training.runners import TrainingRows
from ensemble_byoc.training.scores import get_metric, metrics_for
from ensemble_byoc.training.task import Task

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job

ENSEMBLE = "ensemble"


def holdout_rows(validation: Dataset, train: TrainingRows, task: Task) -> Dataset:
    """The validation rows as the models read the training rows: the same columns, the training rows'
    category codes (a level they lack is missing) and the label encoded for ``task``."""
    check_same_columns(train, validation)
    X = validation.X.copy()
    for name, levels in train.categories.items():
        X[:, validation.feature_names.index(name)] = _recoded(validation, name, levels)
    for name in set(validation.categories) - set(train.categories):
        _mixed_column(name)
    logger.info("validation_mode holdout: the %d validation rows are kept out of training; the running "
                "cv:<metric> lines score the blend out of fold on the %d 'train' rows, the final "
                "validation:<metric> lines score the served ensemble on the validation rows.",
                validation.n_rows, train.n_rows)
    return Dataset(X=X, y=_labels(validation.y, task), feature_names=train.feature_names,
                   target_name=train.target_name, categories=dict(train.categories))


def _recoded(validation: Dataset, name: str, levels: tuple[str, ...]) -> np.ndarray:
    codes = validation.X[:, validation.feature_names.index(name)]
    own = validation.categories.get(name)
    if own is None:
        if np.isfinite(codes).any():
            _mixed_column(name)
        return codes
    positions = np.where(np.isfinite(codes), codes, len(own)).astype(np.int64)
    text = np.array([*own, None], dtype=object)[positions]
    return encode_categories(text, levels)


def _mixed_column(name: str) -> None:
    msg = (f"Feature {cell_text(name)} holds text in one of the channels 'train' and 'validation' and "
           "numbers in the other.")
    raise UserError(msg)


def _labels(y: np.ndarray, task: Task) -> np.ndarray:
    """The validation label as the training label was encoded: a number, or the index of a class that
    the training rows have."""
    series = pd.Series(y)
    if not task.is_classification:
        values: np.ndarray = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            msg = (f"Channel 'validation': the label is {cell_text(y[bad[0]])} in row {bad[0] + 1}; "
                   "regression labels must be finite numbers.")
            raise UserError(msg)
        return values
    text = any(isinstance(c, str) for c in task.classes)
    keys = series.astype(str) if text else pd.to_numeric(series, errors="coerce")
    index = {value: i for i, value in enumerate(task.classes)}
    codes = np.fromiter((index.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        msg = (f"Channel 'validation': row {row + 1} has the label {cell_text(y[row])}, which is not a class "
               f"of channel 'train' ({', '.join(cell_text(c) for c in task.classes[:10])}).")
        raise UserError(msg)
    return codes


@dataclass(frozen=True)
class HoldoutScores:
    """Every metric of the task on the validation rows: the ensemble's and each member's."""

    rows: int
    scores: Mapping[str, Mapping[str, float]]
    """Metric name -> {member name or ``ensemble``: score}."""

    def summary(self, eval_metric: str) -> dict[str, Any]:
        """A JSON-ready record for ``cv_results.json`` and the manifest (a score that is not finite is
        ``None``)."""
        main = self.scores[eval_metric]
        return {
            "rows": self.rows,
            "metric": eval_metric,
            "score": _finite(main[ENSEMBLE]),
            "library_scores": {name: _finite(v) for name, v in main.items() if name != ENSEMBLE},
            "scores": {metric: {name: _finite(v) for name, v in by.items()}
                       for metric, by in self.scores.items()},
        }

    def add_to(self, board: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
        """``board`` (the leaderboard) with each row's hold-out score of ``metric``."""
        return [{**row, f"holdout_{metric}": _finite(self.scores[metric].get(row["model"], np.nan))}
                for row in board]

    def emit(self, stream: TextIO | None) -> None:
        """One ``validation-<metric>`` line per metric and member, then the ensemble's, as the folds'
        lines are ordered (a score that is not finite prints no line)."""
        for metric, by in self.scores.items():
            for name, value in by.items():
                line = ensemble_metric_name(metric) if name == ENSEMBLE else library_metric_name(metric, name)
                if np.isfinite(value):
                    emit_metric(line, value, stream)


def score_holdout(
    ensemble: Ensemble, fold_models: Mapping[str, Sequence[Model]], rows: Dataset, task: Task
) -> HoldoutScores:
    """The served ensemble and every member (served: as served; left out of the blend: its fold models)
    scored on ``rows``; logged."""
    members = {name: ensemble.members.get(name) or models for name, models in fold_models.items()}
    predictions = Ensemble(ensemble.feature_names, members, ensemble.weights).predict_members(rows.X)
    served = blend(predictions, ensemble.weights)
    scores: dict[str, dict[str, float]] = {}
    for name in metrics_for(task.problem_type):
        metric = get_metric(task.problem_type, name)
        scores[name] = {member: metric.score(rows.y, p) for member, p in predictions.items()}
        scores[name][ENSEMBLE] = metric.score(rows.y, served)
    main = scores[task.eval_metric]
    logger.info("Hold-out %s on the %d validation rows: ensemble %.6f (%s).", task.eval_metric, rows.n_rows,
                main[ENSEMBLE], ", ".join(f"{n} {v:.6f}" for n, v in main.items() if n != ENSEMBLE))
    return HoldoutScores(rows.n_rows, scores)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
