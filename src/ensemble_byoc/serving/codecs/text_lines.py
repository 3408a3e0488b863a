"""Lines of a text request body, found with numpy on the raw bytes (no Python object per line), and the
growing float rows the text decoders fill."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from ensemble_byoc.errors import UserError

_NEWLINE, _COMMA = 10, 44
_SPACE_TABLE = np.zeros(256, dtype=bool)
_SPACE_TABLE[[9, 10, 11, 12, 13, 32]] = True  # what str.strip() drops, in ASCII
_SLICE = 1 << 20


@dataclass(frozen=True)
class Lines:
    """Every line of a body: where it starts and ends (without its newline), whether it holds anything but
    spaces, and how many commas it holds. A final newline ends the last line; it does not start another."""

    starts: np.ndarray
    ends: np.ndarray
    filled: np.ndarray
    commas: np.ndarray

    @property
    def numbers(self) -> np.ndarray:
        """The 1-based numbers of the lines that are not blank."""
        return np.flatnonzero(self.filled) + 1

    def gaps(self) -> np.ndarray:
        """The answer positions of the blank lines (batch transform): each blank line is one answer line.
        An array (8 bytes a line), not a tuple of Python ints: a body of blank lines stays cheap."""
        return np.flatnonzero(~self.filled)

    def text(self, body: bytes, number: int) -> str:
        """Line ``number`` (1-based), decoded, without its ``\\r``."""
        start, end = int(self.starts[number - 1]), int(self.ends[number - 1])
        return body[start:end].decode("utf-8").rstrip("\r")


def find_lines(body: bytes) -> Lines:
    """The lines of ``body``, in numpy arrays of 13 bytes a line; the work goes in slices of the body, so
    no temporary array is larger than a slice's."""
    data = np.frombuffer(body, dtype=np.uint8)
    parts = [np.flatnonzero(data[at:at + _SLICE] == _NEWLINE).astype(np.int32) + at
             for at in range(0, len(data), _SLICE)]
    if len(body) and body[-1] != _NEWLINE:
        parts.append(np.array([len(body)], dtype=np.int32))
    ends = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    starts = np.empty_like(ends)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    filled = np.zeros(len(ends), dtype=bool)
    commas = np.zeros(len(ends), dtype=np.int32)
    for first in range(0, len(ends), _SLICE // 8):  # a slice of lines and their bytes, newlines included
        last = min(first + _SLICE // 8, len(ends))
        begin, stop = int(starts[first]), min(int(ends[last - 1]) + 1, len(body))
        chunk = data[begin:stop]
        # Each segment [start, next start) holds one line and its newline (never empty); reduceat sums each.
        offsets = starts[first:last] - begin
        filled[first:last] = np.add.reduceat(~_SPACE_TABLE[chunk], offsets, dtype=np.int32) > 0
        commas[first:last] = np.add.reduceat(chunk == _COMMA, offsets, dtype=np.int32)
    return Lines(starts, ends, filled, commas)


def first_line(body: bytes) -> tuple[int, str] | None:
    """The first line that is not blank, with its number, found without reading the rest of the body."""
    lead = len(body) - len(body.lstrip())
    if lead == len(body):
        return None
    start = body.rfind(b"\n", 0, lead) + 1
    end = body.find(b"\n", start)
    end = len(body) if end < 0 else end
    return body.count(b"\n", 0, start) + 1, body[start:end].decode("utf-8").rstrip("\r")


def without_bom(body: bytes) -> bytes:
    """The body checked to be UTF-8, without a leading byte-order mark (Excel's CSV has one)."""
    utf8(body)
    return body[3:] if body.startswith(b"\xef\xbb\xbf") else body


def utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")  # a leading byte-order mark (Excel's CSV) is dropped
    except UnicodeDecodeError as exc:
        msg = f"The request body is not UTF-8 text (byte {exc.start})."
        raise UserError(msg) from None


class Rows:
    """Float rows of one width, appended one at a time into a flat array (8 bytes a value, no per-cell
    object kept); the first row sets the width unless it is given."""

    def __init__(self, width: int | None = None) -> None:
        self.width = width
        self.first: int | None = None
        self.flat = array("d")

    def add(self, number: int, values: list[float]) -> None:
        if self.width is None:
            self.width = len(values)
        if self.first is None:
            self.first = number
        if len(values) != self.width:
            msg = f"Row {number} has {len(values)} values, but row {self.first} has {self.width}."
            raise UserError(msg)
        self.flat.extend(values)

    def matrix(self) -> np.ndarray:
        values = np.frombuffer(self.flat, dtype=np.float64) if len(self.flat) else np.zeros(0)
        return values.reshape(-1, self.width or 0)
