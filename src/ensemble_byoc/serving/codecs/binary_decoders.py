"""Binary request bodies to rows: NumPy .npy here, Parquet in ``parquet_decoder``. Neither ever unpickles
anything."""

from __future__ import annotations

import io

import numpy as np

from ensemble_byoc.contract.npy_files import (
    NpyFormatError,
    NpyHeader,
    NpyVersionError,
    read_npy_data,
    read_npy_header,
)
from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.codecs.inputs import DecodeOptions, InputBatch
from ensemble_byoc.serving.codecs.parquet_decoder import decode_parquet

__all__ = ["decode_npy", "decode_parquet"]

DEFAULT_OPTIONS = DecodeOptions()
_NUMERIC_KINDS = "iuf"  # signed and unsigned integers, floats; not booleans, complex, strings or objects


def decode_npy(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """A 1-D array (one row) or a 2-D array (rows) of numbers, or a structured array of named numbers.

    Only the header is parsed before the data is checked: an object dtype is refused without reading
    (nothing is unpickled), and the data must be exactly as long as the header's shape says, so a header
    cannot make the server allocate more than the body holds.
    """
    stream = io.BytesIO(body)
    header = _npy_header(stream)
    _check_npy_dtype(header.dtype)
    _check_npy_shape(header, len(body))
    array = read_npy_data(stream, header)
    if header.dtype.names:
        columns = tuple(str(name) for name in header.dtype.names)
        values = np.column_stack([array[name].astype(np.float64) for name in columns]).reshape(
            -1, len(columns)
        )
        return InputBatch(values=values, columns=columns)
    values = array.astype(np.float64, copy=False)
    return InputBatch(values=values.reshape(1, -1) if values.ndim == 1 else values)


def _npy_header(stream: io.BytesIO) -> NpyHeader:
    try:
        return read_npy_header(stream)
    except NpyVersionError as exc:
        major, minor = exc.version
        msg = f"The .npy format version {major}.{minor} is not supported; send 1.0 or 2.0."
        raise UserError(msg) from None
    except NpyFormatError as exc:
        msg = f"The request body is not a readable .npy array: {exc}"
        raise UserError(msg) from None


def _check_npy_shape(header: NpyHeader, body_size: int) -> None:
    shape, dtype = header.shape, header.dtype
    if not 1 <= len(shape) <= (1 if dtype.names else 2):
        kind = "a 1-D structured array" if dtype.names else "a 1-D row or a 2-D matrix"
        msg = f"A .npy body must hold {kind}; got shape {shape}."
        raise UserError(msg)
    if any(not 0 <= n <= body_size for n in shape):
        msg = (
            f"The .npy header announces shape {shape}; each dimension must be between 0 and the body's "
            f"{body_size} bytes."
        )
        raise UserError(msg)
    if header.data_size != body_size - header.offset:
        msg = (
            f"The .npy header announces shape {shape} of {dtype.str} ({header.data_size} bytes), "
            f"but the body holds {body_size - header.offset} bytes of data."
        )
        raise UserError(msg)


def _check_npy_dtype(dtype: np.dtype) -> None:
    if dtype.hasobject:
        msg = "The .npy array holds Python objects; send numbers (objects would need unpickling)."
        raise UserError(msg)
    fields = [dtype.fields[name][0] for name in dtype.names] if dtype.fields and dtype.names else [dtype]
    for field in fields:
        if field.kind not in _NUMERIC_KINDS or field.shape:
            msg = f"The .npy array holds {field} values, which are not numbers; send int or float."
            raise UserError(msg)
