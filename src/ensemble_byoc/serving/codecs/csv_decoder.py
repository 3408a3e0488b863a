"""CSV request bodies to rows, parsed straight into a float matrix.

The first row is checked against the model (its width, a header row) before anything else is read. A body
without quotes or blank lines then goes to pyarrow's compute kernels, which split and convert every cell in
C++ (``numeric_rows.csv_floats``). Any other body, or one they refuse (a cell that is not a number, a ragged
row), has its lines found with numpy on the raw bytes, a ragged row named, and goes through the cell-by-cell
rules one line at a time, which name the row and column of a bad cell.
"""

from __future__ import annotations

import csv
import re

import numpy as np

from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.codecs.inputs import (
    DecodeOptions,
    InputBatch,
    category_code,
    check_width,
    to_float,
)
from ensemble_byoc.serving.codecs.numeric_rows import csv_floats
from ensemble_byoc.serving.codecs.text_lines import Lines, find_lines, first_line, without_bom

DEFAULT_OPTIONS = DecodeOptions()
_BLANK_LINE = re.compile(rb"(?:\A|\n)[ \t\r\f\v]*(?:\n|\Z)")
_HEADER_HINT = "The first line looks like a header row; send rows without a header."


def decode_csv(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """Rows of numbers without a header or label; an empty field or a missing-value token is missing."""
    body = without_bom(body)
    found = first_line(body)
    if found is None:
        return InputBatch(gaps=find_lines(body).gaps() if options.keep_blank_lines else ())
    first = _cells(found[1], found[0])
    _check_first_row(first, options)  # before anything else is read
    width, quoted = len(first), b'"' in body
    if not quoted and not (width == 1 and _blank_line(body)):
        fast = csv_floats(body, width, options.codes_by_position())
        if fast is not None:
            return InputBatch(values=fast)
    lines = find_lines(body)
    numbers = lines.numbers
    gaps = lines.gaps() if options.keep_blank_lines else ()
    if not quoted:
        widths = lines.commas[numbers - 1] + 1
        ragged = np.flatnonzero(widths != width)
        if len(ragged):
            number, got = int(numbers[ragged[0]]), int(widths[ragged[0]])
            msg = f"Row {number} has {got} values, but row {numbers[0]} has {width}."
            raise UserError(msg)
    return InputBatch(values=_cell_by_cell(body, lines, numbers, width, options), gaps=gaps)


def _blank_line(body: bytes) -> bool:
    """Whether a line holds nothing but white space (the end of the body aside).

    Only a one-column model needs this check before the fast path: there a blank line would read as one
    missing value. Wider rows find a blank line by its width, which the fast path refuses.
    """
    return _BLANK_LINE.search(body, 0, len(body) - body.endswith(b"\n")) is not None


def _cells(line: str, number: int) -> list[str]:
    if '"' not in line:
        return line.split(",")
    if line.count('"') % 2:
        msg = "A quoted CSV field spans several lines; send one row per line."
        raise UserError(msg)
    try:
        return next(csv.reader([line]))
    except csv.Error as exc:
        msg = f"Row {number} is not readable CSV: {exc}."
        raise UserError(msg) from None


def _check_first_row(cells: list[str], options: DecodeOptions) -> None:
    """Before any other line is read: a header row, or the wrong number of values for the model."""
    names = options.feature_names
    if not names:
        return
    if len(cells) in (len(names), len(names) + 1):  # only a row of the model's width can be its header
        known = frozenset(names)
        hits = sum(cell.strip() in known for cell in cells)
        if hits >= max(1, len(cells) - 1) and not any(_number(cell) for cell in cells):
            raise UserError(_HEADER_HINT)  # every cell a feature's name (but perhaps the label's), no number
    check_width(len(cells), names)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _cell_by_cell(body: bytes, lines: Lines, numbers: np.ndarray, width: int,
                  options: DecodeOptions) -> np.ndarray:
    """One line at a time into a matrix allocated once: the first bad cell is named by row and column."""
    categorical = options.codes_by_position() if options.feature_names else {}
    values = np.empty((len(numbers), width), dtype=np.float64)
    for r in range(len(numbers)):
        number = int(numbers[r])
        cells = _cells(lines.text(body, number), number)
        if len(cells) != width:
            msg = f"Row {number} has {len(cells)} values, but row {numbers[0]} has {width}."
            raise UserError(msg)
        for c, cell in enumerate(cells):
            codes = categorical.get(c)
            values[r, c] = to_float(cell, number, c + 1) if codes is None else category_code(cell, codes)
    return values
