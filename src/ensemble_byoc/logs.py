"""Logging set-up, called only by the entry points (training CLI and the gunicorn config)."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send the package's log records to stderr, once, at ``level``.

    Library chatter (CatBoost, XGBoost, LightGBM) is switched off in the model adapters; the
    package writes its own one-line summaries instead.
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.strip().upper())
        level = resolved if isinstance(resolved, int) else logging.INFO
    root = logging.getLogger("ensemble_byoc")
    root.setLevel(level)
    if not any(getattr(handler, "_ensemble_byoc", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._ensemble_byoc = True  # type: ignore[attr-defined]  # marks our handler so a second call adds none
        root.addHandler(handler)
    root.propagate = False
