"""Logging set-up, called only by the entry points (training CLI and the gunicorn config)."""

from __future__ import annotations

import logging
import re
import sys

METRIC_PREFIX = "validation"
"""The start of every metric line's name (``validation-rmse:53.1;``); SageMaker and AMT read them by regex."""
CV_METRIC_PREFIX = "cv"
"""The start of the running cross-validation lines' names (``cv-rmse:55.1;``) when ``validation_mode`` is
``holdout`` (the ``validation-`` lines then carry the hold-out score)."""
_METRIC_NAME_START = re.compile(rf"({re.escape(METRIC_PREFIX)}|{re.escape(CV_METRIC_PREFIX)})-",
                                re.IGNORECASE)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MetricSafeFormatter(logging.Formatter):
    """``LOG_FORMAT`` (or the ``inner`` formatter's text), with anything metric-shaped in the record
    (message, arguments, exception text) defused: a column named ``validation-rmse:0.1;`` is logged as
    ``validation\\-rmse:0.1;`` (and ``cv-rmse:0.1;`` as ``cv\\-rmse:0.1;``).

    SageMaker and AMT read metrics from the same log by regex, and only ``metrics.emit_metric`` (stdout,
    never a logger) may write a line they match.
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__(LOG_FORMAT)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner is not None else super().format(record)
        return defuse_metric_text(text)


def defuse_metric_text(text: str) -> str:
    """``text`` with every metric name's start (``validation-``, ``cv-``) written ``validation\\-``,
    ``cv\\-``, so that no regex naming a metric (``validation-rmse:(.*?);``, ``cv-rmse:(.*?);``, anchored
    or not) matches it; used on every log record."""
    return _METRIC_NAME_START.sub(r"\1\\-", text)


def configure_logging(level: int | str = logging.INFO, *, whole_process: bool = False) -> None:
    """Send the package's log records to stderr, once, at ``level``.

    Library chatter (CatBoost, XGBoost, LightGBM) is switched off in the model adapters; the
    package writes its own one-line summaries instead. With ``whole_process`` (the training job owns its
    process), Python warnings and other libraries' records (WARNING and above) go through the same
    handler, so they are defused too.
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.strip().upper())
        level = resolved if isinstance(resolved, int) else logging.INFO
    package = logging.getLogger("ensemble_byoc")
    package.setLevel(level)
    handler = _our_handler(package)
    package.propagate = False
    if whole_process:
        logging.captureWarnings(True)
        root = logging.getLogger()
        if handler not in root.handlers:
            root.addHandler(handler)


def defuse_handlers(name: str) -> None:
    """Defuse metric-shaped text in what the handlers of logger ``name`` write (Dask's ``distributed``
    logs task errors, which can quote a column name, through its own handler)."""
    for handler in logging.getLogger(name).handlers:
        if not isinstance(handler.formatter, MetricSafeFormatter):
            handler.setFormatter(MetricSafeFormatter(handler.formatter or logging.Formatter()))


def _our_handler(package: logging.Logger) -> logging.Handler:
    for handler in package.handlers:
        if getattr(handler, "_ensemble_byoc", False):
            return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MetricSafeFormatter())
    handler._ensemble_byoc = True  # type: ignore[attr-defined]  # marks our handler so a second call adds none
    package.addHandler(handler)
    return handler
