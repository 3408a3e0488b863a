"""The fast path of the text decoders: rows of plain numbers converted in C++ by pyarrow's compute kernels.

CSV goes to them as it is; JSON and JSON Lines bodies that are only rows of numbers (``[1, 2.5,
null]``) are first rewritten as CSV lines with numpy, after a check of their structure. Whatever these
functions do not take (text cells, records, a bad value, ...) they answer ``None``, and the decoders'
cell-by-cell path, which names the row and column of a bad cell, reads the body instead.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ensemble_byoc.contract.missing_values import MISSING_TOKENS

_NULL_SET = pa.array(sorted(MISSING_TOKENS), pa.large_string())
_SLICE = 1 << 20
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 13, 32]] = True
_ALLOWED = _SPACE.copy()
_ALLOWED[np.frombuffer(b"0123456789+-.eE,[]nul", dtype=np.uint8)] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[np.frombuffer(b"0123456789", dtype=np.uint8)] = True
_EXPONENT = np.zeros(256, dtype=bool)
_EXPONENT[[ord("e"), ord("E")]] = True
_OPEN, _CLOSE, _COMMA, _NEWLINE = (ord(c) for c in "[],\n")
_INSTANCES = re.compile(rb'\s*\{\s*"instances"\s*:\s*\[')
_END_OF_OBJECT = re.compile(rb"\]\s*\}\s*\Z")


def csv_floats(body: bytes, width: int,
               categorical: Mapping[int, Mapping[str, float]] | None = None) -> np.ndarray | None:
    """Every cell of a CSV body without quotes or blank lines as a float (the text levels of ``categorical``
    columns by their codes), or ``None`` when a cell is not a number or a row is not ``width`` wide.

    pyarrow's compute kernels split and convert about 1 MiB of lines at a time, on this thread (its CSV
    reader would start I/O threads in the worker), into a matrix allocated once.
    """
    n_rows = body.count(b"\n") + (not body.endswith(b"\n"))
    values = np.empty((n_rows, width), dtype=np.float64)
    row, start = 0, 0
    while start < len(body):
        end = body.find(b"\n", min(start + _SLICE, len(body) - 1))
        end = len(body) if end < 0 else end + 1
        part = _slice_floats(body[start:end], width, categorical or {})
        if part is None or row + len(part) > n_rows:
            return None
        values[row:row + len(part)] = part
        row, start = row + len(part), end
    pa.default_memory_pool().release_unused()
    return values if row == n_rows else None


def _slice_floats(text: bytes, width: int,
                  categorical: Mapping[int, Mapping[str, float]]) -> np.ndarray | None:
    whole = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(text)], dtype=np.int64)), pa.py_buffer(text))
    lines = pc.split_pattern(whole, "\n").flatten()
    if text.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    cells = pc.split_pattern(lines, ",")
    if not (pc.list_value_length(cells).to_numpy(zero_copy_only=False) == width).all():
        return None
    flat = cells.flatten()
    if not categorical:  # one conversion, in row order; a cell with spaces or a missing token fails it
        with contextlib.suppress(pa.ArrowInvalid):
            return _matrix(flat, width)
    flat = pc.utf8_trim_whitespace(flat)
    flat = pc.if_else(pc.is_in(flat, value_set=_NULL_SET), pa.scalar(None, pa.large_string()), flat)
    try:
        if not categorical:
            return _matrix(flat, width)
        out = np.empty((len(lines), width), dtype=np.float64)
        for c in range(width):
            column = flat if width == 1 else pc.take(flat, pa.array(np.arange(c, len(flat), width)))
            out[:, c] = (_codes(column, categorical[c]) if c in categorical
                         else pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return out


def _matrix(cells: pa.Array, width: int) -> np.ndarray:
    """Cells in row order as a float matrix ``width`` wide (``pa.ArrowInvalid``: a cell is not a number)."""
    values = np.asarray(pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values.reshape(-1, width)


def _codes(column: pa.Array, codes: Mapping[str, float]) -> np.ndarray:
    """Text levels to their codes; a missing or unseen level (or a missing-value token) is NaN."""
    levels = list(codes)
    found = pc.index_in(column, value_set=pa.array(levels, pa.large_string()))
    position = found.fill_null(len(levels)).to_numpy(zero_copy_only=False)
    table = np.append(np.array([codes[level] for level in levels], dtype=np.float64), math.nan)
    return np.asarray(table[position], dtype=np.float64)


def _json_numbers(data: np.ndarray) -> bool:
    """Whether signs, dots, exponents and zeros stand where JSON's number grammar allows them (``+1``,
    ``.5``, ``1.``, ``01`` and ``1-2`` are not JSON, though a float parser would read them)."""
    padded = np.pad(data, (2, 1), constant_values=32)
    here, after = padded[2:-1], padded[3:]
    before, before2 = padded[1:-2], padded[:-3]
    digit_before, digit_after = _DIGIT[before], _DIGIT[after]
    exp_before, exp_before2 = _EXPONENT[before], _EXPONENT[before2]
    sign_before = (before == ord("+")) | (before == ord("-"))
    integer_start = ~digit_before & (before != ord(".")) & ~exp_before & ~(sign_before & exp_before2)
    wrong = (
        ((here == ord("+")) & ~exp_before)
        | ((here == ord("-")) & (~digit_after | digit_before | (before == ord("."))))
        | ((here == ord(".")) & ~(digit_before & digit_after))
        | (_EXPONENT[here] & ~(digit_before & (digit_after | (after == ord("+")) | (after == ord("-")))))
        | ((here == ord("0")) & digit_after & integer_start)
    )
    return not wrong.any()


def json_rows_as_csv(body: bytes) -> bytes | None:
    """``[[...], ...]`` or ``{"instances": [[...], ...]}`` of plain numbers as CSV lines, else ``None``."""
    head = _INSTANCES.match(body, 0, 4096)
    if head is not None:
        tail = _END_OF_OBJECT.search(body, max(0, len(body) - 4096))
        if tail is None:
            return None
        return rows_as_csv(body[head.end():tail.start()], b",")
    stripped = body.strip()
    if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
        return None
    return rows_as_csv(stripped[1:-1], b",")


def rows_as_csv(region: bytes, separator: bytes) -> bytes | None:
    """Rows ``[1, 2.5, null]`` separated by one comma (JSON) or by newlines (JSON Lines) as CSV lines, or
    ``None`` when the region holds anything else (nesting, a row across lines, text, an empty cell, ...)."""
    data = np.frombuffer(region, dtype=np.uint8)
    if not len(data) or not _ALLOWED[data].all():
        return None
    opens, closes = data == _OPEN, data == _CLOSE
    # Nesting depth after each byte; int8 suffices, since any depth outside 0..1 is refused on the way.
    depth = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int8)
    if depth.min() < 0 or depth.max() > 1 or depth[-1] != 0:
        return None
    inside = depth == 1  # a row's '[' and its cells; its ']' is outside
    if (inside & ((data == _NEWLINE) | (data == 13))).any():
        return None
    outside = ~inside & ~closes
    if (outside & ~_SPACE[data] & (data != _COMMA)).any():
        return None
    open_at, close_at = (np.flatnonzero(opens).astype(np.int32), np.flatnonzero(closes).astype(np.int32))
    if separator == b",":
        between = np.flatnonzero(outside & (data == _COMMA))
        if len(between) != len(open_at) - 1 or not (
                (between > close_at[:-1]) & (between < open_at[1:])).all():
            return None
    else:
        if (outside & (data == _COMMA)).any():
            return None
        newlines = np.flatnonzero(data == _NEWLINE).astype(np.int32)
        if (np.searchsorted(newlines, close_at[:-1]) == np.searchsorted(newlines, open_at[1:])).any():
            return None  # two rows on one line
    tokens = data[~_SPACE[data]].tobytes()  # every row holds values, none of them empty
    if b"[]" in tokens or b"[," in tokens or b",]" in tokens or b",," in tokens or not _json_numbers(data):
        return None
    cells = data[(inside & ~opens) | closes].copy()
    cells[cells == _CLOSE] = _NEWLINE
    return bytes(cells.tobytes())
