"""Parquet request bodies to rows, checked from the footer before any page is read.

A Parquet file is small on the wire and large once decoded (a dictionary-encoded column of one long string
repeated on every row is a few hundred bytes). So the schema and the row groups' metadata are checked
first: every column must be a feature the model can use, and the rows, values and uncompressed pages must
fit the payload limit; only then are the model's columns read, text columns kept dictionary-encoded (each
level decoded once, never once per row), and pyarrow's memory returned to the system afterwards.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ensemble_byoc.errors import PayloadTooLargeError, UserError, short
from ensemble_byoc.serving.codecs.inputs import (
    MIB,
    NAMES_SHOWN,
    DecodeOptions,
    InputBatch,
    category_code,
    check_names,
)
from ensemble_byoc.serving.codecs.parquet_pages import column_chunk_pages

DEFAULT_OPTIONS = DecodeOptions()


def decode_parquet(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """Numeric columns, and text columns for the model's categorical features, matched by name.

    Pandas index columns (``__index_level_0__``) are ignored. With the model's feature names known, a
    column the model cannot use is refused before anything is read.
    """
    try:
        metadata, schema = _footer(body)
        names = [name for name in schema.names if not _is_index(name)]
        _check_columns(names, schema, options)
        _check_size(body, metadata, names, options)
        text = [name for name in names if _is_text(schema.field(name).type)]
        parquet = pq.ParquetFile(pa.BufferReader(body), read_dictionary=text or None)
        table = parquet.read(columns=names, use_threads=False)  # one thread per worker, as for the libraries
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        msg = f"The request body is not a readable Parquet file: {short(exc)}"
        raise UserError(msg) from None
    try:
        values = np.empty((table.num_rows, len(names)), dtype=np.float64)
        for c, name in enumerate(names):
            values[:, c] = _floats(table.column(name), options.categories.get(name))
    finally:
        del table
        pa.default_memory_pool().release_unused()
    return InputBatch(values=values, columns=tuple(names))


def _footer(body: bytes) -> tuple[pq.FileMetaData, pa.Schema]:
    metadata = pq.ParquetFile(pa.BufferReader(body)).metadata
    return metadata, metadata.schema.to_arrow_schema()


def _is_index(name: str) -> bool:
    return name.startswith("__index_level_") and name.endswith("__")


def _value_type(data_type: pa.DataType) -> pa.DataType:
    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type


def _is_text(data_type: pa.DataType) -> bool:
    value = _value_type(data_type)
    return bool(pa.types.is_string(value) or pa.types.is_large_string(value))


def _is_number(data_type: pa.DataType) -> bool:
    value = _value_type(data_type)
    return bool(pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_null(value))


def _check_columns(names: list[str], schema: pa.Schema, options: DecodeOptions) -> None:
    """Refuse, naming it, a repeated column, a nested or non-numeric one, text for a numeric feature, or a
    column that is not a feature of the model (with the closest feature name)."""
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        msg = f"The Parquet file repeats column names: {repeated[:NAMES_SHOWN]}."
        raise UserError(msg)
    if set(names) - set(options.feature_names or names):  # unknown names first, with the closest one
        check_names(names, options.feature_names, "Parquet columns")
    wrong = [f"{name} ({_value_type(schema.field(name).type)})" for name in names
             if not (_is_number(schema.field(name).type)
                     or (_is_text(schema.field(name).type) and name in options.categories))]
    if wrong:
        text_ok = [name for name in options.categories if name in names]
        allowed = f"; text only for the model's categorical features {text_ok}" if text_ok else ""
        msg = f"Parquet columns must be numbers; these are not: {', '.join(wrong)}{allowed}."
        raise UserError(msg)
    if options.feature_names:
        check_names(names, options.feature_names, "Parquet columns")  # what is left: missing features


def _check_size(body: bytes, metadata: pq.FileMetaData, names: list[str], options: DecodeOptions) -> None:
    """The rows as float64 numbers, and the uncompressed pages of the columns read (by the footer and by
    the page headers, which the reader trusts), must fit the limit."""
    rows = max(sum(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)), metadata.num_rows)
    as_numbers = rows * max(len(names), 1) * 8
    pages = _pages(body, metadata, names, options.max_bytes)
    if max(as_numbers, pages) > options.max_bytes:
        size = (f"{as_numbers / MIB:.1f} MiB as numbers" if as_numbers >= pages
                else f"{pages / MIB:.1f} MiB of uncompressed pages")
        msg = (
            f"The Parquet body holds {rows} rows x {len(names)} columns, {size}, over the "
            f"{options.max_bytes // MIB} MiB payload limit; split it into smaller requests."
        )
        raise PayloadTooLargeError(msg)


def _pages(body: bytes, metadata: pq.FileMetaData, names: list[str], limit: int) -> int:
    """The uncompressed size of the columns read, by the footer or their page headers (the larger); the
    count stops once past ``limit``."""
    read = [j for j in range(metadata.num_columns) if metadata.schema.column(j).path.split(".")[0] in names]
    total = 0
    for i in range(metadata.num_row_groups):
        for j in read:
            chunk = metadata.row_group(i).column(j)
            total += max(int(chunk.total_uncompressed_size), column_chunk_pages(body, chunk))
            if total > limit:
                return total
    return total


def _floats(column: pa.ChunkedArray, codes: Mapping[str, float] | None) -> np.ndarray:
    """A column as floats: numbers as they are (null is missing); for a categorical feature, each distinct
    value is looked up once among the levels (unseen or missing: NaN)."""
    parts = []
    for chunk in column.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            dictionary, indices = chunk.dictionary, chunk.indices
        elif codes is not None:
            encoded = chunk.dictionary_encode()
            dictionary, indices = encoded.dictionary, encoded.indices
        else:
            parts.append(chunk.to_numpy(zero_copy_only=False).astype(np.float64))
            continue
        levels = dictionary.to_pylist()
        table = np.array([_level(value, codes) for value in levels] + [math.nan], dtype=np.float64)
        position = indices.fill_null(len(levels)).to_numpy(zero_copy_only=False)
        parts.append(table[position])
    return np.concatenate(parts) if parts else np.zeros(0)


def _level(value: object, codes: Mapping[str, float] | None) -> float:
    if codes is not None:
        return category_code(value, codes)
    return math.nan if value is None else float(value)  # type: ignore[arg-type]  # numbers only here
