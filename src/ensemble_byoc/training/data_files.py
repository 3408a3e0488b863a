"""One data file read into a frame whose rows know their line: CSV (gzip-compressed or not) and Parquet.

A CSV row must have as many fields as the file has columns: a long row is refused by the parser, a
short one here (an empty field, as in ``1,2,,4``, is a missing value; a missing field is an error).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from ensemble_byoc.contract.file_magic import is_gzip
from ensemble_byoc.contract.missing_values import MISSING_TOKENS
from ensemble_byoc.errors import UserError, short

_CHUNK_BYTES = 1 << 24
_CHUNK_CELLS = 1 << 22
_COMMA, _NEWLINE, _QUOTE = ord(","), ord("\n"), ord('"')
_OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


@dataclass
class FilePart:
    """One file's rows, with what is needed to name a bad cell by file and line (CSV) or row (Parquet)."""

    path: Path
    frame: pd.DataFrame
    is_parquet: bool
    header: bool
    line_numbers: np.ndarray

    def where(self, index: int) -> str:
        if self.is_parquet:
            return f"{self.path.name}, row {index + 1}"
        return f"{self.path.name}, line {int(self.line_numbers[index])}"


def read_file(path: Path, *, is_parquet: bool, header: bool) -> FilePart:
    """Read one file; blank CSV lines are dropped, every other row keeps its line number."""
    try:
        if is_parquet:
            frame = pd.read_parquet(path)
            return FilePart(path, frame, True, True, np.arange(1, len(frame) + 1))
        frame = _read_csv(path, header)
    except (ValueError, OSError, pd.errors.ParserError, pa.ArrowException) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        msg = f"{path.name} is not readable {kind}: {short(exc)}"
        raise UserError(msg) from exc
    blank = frame.isna().all(axis=1).to_numpy()
    _check_no_short_row(path, frame, blank, header)
    if not header:
        frame.columns = [f"f{i - 1}" if i else "label" for i in range(frame.shape[1])]
    line_numbers = np.arange(1, len(frame) + 1) + (1 if header else 0)
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
        line_numbers = line_numbers[~blank]
    return FilePart(path, frame, False, header, line_numbers)


def _read_csv(path: Path, header: bool) -> pd.DataFrame:
    """The file in chunks of about ``_CHUNK_CELLS`` cells, joined: pandas' parser holds a chunk's text and
    tokens rather than the whole file's (at 1,000,000 rows x 21 columns, 330 MB above the frame instead of
    710 MB, and faster). Blank lines are kept while reading so that every row knows its line in the file.
    """
    chunks = pd.read_csv(path, header=0 if header else None, compression=compression(path),
                         skip_blank_lines=False, keep_default_na=False, na_values=sorted(MISSING_TOKENS),
                         chunksize=max(1024, _CHUNK_CELLS // _fields_on_first_line(path)))
    with chunks:
        parts = list(chunks)
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True)


def _fields_on_first_line(path: Path) -> int:
    with _open(path) as handle:
        return handle.readline(1 << 20).count(b",") + 1


def separator_hint(path: Path) -> str:
    """For a CSV file read as one column: which other separator its first line holds, if any."""
    try:
        with _open(path) as handle:
            first = handle.readline(1 << 16).decode("utf-8", errors="replace")
    except OSError:
        return ""
    if "," in first:
        return ""
    for separator, name in _OTHER_SEPARATORS.items():
        if separator in first:
            return f" The first line of {path.name} holds {name} but no ','; write comma-separated values."
    return ""


def _check_no_short_row(path: Path, frame: pd.DataFrame, blank: np.ndarray, header: bool) -> None:
    """A ``UserError`` naming the first row with fewer fields than the file's columns.

    The parser fills a short row's missing fields with NaN, so only rows whose last cell is missing can be
    short; only then is the file scanned for the fields of each line.
    """
    if frame.shape[1] < 2 or not (frame.iloc[:, -1].isna().to_numpy() & ~blank).any():
        return
    fields = _fields_per_line(path)
    if header:
        fields = fields[1:]
    if fields.shape[0] != frame.shape[0]:
        return  # lines the scan cannot align with the parser's rows (stray quotes, '\r' line ends)
    short = (fields < frame.shape[1]) & ~blank
    if short.any():
        index = int(np.flatnonzero(short)[0])
        msg = (
            f"{path.name} is not readable CSV: line {index + 1 + int(header)} has {int(fields[index])} "
            f"fields, but the file has {frame.shape[1]} columns. Write every field, an empty one "
            "(as in 1,2,,4) for a missing value."
        )
        raise UserError(msg)


def _fields_per_line(path: Path) -> np.ndarray:
    """The number of fields on each line of a CSV file (commas and line ends inside quotes not counted),
    read in chunks of bytes with numpy; memory is bounded by the chunk and one count per line."""
    counts: list[np.ndarray] = []
    carried, in_quotes, pending = 0, False, False
    with _open(path) as handle:
        for chunk in _chunks(handle):
            data = np.frombuffer(chunk, dtype=np.uint8)
            commas, ends = np.flatnonzero(data == _COMMA), np.flatnonzero(data == _NEWLINE)
            quotes = np.flatnonzero(data == _QUOTE)
            if quotes.size or in_quotes:
                commas, ends = _outside(commas, quotes, in_quotes), _outside(ends, quotes, in_quotes)
                in_quotes = bool((quotes.size + in_quotes) % 2)
            per_line = np.bincount(np.searchsorted(ends, commas), minlength=ends.size + 1)
            per_line[0] += carried
            counts.append(per_line[:-1] + 1)
            carried = int(per_line[-1])
            pending = not ends.size or int(ends[-1]) < data.size - 1  # a line not ended yet
    if pending:
        counts.append(np.array([carried + 1]))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def _outside(positions: np.ndarray, quotes: np.ndarray, in_quotes: bool) -> np.ndarray:
    """The positions not inside a quoted field: an even number of quotes before them (a doubled quote
    inside a field counts twice, so it changes nothing)."""
    return np.asarray(positions[(np.searchsorted(quotes, positions) + in_quotes) % 2 == 0])


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK_BYTES):
        yield chunk


def compression(path: Path) -> str | None:
    """``"gzip"`` for a gzip-compressed file (by its magic bytes, whatever its name), else ``None``."""
    return "gzip" if is_gzip(path) else None


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if compression(path) else path.open("rb")  # type: ignore[return-value]
