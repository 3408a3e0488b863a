"""The one list of cell texts that mean "missing value", in training data and in requests alike."""

from __future__ import annotations

MISSING_TOKENS: frozenset[str] = frozenset({
    "", "NA", "N/A", "n/a", "<NA>", "#N/A", "#N/A N/A", "#NA",
    "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None",
    "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN",
})
"""A CSV cell (stripped of surrounding spaces) or a JSON string equal to one of these is a missing value.
These are pandas' own defaults, written out so that training and serving read the same list."""

