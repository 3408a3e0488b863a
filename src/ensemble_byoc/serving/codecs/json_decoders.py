"""JSON and JSON Lines request bodies to rows, one row at a time.

The list of rows is read item by item (``raw_decode``), and each item becomes floats in a flat array at
once, so a body never lives as a list of Python objects per cell; the first row's width (or a record's
names) is checked against the model before the next item is read.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.codecs.inputs import (
    DecodeOptions,
    InputBatch,
    category_code,
    check_names,
    check_width,
    to_float,
)
from ensemble_byoc.serving.codecs.numeric_rows import csv_floats, json_rows_as_csv, rows_as_csv
from ensemble_byoc.serving.codecs.text_lines import Rows, find_lines, utf8, without_bom

DEFAULT_OPTIONS = DecodeOptions()
_SPACE = re.compile(r"[ \t\n\r]*")
_MAX_DIGITS = 4000  # Python refuses to read integers of more than 4,300 digits; a float holds 309


def _parse_int(text: str) -> int:
    if len(text) > _MAX_DIGITS:
        msg = f"The body holds an integer of {len(text)} digits, too large for a number."
        raise UserError(msg)
    return int(text)


_DECODER = json.JSONDecoder(parse_int=_parse_int)


def decode_json(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """``{"instances": [...]}``, ``{"features": [...]}`` (one row), or a bare list of rows or records.

    A row is a list of values or ``{"features": [...]}``; a record is an object of named features. A body
    of several JSON documents, one per line (batch transform splits JSON Lines files so), is JSON Lines.
    """
    text = utf8(body)
    if _one_document_per_line(text):
        return decode_jsonlines(body, options)
    if not options.codes_by_position():
        fast = _numbers_only(json_rows_as_csv(without_bom(body)), options)
        if fast is not None:
            return fast
    try:
        batch = _whole_document(text, options)
    except json.JSONDecodeError as exc:
        msg = f"The request body is not valid JSON: {exc}"
        raise UserError(msg) from None
    except RecursionError:
        msg = "The JSON body is nested too deeply."
        raise UserError(msg) from None
    if batch is None:
        msg = "The JSON body holds no list of rows; send a list of rows or records."
        raise UserError(msg)
    return batch


def _whole_document(text: str, options: DecodeOptions) -> InputBatch | None:
    """The rows of a body that is one JSON document (``None``: a document that is not rows)."""
    start = _skip(text, 0)
    batch: InputBatch | None = None
    if text.startswith("[", start):
        batch, end = _stream_rows(text, start, options)
    elif text.startswith("{", start):
        batch, end = _object_rows(text, start, options)
    else:
        _, end = _DECODER.raw_decode(text, start)
    if _skip(text, end) < len(text):
        msg = "Extra data"
        raise json.JSONDecodeError(msg, text, _skip(text, end))
    return batch


def decode_jsonlines(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """One row or record per line: ``[...]``, ``{"features": [...]}`` or ``{"name": value, ...}``."""
    body = without_bom(body)
    lines = find_lines(body) if options.keep_blank_lines else None
    gaps = lines.gaps() if lines is not None else ()
    if not options.codes_by_position() and not len(gaps):
        fast = _numbers_only(rows_as_csv(body, b"\n"), options)
        if fast is not None:
            return fast
    lines = lines or find_lines(body)
    collector = _Collector(options)
    numbers = lines.numbers
    for index in range(len(numbers)):
        number = int(numbers[index])
        try:
            item = _DECODER.decode(lines.text(body, number))
        except json.JSONDecodeError as exc:
            msg = f"Line {number} is not valid JSON: {exc}"
            raise UserError(msg) from None
        except RecursionError:
            msg = f"Line {number} is nested too deeply."
            raise UserError(msg) from None
        collector.add(number, item)
    return collector.batch(gaps)


def _numbers_only(csv_lines: bytes | None, options: DecodeOptions) -> InputBatch | None:
    """Rows of plain numbers, rewritten as CSV lines, converted in one call; the first row's width is
    checked first. ``None`` when they need the cell-by-cell path (a ragged row, a bad number)."""
    if csv_lines is None:
        return None
    width = csv_lines[: csv_lines.find(b"\n")].count(b",") + 1
    if options.feature_names:
        check_width(width, options.feature_names)
    values = csv_floats(csv_lines, width)
    if values is None or np.isinf(values).any():  # JSON has no infinity: a number too large for a float
        return None
    return InputBatch(values=values)


def _one_document_per_line(text: str) -> bool:
    """Whether the first non-blank line is a whole JSON document and more follow (JSON Lines)."""
    stripped = text.strip()
    if "\n" not in stripped:
        return False
    try:
        _DECODER.decode(stripped[: stripped.index("\n")])
    except (json.JSONDecodeError, RecursionError, UserError):
        return False
    return True


def _skip(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()  # type: ignore[union-attr]  # the pattern matches anything


def _stream_rows(text: str, start: int, options: DecodeOptions) -> tuple[InputBatch, int]:
    """The list at ``text[start]``, one item at a time; returns its rows and the position after it."""
    collector = _Collector(options)
    position = _skip(text, start + 1)
    if text.startswith("]", position):
        return collector.batch(), position + 1
    number = 1
    while True:
        item, position = _DECODER.raw_decode(text, position)
        collector.add(number, item)
        position = _skip(text, position)
        if text.startswith(",", position):
            position, number = _skip(text, position + 1), number + 1
        elif text.startswith("]", position):
            return collector.batch(), position + 1
        else:
            msg = "Expecting ',' delimiter"
            raise json.JSONDecodeError(msg, text, position)


def _object_rows(text: str, start: int, options: DecodeOptions) -> tuple[InputBatch | None, int]:
    """An object body: its ``instances`` list is streamed; ``{"features": [...]}`` is one row."""
    instances: InputBatch | None = None
    values: dict[str, Any] = {}
    position = _skip(text, start + 1)
    while not text.startswith("}", position):
        if not text.startswith('"', position):
            msg = "Expecting property name enclosed in double quotes"
            raise json.JSONDecodeError(msg, text, position)
        key, position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if not text.startswith(":", position):
            msg = "Expecting ':' delimiter"
            raise json.JSONDecodeError(msg, text, position)
        position = _skip(text, position + 1)
        if key == "instances" and text.startswith("[", position):
            instances, position = _stream_rows(text, position, options)
            values[key] = instances
        else:
            values[key], position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if text.startswith(",", position):
            position = _skip(text, position + 1)
            if text.startswith("}", position):
                msg = "Illegal trailing comma before end of object"
                raise json.JSONDecodeError(msg, text, position)
        elif not text.startswith("}", position):
            msg = "Expecting ',' delimiter"
            raise json.JSONDecodeError(msg, text, position)
    end = position + 1
    if "instances" in values:
        found = values["instances"]
        return (found if isinstance(found, InputBatch) else None), end
    if "features" in values:
        collector = _Collector(options)
        collector.add(1, values["features"])
        return collector.batch(), end
    msg = 'A JSON object body needs an "instances" list or a "features" list.'
    raise UserError(msg)


class _Collector:
    """Rows (lists, ``{"features": [...]}``) or records (objects of named features), not a mix. With the
    model's feature names known, records become rows in the model's order as they arrive."""

    def __init__(self, options: DecodeOptions) -> None:
        self.options = options
        self.by_position = options.codes_by_position()
        self.kind: str | None = None
        self.rows = Rows()
        self.records: list[dict[str, float]] = []

    def add(self, number: int, item: Any) -> None:
        if isinstance(item, dict) and len(item) == 1 and isinstance(item.get("features"), list):
            item = item["features"]
        if isinstance(item, list):
            self._row(number, item)
        elif isinstance(item, dict):
            self._record(number, item)
        else:
            msg = (
                f"Row {number} is {type(item).__name__}; "
                            "a row is a list of numbers or an object of named features."
            )
            raise UserError(msg)

    def _start(self, kind: str) -> bool:
        """Whether this is the first item; refuses a mix of rows and records."""
        if self.kind is None:
            self.kind = kind
            return True
        if self.kind != kind:
            msg = "Each JSON row must be a list of numbers or an object of named features, not a mix."
            raise UserError(msg)
        return False

    def _row(self, number: int, row: list[Any]) -> None:
        if self._start("rows") and self.options.feature_names:
            check_width(len(row), self.options.feature_names)
        codes = self.by_position
        self.rows.add(number, [category_code(cell, codes[c]) if c in codes else to_float(cell, number, c + 1)
                               for c, cell in enumerate(row)])

    def _record(self, number: int, record: dict[str, Any]) -> None:
        self._start("records")
        names, categories = self.options.feature_names, self.options.categories
        if not names:  # no model to match against: the record is kept by name
            self.records.append({
                str(name): category_code(value, categories[str(name)]) if str(name) in categories
                else to_float(value, number, str(name)) for name, value in record.items()})
            return
        check_names(record, names, f"Record {number}")
        self.rows.add(number, [category_code(record[name], categories[name]) if name in categories
                               else to_float(record[name], number, name) for name in names])

    def batch(self, gaps: np.ndarray | tuple[int, ...] = ()) -> InputBatch:
        if self.kind is None:
            return InputBatch(gaps=gaps)
        if self.kind == "records" and not self.options.feature_names:
            return InputBatch(records=self.records, gaps=gaps)
        columns = tuple(self.options.feature_names) if self.kind == "records" else None
        return InputBatch(values=self.rows.matrix(), columns=columns, gaps=gaps)
