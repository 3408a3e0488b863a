"""Decoded request rows, before they are matched to the model's features, and the cell rules they share."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ensemble_byoc.errors import UserError

MIB = 1024 * 1024


@dataclass(frozen=True)
class DecodeOptions:
    """What a decoder needs to know besides the body."""

    keep_blank_lines: bool = False
    """Batch transform: a blank input line is kept as a gap, answered by an empty output line."""
    max_bytes: int = 6 * MIB
    """Decoded data above this size is refused (Parquet pages inflate)."""
    categories: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Categorical features by name: each level's code. Their cells may be text; a missing or unseen
    level becomes NaN (a missing value)."""
    feature_names: tuple[str, ...] = ()
    """The model's features in order, so that positional rows know which columns are categorical."""

    def codes_by_position(self) -> dict[int, Mapping[str, float]]:
        return {i: self.categories[name]
                for i, name in enumerate(self.feature_names) if name in self.categories}


def category_code(value: Any, codes: Mapping[str, float]) -> float:
    """A categorical cell to its level's code: text as written (a JSON number by its usual spelling);
    missing, empty and unseen values are NaN."""
    if value is None:
        return math.nan
    if isinstance(value, float):
        if not math.isfinite(value):
            return math.nan
        key = str(int(value)) if value.is_integer() else repr(value)
    else:
        key = str(value).strip()
    return codes.get(key, math.nan) if key else math.nan


@dataclass(frozen=True)
class InputBatch:
    """Rows decoded from a request body, in one of three shapes.

    ``values`` alone: a float matrix whose columns are the model's features in order. ``values`` with
    ``columns``: the same, but the columns carry names (Parquet, structured .npy) and are matched by name.
    ``records``: one mapping of feature name to value per row (JSON objects), matched by name.
    ``gaps``: positions, in the answer, of blank input lines (batch transform only); each gets an empty
    answer line, so the answer has exactly one line per input line.
    """

    values: np.ndarray | None = None
    columns: tuple[str, ...] | None = None
    records: list[dict[str, float]] | None = None
    gaps: tuple[int, ...] = ()

    @property
    def n_rows(self) -> int:
        if self.values is not None:
            return int(self.values.shape[0])
        return len(self.records or [])


def to_float(value: Any, row: int, column: int | str) -> float:
    """One cell as a float: numbers and numeric strings; ``None`` and empty strings are missing values.

    Raises:
        UserError: naming the row and column, for booleans, non-numeric strings and other types.
    """
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise UserError(f"Row {row}, column {column}: {value!r} is not a number.")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise UserError(f"Row {row}, column {column}: {value!r} is too large for a number.") from None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        try:
            return float(text)
        except ValueError:
            pass
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise UserError(f"Row {row}, column {column}: {shown} is not a number.")


def matrix(
    rows: Sequence[Sequence[Any]],
    row_numbers: Sequence[int] | None = None,
    *,
    may_hold_booleans: bool = True,
    categorical: Mapping[int, Mapping[str, float]] | None = None,
) -> np.ndarray:
    """Rows of equal length to a float64 matrix; the first bad row or cell is named (1-based).

    ``row_numbers`` gives each row's number in the request (its line), when that is not its position.
    When the rows cannot hold booleans (which numpy would take as 0 and 1), numpy converts them in one
    call; any cell it refuses sends the rows through the cell-by-cell rules, which name the problem.
    """
    numbers = row_numbers if row_numbers is not None else range(1, len(rows) + 1)
    categorical = categorical or {}
    if not may_hold_booleans and not categorical:
        try:
            values = np.array(rows, dtype=np.float64)
            if values.ndim == 2 and values.shape[0] == len(rows):
                return values
        except (ValueError, TypeError, OverflowError):
            pass
    width = len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (number, row) in enumerate(zip(numbers, rows, strict=True)):
        if not isinstance(row, (list, tuple)):
            raise UserError(f"Row {number} is not a list of values.")
        if len(row) != width:
            raise UserError(f"Row {number} has {len(row)} values, but row {numbers[0]} has {width}.")
        for c, cell in enumerate(row):
            codes = categorical.get(c)
            values[r, c] = to_float(cell, number, c + 1) if codes is None else category_code(cell, codes)
    return values
