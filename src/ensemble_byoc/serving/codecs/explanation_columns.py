"""Explanations (``explain=shap``) as the columns an answer gains, in JSON and in CSV.

JSON: ``"explanations": {feature: value, ...}`` and ``"base_value": v``; a multiclass model's are one such
object and one value per class, under the class label (``{"<label>": {feature: value, ...}, ...}``).
CSV: one column per feature in the model's feature order, then the base value; a multiclass model's are
one such block per class, in the order of its classes. A row without a prediction (a blank batch line)
has no explanation: ``null`` in JSON, empty cells in CSV. A row's values plus its base value add up to
``Explanation.totals``: the served score (regression) or the blended margin of each output (classification).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ensemble_byoc.bundle.explain import Explanation

EXPLANATIONS = "explanations"
BASE_VALUE = "base_value"


def json_columns(explanation: Explanation) -> list[tuple[str, list[Any]]]:
    """The ``explanations`` and ``base_value`` of every row, as JSON-ready Python values."""
    names = explanation.feature_names
    labels = [str(label) for label in explanation.outputs]
    present = np.isfinite(explanation.base_values).all(axis=1).tolist()
    contributions: list[Any] = []
    bases: list[Any] = []
    for values, base, ok in zip(explanation.values.tolist(), explanation.base_values.tolist(), present,
                                strict=True):
        if not ok:
            contributions.append(None)
            bases.append(None)
        elif labels:
            contributions.append({label: dict(zip(names, row, strict=True))
                                  for label, row in zip(labels, values, strict=True)})
            bases.append(dict(zip(labels, base, strict=True)))
        else:
            contributions.append(dict(zip(names, values[0], strict=True)))
            bases.append(base[0])
    return [(EXPLANATIONS, contributions), (BASE_VALUE, bases)]


def csv_columns(explanation: Explanation) -> list[list[float]]:
    """Per output (class): one column per feature, then the base value; NaN (a gap) is an empty cell."""
    blocks = np.concatenate([explanation.values, explanation.base_values[:, :, None]], axis=2)
    rows, outputs, width = blocks.shape  # no rows (an empty batch) too: -1 cannot be inferred from 0
    return blocks.reshape(rows, outputs * width).T.tolist()  # type: ignore[no-any-return]
