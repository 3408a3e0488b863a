"""Explanations from an endpoint (``predict --explain``): the request asks each row's SHAP values with the
custom attribute ``explain=shap`` and a JSON answer, and ``explanation_table`` prints that answer.

The answer is ``{"predictions": [{...prediction..., "explanations": {"<feature>": v, ...}, "base_value": v},
...]}``; a multiclass model's ``explanations`` and ``base_value`` hold one such entry per class label. A
regression row's contributions plus its base value add up to its score; a classifier's add up to its
margin (log-odds, per class for multiclass), which is what the table calls them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ensemble_byoc.errors import UserError

EXPLAIN_ATTRIBUTE = "explain=shap"
"""The ``CustomAttributes`` (``X-Amzn-SageMaker-Custom-Attributes``) that asks for explanations."""
JSON = "application/json"
"""The only answer format an explanation is read from."""
TOP_FEATURES = 10
"""A row's features with the largest |contribution| shown one by one; the others are summed on one line."""
_NOT_PREDICTION = ("explanations", "base_value")


def explain_accept(accept: str | None) -> str:
    """The ``Accept`` of an explained request: ``application/json``, which ``accept`` may only confirm.

    Raises:
        UserError: ``accept`` asks another format.
    """
    if accept not in (None, JSON):
        msg = f"Explanations come in the JSON answer; Accept {accept!r} cannot carry them: use {JSON}."
        raise UserError(msg)
    return JSON


def explanation_table(answer: str | bytes | Mapping[str, Any], top: int = TOP_FEATURES) -> str:
    """The endpoint's JSON answer with explanations as text: one block per row with its prediction, the
    ``top`` features by |contribution| (then ``... N more`` and their sum), the base value and the total
    they add up to (the score, or the margin of a classifier).

    Raises:
        UserError: the answer is not JSON with an ``explanations`` object in every prediction.
    """
    predictions = _predictions(answer)
    blocks = []
    for number, row in enumerate(predictions, start=1):
        explanations, base_value = row.get("explanations"), row.get("base_value")
        if not isinstance(explanations, Mapping):
            msg = (f"Prediction {number} of the answer has no \"explanations\" object; the endpoint's image "
                   f"may not know the custom attribute {EXPLAIN_ATTRIBUTE!r}.")
            raise UserError(msg)
        lines = [f"row {number}: {_prediction_text(row)}"]
        if isinstance(base_value, Mapping):  # multiclass: one block per class
            for label, values in explanations.items():
                lines.append(f"  class {label}:")
                lines += _contribution_lines(values, base_value.get(label), "margin (log-odds)", top, "    ")
        else:
            total = "score" if "score" in row else "margin (log-odds)"
            lines += _contribution_lines(explanations, base_value, total, top, "  ")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else "The answer holds no predictions.\n"


def _predictions(answer: str | bytes | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(answer, (str, bytes)):
        text = answer.decode("utf-8", errors="replace") if isinstance(answer, bytes) else answer
        try:
            answer = json.loads(text)
        except ValueError:
            msg = f"The endpoint's answer is not JSON (it starts {text[:80]!r}); explanations need {JSON}."
            raise UserError(msg) from None
    predictions = answer.get("predictions") if isinstance(answer, Mapping) else None
    if not isinstance(predictions, list) or not all(isinstance(row, Mapping) for row in predictions):
        msg = "The endpoint's answer has no \"predictions\" list of objects."
        raise UserError(msg)
    return predictions


def _prediction_text(row: Mapping[str, Any]) -> str:
    fields = [f"{name} {_value(value)}" for name, value in row.items() if name not in _NOT_PREDICTION]
    return ", ".join(fields) or "(no prediction fields)"


def _contribution_lines(
    values: Any, base_value: Any, total_name: str, top: int, indent: str
) -> list[str]:
    """The ``top`` contributions by size, the rest summed, the base value and what they all add up to."""
    if not isinstance(values, Mapping):
        msg = f"The endpoint's answer holds {_value(values)[:80]} where an object of contributions belongs."
        raise UserError(msg)
    items = sorted(((str(name), _number(value)) for name, value in values.items()),
                   key=lambda item: -abs(item[1]) if math.isfinite(item[1]) else 0.0)
    shown, rest = items[:top], items[top:]
    lines = [f"{indent}{'contribution':>13}  feature"]
    lines += [f"{indent}{_signed(value)}  {name}" for name, value in shown]
    if rest:
        lines.append(f"{indent}{_signed(sum(value for _, value in rest))}  ... {len(rest)} more")
    base = _number(base_value)
    lines.append(f"{indent}{_signed(base)}  base value")
    total = base + sum(value for _, value in items)
    lines.append(f"{indent}{'=' + _plain(total):>13}  sum: the {total_name}")
    return lines


def _number(value: Any) -> float:
    """A JSON number as a float; ``null`` or anything else is NaN (shown as ``nan``)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _signed(value: float) -> str:
    return f"{value:+13.6g}"


def _plain(value: float) -> str:
    return f"{value:.6g}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return _plain(value)
    return value if isinstance(value, str) else json.dumps(value)
