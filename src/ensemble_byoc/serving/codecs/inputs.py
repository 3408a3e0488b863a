"""Decoded request rows, before they are matched to the model's features, and the cell rules they share."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ensemble_byoc.contract.missing_values import MISSING_TOKENS
from ensemble_byoc.errors import UserError, shown

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
    missing (a missing-value token), empty and unseen values are NaN."""
    if value is None:
        return math.nan
    if isinstance(value, float):
        if not math.isfinite(value):
            return math.nan
        key = str(int(value)) if value.is_integer() else repr(value)
    else:
        key = str(value).strip()
    return math.nan if key in MISSING_TOKENS else codes.get(key, math.nan)


@dataclass(frozen=True)
class InputBatch:
    """Rows decoded from a request body, in one of three shapes.

    ``values`` alone: a float matrix whose columns are the model's features in order. ``values`` with
    ``columns``: the same, but the columns carry names (Parquet, structured .npy) and are matched by name.
    ``records``: one mapping of feature name to value per row (JSON objects), matched by name.
    ``gaps``: positions, in the answer, of blank input lines (batch transform only; an integer array or
    a sequence); each gets an empty answer line, so the answer has exactly one line per input line.
    """

    values: np.ndarray | None = None
    columns: tuple[str, ...] | None = None
    records: list[dict[str, float]] | None = None
    gaps: np.ndarray | tuple[int, ...] = ()

    @property
    def n_rows(self) -> int:
        if self.values is not None:
            return int(self.values.shape[0])
        return len(self.records or [])


def to_float(value: Any, row: int, column: int | str) -> float:
    """One cell as a float: numbers and numeric strings; ``None`` and missing-value tokens (``""``, ``NA``,
    ``null``, ... see ``missing_values``) are missing values.

    Raises:
        UserError: naming the row and column, for booleans, non-numeric strings and other types.
    """
    if value is None:
        return math.nan
    if isinstance(value, bool):
        msg = f"Row {row}, column {column}: {value!r} is not a number."
        raise UserError(msg)
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            msg = f"Row {row}, column {column}: {_shown(value)} is too large for a number."
            raise UserError(msg) from None
    if isinstance(value, str):
        text = value.strip()
        if text in MISSING_TOKENS:
            return math.nan
        try:
            return float(text)
        except ValueError:
            pass
    msg = f"Row {row}, column {column}: {_shown(value)} is not a number."
    raise UserError(msg)


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**40:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return shown(value, 40)


def check_width(got: int, feature_names: Sequence[str]) -> None:
    """Positional rows hold exactly one value per feature; one too many is most likely the label."""
    expected = len(feature_names)
    if got != expected:
        hint = " Rows must not include the label." if got == expected + 1 else ""
        msg = f"Expected {expected} features per row, got {got}.{hint}"
        raise UserError(msg)


NAMES_SHOWN = 5
"""Unknown names a message shows (and looks up a closest name for): a request of many thousands of
unknown names costs no more than a few."""


def check_names(given: Iterable[str], feature_names: Sequence[str], what: str) -> None:
    """Named values must name every feature and nothing else; an unknown name gets the closest feature's."""
    given = set(given)
    unknown = sorted(given - set(feature_names))
    if unknown:
        shown = unknown[:NAMES_SHOWN]
        more = f" and {len(unknown) - len(shown)} more" if len(unknown) > len(shown) else ""
        raise UserError(
            f"{what}: unknown features {shown}{more}; the model's features are {_names(feature_names)}."
            + closest_names(shown, feature_names)
        )
    missing = [name for name in feature_names if name not in given]
    if missing:
        more = f" and {len(missing) - NAMES_SHOWN} more" if len(missing) > NAMES_SHOWN else ""
        msg = (
            f"{what}: missing features {missing[:NAMES_SHOWN]}{more}; "
                        f"send every one of {_names(feature_names)}."
        )
        raise UserError(msg)


def _names(feature_names: Sequence[str], limit: int = 50) -> str:
    shown = list(feature_names[:limit])
    return f"{shown}" if len(feature_names) <= limit else f"{shown[:-1]}... ({len(feature_names)} in all)"


def closest_names(unknown: Iterable[str], known: Sequence[str]) -> str:
    """``" Did you mean 'color' for 'colour'?"`` for unknown names that resemble a known one, else ``""``."""
    pairs = []
    for name in list(unknown)[:NAMES_SHOWN]:
        match = difflib.get_close_matches(name, list(known), n=1)
        if match:
            pairs.append(f"{match[0]!r} for {name!r}")
    return f" Did you mean {', '.join(pairs)}?" if pairs else ""


