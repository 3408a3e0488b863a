"""NumPy ``.npy`` data written by someone else (a request body, a checkpoint), read without trusting it.

``read_npy_header`` parses the header under a size bound and leaves the stream at the data; the caller
checks the dtype and shape it announces. ``read_npy_data`` then reads exactly the announced bytes, having
first found that the stream holds exactly that many, so a header cannot make the reader allocate more than
the data holds. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ensemble_byoc.errors import short

MAX_HEADER_BYTES = 10_000
"""The longest header read; numpy's own bound, named here so that every reader uses it."""
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class NpyFormatError(ValueError):
    """The bytes are not an ``.npy`` array this module reads; the message says why."""


class NpyVersionError(NpyFormatError):
    """An ``.npy`` format version other than 1.0 and 2.0 (``version`` is the major and minor number)."""

    def __init__(self, version: tuple[int, int]) -> None:
        super().__init__(f"format version {version[0]}.{version[1]} is not read; 1.0 or 2.0 is")
        self.version = version


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` header announces, and where its data starts."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int
    """The header's length in bytes: the data's position in the stream."""

    @property
    def data_size(self) -> int:
        """The bytes of data the header announces."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(stream: BinaryIO) -> NpyHeader:
    """The header at the start of ``stream``, which is left at the start of the data.

    Raises:
        NpyVersionError: a format version other than 1.0 or 2.0.
        NpyFormatError: anything else numpy cannot read as a header of at most ``MAX_HEADER_BYTES``.
    """
    try:
        version = np.lib.format.read_magic(stream)
    except Exception as exc:  # noqa: BLE001 - any failure to read the magic string means "not .npy"
        raise NpyFormatError(short(exc)) from None
    read_header = _HEADER_READERS.get(version)
    if read_header is None:
        raise NpyVersionError(version)
    try:
        shape, fortran_order, dtype = read_header(stream, max_header_size=MAX_HEADER_BYTES)
    except Exception as exc:  # noqa: BLE001 - numpy parses the header text with tokenize and ast: any failure
        raise NpyFormatError(short(exc)) from None
    return NpyHeader(shape=tuple(shape), fortran_order=bool(fortran_order), dtype=dtype, offset=stream.tell())


def read_npy_data(stream: BinaryIO, header: NpyHeader) -> np.ndarray:
    """The array ``header`` announces, read from ``stream`` (left just after the header) into a new array.

    Raises:
        NpyFormatError: the dtype holds Python objects, a dimension is negative, or the rest of the stream
            is not exactly ``header.data_size`` bytes long (checked before anything is allocated).
    """
    if header.dtype.hasobject:
        msg = f"the array holds {header.dtype} values, which would need unpickling"
        raise NpyFormatError(msg)
    if any(n < 0 for n in header.shape):
        msg = f"the header announces shape {header.shape}, with a negative dimension"
        raise NpyFormatError(msg)
    start = stream.tell()
    size = stream.seek(0, io.SEEK_END) - start
    stream.seek(start)
    if size != header.data_size:
        msg = f"the header announces {header.data_size} bytes of data; {size} follow it"
        raise NpyFormatError(msg)
    flat = np.empty(math.prod(header.shape), dtype=header.dtype)
    if stream.readinto(flat.view(np.uint8)) != size:  # type: ignore[attr-defined]
        msg = "the data ended before the size the header announces"
        raise NpyFormatError(msg)
    return flat.reshape(header.shape[::-1]).T if header.fortran_order else flat.reshape(header.shape)
