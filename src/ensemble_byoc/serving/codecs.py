"""Request bodies to rows, predictions to response bodies; one table per direction."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ensemble_byoc.errors import NotAcceptableError, UnsupportedMediaTypeError, UserError

CSV = "text/csv"
JSON = "application/json"


@dataclass(frozen=True)
class InputBatch:
    """Decoded rows: either a float matrix in the model's feature order, or records keyed by feature name."""

    values: np.ndarray | None = None
    records: list[dict[str, float]] | None = None

    @property
    def n_rows(self) -> int:
        if self.values is not None:
            return int(self.values.shape[0])
        return len(self.records or [])


def parse_media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; charset=UTF-8"`` -> ``("text/csv", {"charset": "utf-8"})``."""
    if not header:
        return "", {}
    main, *params = header.split(";")
    parsed = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            parsed[key.strip().lower()] = value.strip().strip('"').lower()
    return main.strip().lower(), parsed


def _to_float(value: Any, row: int, column: int | str) -> float:
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
    raise UserError(f"Row {row}, column {column}: {value!r} is not a number.")


def decode_csv(body: bytes) -> InputBatch:
    """Rows of numbers without a header or label; an empty field is a missing value."""
    text = _utf8(body)
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise UserError("The request body holds no CSV rows.")
    return InputBatch(values=_matrix(rows))


def decode_json(body: bytes) -> InputBatch:
    """``{"instances": [[...], ...]}``, ``{"instances": [{"name": v}, ...]}``, ``{"features": [...]}``,
    or a bare list of rows or records."""
    try:
        document = json.loads(_utf8(body))
    except ValueError as exc:
        raise UserError(f"The request body is not valid JSON: {exc}") from None
    if isinstance(document, dict):
        if "instances" in document:
            rows = document["instances"]
        elif "features" in document:
            rows = [document["features"]]
        else:
            raise UserError('A JSON object body needs an "instances" list or a "features" list.')
    else:
        rows = document
    if not isinstance(rows, list) or not rows:
        raise UserError("The JSON body holds no rows; send a non-empty list of rows or records.")
    if all(isinstance(row, dict) for row in rows):
        records = [
            {str(name): _to_float(value, r + 1, str(name)) for name, value in row.items()}
            for r, row in enumerate(rows)
        ]
        return InputBatch(records=records)
    if not all(isinstance(row, list) for row in rows):
        raise UserError("Each JSON row must be a list of numbers or an object of named features, not a mix.")
    return InputBatch(values=_matrix(rows))


def _matrix(rows: list[list[Any]]) -> np.ndarray:
    """Rows of equal length to a float64 matrix; the first bad row or cell is named (1-based)."""
    width = len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, row in enumerate(rows):
        if len(row) != width:
            raise UserError(f"Row {r + 1} has {len(row)} values, but row 1 has {width}.")
        for c, cell in enumerate(row):
            values[r, c] = _to_float(cell, r + 1, c + 1)
    return values


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")  # a leading byte-order mark (Excel's CSV) is dropped
    except UnicodeDecodeError as exc:
        raise UserError(f"The request body is not UTF-8 text (byte {exc.start}).") from None


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def encode_csv(predictions: np.ndarray) -> bytes:
    return "".join(f"{_csv_number(float(v))}\n" for v in predictions).encode("utf-8")


def _csv_number(value: float) -> str:
    return repr(value) if math.isfinite(value) else ""


def encode_json(predictions: np.ndarray) -> bytes:
    document = {"predictions": [{"score": _number(float(v))} for v in predictions]}
    return json.dumps(document, allow_nan=False).encode("utf-8")


DECODERS: Mapping[str, Callable[[bytes], InputBatch]] = {CSV: decode_csv, JSON: decode_json}
ENCODERS: Mapping[str, Callable[[np.ndarray], bytes]] = {CSV: encode_csv, JSON: encode_json}


def decoder_for(content_type: str | None) -> Callable[[bytes], InputBatch]:
    """The decoder for a Content-Type header, or 415 naming the accepted types."""
    media_type, params = parse_media_type(content_type)
    if media_type not in DECODERS:
        shown = repr(content_type) if content_type else "missing"
        raise UnsupportedMediaTypeError(
            f"Content-Type {shown} is not supported; send one of {', '.join(DECODERS)}."
        )
    charset = params.get("charset")
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError(f"Content-Type charset {charset!r} is not supported; send UTF-8.")
    return DECODERS[media_type]


def negotiate_accept(accept: str | None, default: str) -> str:
    """The response type for an Accept header: the first supported entry; none or ``*/*`` gives ``default``."""
    if not accept or not accept.strip():
        return default
    for entry in accept.split(","):
        media_type, _ = parse_media_type(entry)
        if media_type in ENCODERS:
            return media_type
        if media_type == "*/*":
            return default
        if media_type.endswith("/*"):
            family = media_type[:-1]
            if default.startswith(family):
                return default
            for candidate in ENCODERS:
                if candidate.startswith(family):
                    return candidate
    raise NotAcceptableError(f"Accept {accept!r} names no supported type; ask for one of {', '.join(ENCODERS)}.")
