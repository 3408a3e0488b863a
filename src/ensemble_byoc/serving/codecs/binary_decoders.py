"""Binary request bodies to rows: NumPy .npy here, Parquet in ``parquet_decoder``. Neither ever unpickles
anything."""

from __future__ import annotations

import io
import math

import numpy as np

from ensemble_byoc.errors import UserError, short
from ensemble_byoc.serving.codecs.inputs import DecodeOptions, InputBatch
from ensemble_byoc.serving.codecs.parquet_decoder import decode_parquet

__all__ = ["decode_npy", "decode_parquet"]

DEFAULT_OPTIONS = DecodeOptions()
_NUMERIC_KINDS = "iuf"  # signed and unsigned integers, floats; not booleans, complex, strings or objects
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def decode_npy(body: bytes, options: DecodeOptions = DEFAULT_OPTIONS) -> InputBatch:
    """A 1-D array (one row) or a 2-D array (rows) of numbers, or a structured array of named numbers.

    Only the header is parsed before the data is checked: an object dtype is refused without reading
    (nothing is unpickled), and the data must be exactly as long as the header's shape says, so a header
    cannot make the server allocate more than the body holds.
    """
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = _HEADER_READERS.get(version)
        if read_header is None:
            raise UserError(
                f"The .npy format version {version[0]}.{version[1]} is not supported; send 1.0 or 2.0."
            )
        shape, fortran_order, dtype = read_header(stream)
    except Exception as exc:  # noqa: BLE001 - numpy parses the header text with tokenize and ast: any failure
        raise UserError(f"The request body is not a readable .npy array: {short(exc)}") from None
    _check_npy_dtype(dtype)
    if not 1 <= len(shape) <= (1 if dtype.names else 2):
        kind = "a 1-D structured array" if dtype.names else "a 1-D row or a 2-D matrix"
        raise UserError(f"A .npy body must hold {kind}; got shape {shape}.")
    if any(not 0 <= n <= len(body) for n in shape):
        raise UserError(
            f"The .npy header announces shape {shape}; each dimension must be between 0 and the body's "
            f"{len(body)} bytes."
        )
    count = math.prod(shape)
    offset = stream.tell()
    if count * dtype.itemsize != len(body) - offset:
        raise UserError(
            f"The .npy header announces shape {shape} of {dtype.str} ({count * dtype.itemsize} bytes), "
            f"but the body holds {len(body) - offset} bytes of data."
        )
    flat = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    array = flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)
    if dtype.names:
        columns = tuple(str(name) for name in dtype.names)
        values = np.column_stack([array[name].astype(np.float64) for name in dtype.names]).reshape(
            -1, len(columns)
        )
        return InputBatch(values=values, columns=columns)
    values = array.astype(np.float64).reshape(1, -1) if array.ndim == 1 else array.astype(np.float64)
    return InputBatch(values=values)


def _check_npy_dtype(dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise UserError("The .npy array holds Python objects; send numbers (objects would need unpickling).")
    fields = [dtype.fields[name][0] for name in dtype.names] if dtype.names else [dtype]
    for field in fields:
        if field.kind not in _NUMERIC_KINDS or field.shape:
            raise UserError(f"The .npy array holds {field} values, which are not numbers; send int or float.")
