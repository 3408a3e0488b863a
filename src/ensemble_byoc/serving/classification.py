"""What a classification endpoint answers: labels and probabilities, as SageMaker users ask for them.

The fields follow SageMaker Autopilot's ``SAGEMAKER_INFERENCE_OUTPUT`` names: ``predicted_label``,
``probability`` (of the predicted label), ``probabilities`` (one per class, in ``labels`` order) and
``labels`` (the classes). The environment variable sets the default; a request may ask for others with
``X-Amzn-SageMaker-Custom-Attributes: outputs=predicted_label,probabilities``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ensemble_byoc.errors import PlatformError, UserError

OUTPUTS = ("predicted_label", "probability", "probabilities", "labels")
DEFAULT_OUTPUTS = ("predicted_label", "probability")
REGRESSION_OUTPUTS = ("score",)
"""What a regression model answers with: ``score``, the field of its JSON answers."""
OUTPUT_VARIABLE = "SAGEMAKER_INFERENCE_OUTPUT"
ATTRIBUTE_SOURCE = "X-Amzn-SageMaker-Custom-Attributes outputs"


def parse_outputs(text: str | None, *, source: str = OUTPUT_VARIABLE) -> tuple[str, ...]:
    """``"predicted_label, probabilities"`` -> the named fields, in order; empty text gives ``()``."""
    return known_outputs((text or "").split(","), source=source)


def known_outputs(names: Iterable[str], *, source: str = OUTPUT_VARIABLE) -> tuple[str, ...]:
    """The named fields, lowercased, once each, in order; an unknown name is a start-up error
    (PlatformError) for the variable, a 400 for a request's ``outputs=``."""
    chosen = tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))
    unknown = [name for name in chosen if name not in OUTPUTS + REGRESSION_OUTPUTS]
    if unknown:
        known = ", ".join(OUTPUTS + REGRESSION_OUTPUTS)
        message = f"{source} names unknown outputs {unknown}; choose among {known}."
        raise PlatformError(message) if source == OUTPUT_VARIABLE else UserError(message)
    return chosen


def outputs_for(problem_type: str) -> tuple[str, ...]:
    """The output names a model of ``problem_type`` answers with."""
    return REGRESSION_OUTPUTS if problem_type == "regression" else OUTPUTS


def check_outputs(names: Sequence[str], problem_type: str, *, source: str = OUTPUT_VARIABLE) -> None:
    """Refuse outputs this model does not answer with: a start-up error (PlatformError) for the
    variable, a 400 for a request's ``outputs=``."""
    allowed = outputs_for(problem_type)
    wrong = [name for name in names if name not in allowed]
    if wrong:
        message = (f"{source} == {','.join(names)!r}: a {problem_type} model answers with "
                   f"{', '.join(allowed)}, not {', '.join(wrong)}.")
        raise PlatformError(message) if source == OUTPUT_VARIABLE else UserError(message)


def class_probabilities(prediction: np.ndarray) -> np.ndarray:
    """Rows of class probabilities: a binary model's P(second class) becomes two columns."""
    if prediction.ndim == 1:
        return np.column_stack([1.0 - prediction, prediction])
    return prediction


def classification_fields(
    prediction: np.ndarray, classes: Sequence[Any], outputs: Sequence[str]
) -> tuple[tuple[str, list[Any]], ...]:
    """The requested fields for every row; a row without a prediction (a batch gap) answers ``None``."""
    probabilities = class_probabilities(prediction)
    present = np.isfinite(probabilities).all(axis=1)
    best = np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=1)
    labels = list(classes)
    columns: dict[str, list[Any]] = {
        "predicted_label": [labels[i] if ok else None for i, ok in zip(best, present, strict=True)],
        "probability": [float(row[i]) if ok else None
                        for row, i, ok in zip(probabilities, best, present, strict=True)],
        "probabilities": [row.tolist() if ok else None
                          for row, ok in zip(probabilities, present, strict=True)],
        "labels": [labels if ok else None for ok in present],
    }
    return tuple((name, columns[name]) for name in outputs or DEFAULT_OUTPUTS)
