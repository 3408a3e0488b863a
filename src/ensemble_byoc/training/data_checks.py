"""What a channel's cells must be: numbers where numbers are due, a label in every row, and, when the label
is taken by position (the first column), a first column that can be a label.

Messages quote at most ``CELL_TEXT_LIMIT`` characters of a cell: a job's failure reason is shown to
anyone who can describe the job, so it must not carry the data.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data_files import FilePart

logger = logging.getLogger(__name__)

CELL_TEXT_LIMIT = 20
"""The most characters of a cell that a message quotes."""

MIN_ROWS_FOR_ID_CHECK = 10
"""A first column counting 0, 1, 2, ... (or 1, 2, 3, ...) over at least this many rows is a row id."""

LABEL_FIRST = (
    "The label is the first column (the label-first convention of SageMaker's built-in algorithms); "
    "for a label in another column, name it with the hyperparameter 'target' (CSV files then need a "
    "header row)"
)
"""How the label is found, for messages about a label that looks wrong."""


def cell_text(value: Any) -> str:
    """A cell's value for a message: quoted, and cut to ``CELL_TEXT_LIMIT`` characters."""
    text = str(value)
    return repr(text if len(text) <= CELL_TEXT_LIMIT else text[:CELL_TEXT_LIMIT] + "...")


def check_cells(part: FilePart, target_name: str, *, numeric_label: bool, label_first: bool,
                categorical: tuple[str, ...] = ()) -> None:
    """Every non-categorical feature numeric and every label present (and finite, if numeric), or a
    ``UserError`` naming the first bad cell; numeric text columns of ``part.frame`` become numbers."""
    if not numeric_label:
        _check_text_labels(part, target_name)
    for column in part.frame.columns:
        if (column == target_name and not numeric_label) or column in categorical:
            continue
        values = part.frame[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() & values.notna()
        if not bad.any():
            part.frame[column] = numeric
            continue
        index = int(np.flatnonzero(bad.to_numpy())[0])
        hint = ""
        if not part.is_parquet and not part.header and index == 0:
            hint = " It looks like a header row: set the hyperparameter 'target' to the label column's name."
        if column == target_name and label_first:
            hint += f" A regression label must be a number. {LABEL_FIRST}."
        msg = (
            f"{part.where(index)}: column {cell_text(column)} holds {cell_text(values.iloc[index])}, "
            f"which is not a number.{hint}"
        )
        raise UserError(msg)
    if numeric_label:
        _check_finite(part, target_name, part.frame[target_name].to_numpy(dtype=np.float64))


def _check_text_labels(part: FilePart, target_name: str) -> None:
    missing = part.frame[target_name].isna().to_numpy()
    if missing.any():
        index = int(np.flatnonzero(missing)[0])
        msg = f"{part.where(index)}: the label {target_name!r} is missing."
        raise UserError(msg)
    _check_finite(part, target_name,
                  pd.to_numeric(part.frame[target_name], errors="coerce").to_numpy(dtype=np.float64),
                  text_allowed=True)


def _check_finite(part: FilePart, target_name: str, labels: np.ndarray, *,
                  text_allowed: bool = False) -> None:
    """Labels that read as numbers are finite; NaN is a missing label (text, with ``text_allowed``)."""
    bad = np.isinf(labels) if text_allowed else ~np.isfinite(labels)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        if np.isnan(labels[index]):
            msg = f"{part.where(index)}: the label {target_name!r} is missing."
            raise UserError(msg)
        msg = (
            f"{part.where(index)}: the label {target_name!r} is {labels[index]}; "
            "labels must be finite numbers."
        )
        raise UserError(msg)


def check_label_column(labels: pd.Series, *, channel: str, label_first: bool, label_check: bool) -> None:
    """Log what the label holds (counts and numbers only, never its text), and refuse a first column that
    counts the rows: a row id, not a label (unless ``label_check`` is off)."""
    numbers = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=np.float64)
    distinct = int(labels.nunique(dropna=True))
    if np.isfinite(numbers).all() and numbers.size:
        logger.info("Channel %r: the label has %d distinct values in %d rows, numbers from %.6g to %.6g.",
                    channel, distinct, numbers.size, numbers.min(), numbers.max())
    else:
        logger.info("Channel %r: the label has %d distinct values in %d rows, text.",
                    channel, distinct, numbers.size)
        return
    if not (label_first and label_check) or numbers.size < MIN_ROWS_FOR_ID_CHECK:
        return
    for start in (0, 1):
        if np.array_equal(numbers, np.arange(start, start + numbers.size)):
            msg = (
                f"Channel {channel!r}: the first column counts the rows ({start}, {start + 1}, "
                f"{start + 2}, ... in file order), so it is a row id, not a label. {LABEL_FIRST}. "
                "If this column really is the label, set the hyperparameter 'label_check' to false."
            )
            raise UserError(msg)
