"""Text request bodies to rows: CSV, JSON and JSON Lines."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.inputs import DecodeOptions, InputBatch, category_code, matrix, to_float

DEFAULT_OPTIONS = DecodeOptions()


def decode_csv(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """Rows of numbers without a header or label; an empty field is a missing value."""
    text = utf8(body)
    numbered, gaps = numbered_lines(text, keep_blank=options.keep_blank_lines)
    if not numbered:
        return InputBatch(gaps=gaps)
    lines = [line for _, line in numbered]
    rows = [line.split(",") for line in lines] if '"' not in text else list(csv.reader(lines))
    if len(rows) != len(lines):
        raise UserError("A quoted CSV field spans several lines; send one row per line.")
    values = matrix(rows, [n for n, _ in numbered], may_hold_booleans=False,
                    categorical=options.codes_by_position())
    return InputBatch(values=values, gaps=gaps)


def decode_json(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """``{"instances": [...]}``, ``{"features": [...]}`` (one row), or a bare list of rows or records.

    A row is a list of values or ``{"features": [...]}``; a record is an object of named features. A body
    of several JSON documents, one per line (batch transform splits JSON Lines files so), is JSON Lines.
    """
    text = utf8(body)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and "\n" in text.strip():
            return decode_jsonlines(body, options)
        raise UserError(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise UserError("The JSON body is nested too deeply.") from None
    if isinstance(document, dict):
        if "instances" in document:
            items = document["instances"]
        elif "features" in document:
            items = [document["features"]]
        else:
            raise UserError('A JSON object body needs an "instances" list or a "features" list.')
    else:
        items = document
    if not isinstance(items, list):
        raise UserError("The JSON body holds no list of rows; send a list of rows or records.")
    if not items:
        return InputBatch()
    return items_batch(items, list(range(1, len(items) + 1)), may_hold_booleans=_may_hold_booleans(text),
                       options=options)


def decode_jsonlines(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """One row or record per line: ``[...]``, ``{"features": [...]}`` or ``{"name": value, ...}``."""
    text = utf8(body)
    numbered, gaps = numbered_lines(text, keep_blank=options.keep_blank_lines)
    items = []
    for number, line in numbered:
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UserError(f"Line {number} is not valid JSON: {exc}") from None
        except RecursionError:
            raise UserError(f"Line {number} is nested too deeply.") from None
    if not items:
        return InputBatch(gaps=gaps)
    batch = items_batch(items, [n for n, _ in numbered], may_hold_booleans=_may_hold_booleans(text),
                        options=options)
    return replace(batch, gaps=gaps)


def items_batch(
    items: list[Any],
    numbers: list[int],
    *,
    may_hold_booleans: bool = True,
    options: DecodeOptions = DEFAULT_OPTIONS,
) -> InputBatch:
    """JSON rows (lists, ``{"features": [...]}``) to a matrix, or JSON objects to records; not a mix."""
    rows: list[Any] = []
    records: list[tuple[int, dict[str, Any]]] = []
    for number, item in zip(numbers, items, strict=True):
        if isinstance(item, list):
            rows.append(item)
        elif isinstance(item, dict) and len(item) == 1 and isinstance(item.get("features"), list):
            rows.append(item["features"])
        elif isinstance(item, dict):
            records.append((number, item))
        else:
            raise UserError(
                f"Row {number} is {type(item).__name__}; "
                "a row is a list of numbers or an object of named features."
            )
    if rows and records:
        raise UserError("Each JSON row must be a list of numbers or an object of named features, not a mix.")
    if records:
        codes = options.categories
        return InputBatch(records=[
            {
                str(name): category_code(value, codes[str(name)]) if str(name) in codes
                else to_float(value, number, str(name))
                for name, value in record.items()
            }
            for number, record in records
        ])
    return InputBatch(values=matrix(rows, numbers, may_hold_booleans=may_hold_booleans,
                                    categorical=options.codes_by_position()))


def numbered_lines(text: str, *, keep_blank: bool) -> tuple[list[tuple[int, str]], tuple[int, ...]]:
    """Non-blank lines with their 1-based numbers, and the answer positions of blank lines when kept.

    A final newline ends the last line; it does not start another one.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    numbered: list[tuple[int, str]] = []
    gaps: list[int] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            numbered.append((number, line.rstrip("\r")))
        elif keep_blank:
            gaps.append(len(numbered) + len(gaps))
    return numbered, tuple(gaps)


def utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")  # a leading byte-order mark (Excel's CSV) is dropped
    except UnicodeDecodeError as exc:
        raise UserError(f"The request body is not UTF-8 text (byte {exc.start}).") from None


def _may_hold_booleans(text: str) -> bool:
    return "true" in text or "false" in text
