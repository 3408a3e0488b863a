"""Predictions to response bodies: CSV, JSON and JSON Lines, with optional per-library columns and
explanations (``explanation_columns``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ensemble_byoc.bundle.explain import Explanation
from ensemble_byoc.serving.codecs.explanation_columns import csv_columns, json_columns
from ensemble_byoc.serving.codecs.media_types import CSV, JSON, JSON_LINES

SCORE = "score"


@dataclass(frozen=True)
class Prediction:
    """One answer per input line: the blended ``scores`` and, when asked for, each library's own.

    A classification model answers with ``fields`` instead of a score: named columns such as
    ``predicted_label`` and ``probabilities`` (see ``serving/classification.py``). When asked for,
    ``explanation`` holds each answer's SHAP values (a row of NaN for a blank batch line).
    """

    scores: np.ndarray
    members: Mapping[str, np.ndarray] = field(default_factory=dict)
    fields: tuple[tuple[str, list[Any]], ...] = ()
    explanation: Explanation | None = None

    def columns(self) -> list[tuple[str, list[Any]]]:
        """``score`` (or the classification fields) first, then each requested library, as Python values."""
        head = list(self.fields) if self.fields else [(SCORE, self.scores.tolist())]
        return head + [(name, values.tolist()) for name, values in self.members.items()]


def encode_csv(prediction: Prediction, *, batch: bool = False) -> bytes:
    """One line per row: the score, then each requested library's prediction, then the explanation's
    columns; a missing value is empty.

    Text is quoted when it must be; a list (class probabilities, labels) is one JSON array, quoted.
    """
    if not prediction.members and not prediction.fields and prediction.explanation is None:
        return _score_lines(prediction.scores)
    columns = [values for _, values in prediction.columns()]
    if prediction.explanation is not None:
        columns += csv_columns(prediction.explanation)
    return "".join(
        ",".join(_csv_cell(v) for v in row) + "\n" for row in zip(*columns, strict=True)
    ).encode("utf-8")


def encode_json(prediction: Prediction, *, batch: bool = False) -> bytes:
    """``{"predictions": [{"score": v, ...}, ...]}``; in batch transform one ``{"score": v}`` per line."""
    objects = _objects(prediction)
    if batch:
        return _lines(objects)
    return json.dumps({"predictions": objects}, allow_nan=False).encode("utf-8")


def encode_jsonlines(prediction: Prediction, *, batch: bool = False) -> bytes:
    """One ``{"score": v, ...}`` per line, each line ending with a newline."""
    return _lines(_objects(prediction))


def _objects(prediction: Prediction) -> list[dict[str, Any]]:
    columns = prediction.columns()
    if prediction.explanation is not None:
        columns += json_columns(prediction.explanation)
    names = [name for name, _ in columns]
    return [dict(zip(names, map(_json_value, row), strict=True))
            for row in zip(*(values for _, values in columns), strict=True)]


def _lines(objects: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(obj, allow_nan=False) + "\n" for obj in objects).encode("utf-8")


def _score_lines(scores: np.ndarray) -> bytes:
    """One score per line; without a missing score, one join over the shortest round-trip reprs."""
    if not len(scores):
        return b""
    if np.isfinite(scores).all():
        return ("\n".join(map(repr, scores.tolist())) + "\n").encode("ascii")
    return "".join(f"{_csv_number(v)}\n" for v in scores.tolist()).encode("utf-8")


def _csv_number(value: float) -> str:
    return repr(value) if math.isfinite(value) else ""


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):  # explanations: {feature: value} or {class: {feature: value}}
        return {key: _json_value(item) for key, item in value.items()}
    return value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _csv_number(value)
    if isinstance(value, list):
        return _quoted(json.dumps(_json_value(value), allow_nan=False))
    text = str(value)
    return _quoted(text) if any(c in text for c in ',"\n\r') else text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'



Encoder = Callable[..., bytes]
ENCODERS: Mapping[str, Encoder] = {CSV: encode_csv, JSON: encode_json, JSON_LINES: encode_jsonlines}
