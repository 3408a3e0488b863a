"""Scores, and the single writer of the metric lines SageMaker and AMT read from the training log.

The regexes the launcher hands to SageMaker are generated here, from the same format that prints the
lines, so the two cannot drift apart. They are anchored (``(?m)^validation-rmse:(-?[0-9\\.]+);$``): SageMaker
applies them to each line of the log, and only ``emit_metric`` writes a whole line of that shape. The log
itself (``logs.configure_logging``) writes user text (column names, labels, file names) through
``defuse_metric_text``, so not even an unanchored regex finds a metric line there.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from ensemble_byoc.contract.logs import METRIC_PREFIX

_VALUE_FORMAT = "{value:.6f}"
_VALUE_REGEX = r"(-?[0-9\.]+)"
"""Signed: R² is negative when a model is worse than predicting the mean."""


def ensemble_metric_name(metric: str, prefix: str = METRIC_PREFIX) -> str:
    """``validation-rmse``: the ensemble's out-of-fold (or hold-out) score, AMT's objective; with ``prefix``
    ``cv`` (``validation_mode`` holdout), ``cv-rmse``: its running out-of-fold score."""
    return f"{prefix}-{metric}"


def library_metric_name(metric: str, library: str, prefix: str = METRIC_PREFIX) -> str:
    """``validation-rmse-xgboost``: one library's score; never matches the ensemble's regex."""
    return f"{prefix}-{metric}-{library}"


def format_metric_line(name: str, value: float) -> str:
    """``validation-rmse:53.123456;`` in plain fixed-point, as both common regex forms expect."""
    return f"{name}:{_VALUE_FORMAT.format(value=value)};"


def metric_regex(name: str) -> str:
    """The regex that captures the value of ``format_metric_line(name, value)``: the whole line, and
    nothing else (a column named ``validation-rmse:0.1;`` in the middle of a log line is not a metric).
    ``(?m)`` makes ``^``/``$`` line boundaries, so it holds whether SageMaker applies it to each line or
    to a block of several."""
    return f"(?m)^{re.escape(name)}:{_VALUE_REGEX};$"


def metric_definitions(
    metric: str, libraries: tuple[str, ...], prefix: str = METRIC_PREFIX
) -> list[dict[str, str]]:
    """SageMaker ``MetricDefinitions`` for the ensemble's and each library's score.

    The definition of the ensemble's line is named ``validation:rmse`` (the name AMT's objective uses);
    each library's is ``validation:rmse-<library>``; with ``prefix`` ``cv``, ``cv:rmse`` and
    ``cv:rmse-<library>``.
    """
    names = [ensemble_metric_name(metric, prefix)] + [library_metric_name(metric, lib, prefix)
                                                      for lib in libraries]
    return [{"Name": name.replace("-", ":", 1), "Regex": metric_regex(name)} for name in names]


def emit_metric(name: str, value: float, stream: TextIO | None = None) -> None:
    """Print one metric line to stdout (or ``stream``) and flush it, so the log shows it at once."""
    out = stream if stream is not None else sys.stdout
    out.write(format_metric_line(name, value) + "\n")
    out.flush()


def metric_definitions_for(
    problem_type: str, libraries: tuple[str, ...], prefix: str = METRIC_PREFIX
) -> list[dict[str, str]]:
    """Every ``MetricDefinitions`` entry of ``prefix`` a job of ``problem_type`` prints: for regression
    ``rmse``, ``mae``, ``r2``, ``mape``; for binary ``auc``, ``logloss``, ``accuracy``, ``f1``; for
    multiclass ``mlogloss``, ``accuracy``."""
    from ensemble_byoc.training.scores import (
        metrics_for,  # scoring pulls in scikit-learn; keep this module light
    )

    return [definition for metric in metrics_for(problem_type)
            for definition in metric_definitions(metric, libraries, prefix)]
