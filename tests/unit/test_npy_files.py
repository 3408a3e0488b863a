"""contract.npy_files: the one bounded .npy reader that request bodies and checkpoints share."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ensemble_byoc.contract.npy_files import (
    MAX_HEADER_BYTES,
    NpyFormatError,
    NpyVersionError,
    read_npy_data,
    read_npy_header,
)


def npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def read(body: bytes) -> np.ndarray:
    stream = io.BytesIO(body)
    return read_npy_data(stream, read_npy_header(stream))


@pytest.mark.parametrize("array", [
    np.arange(6.0).reshape(2, 3),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.arange(4, dtype=np.int16),
    np.zeros((0, 3), dtype=np.float32),
    np.array([(1.0, 2)], dtype=[("a", "<f8"), ("b", "<i2")]),
], ids=["c-order", "fortran-order", "int16", "empty", "structured"])
def test_an_array_reads_back_equal_and_writable(array: np.ndarray) -> None:
    read_back = read(npy(array))
    np.testing.assert_array_equal(read_back, array)
    assert read_back.dtype == array.dtype
    assert read_back.flags.writeable


def test_a_file_reads_back_and_its_header_says_where_the_data_starts(tmp_path: Path) -> None:
    path = tmp_path / "oof.npy"
    np.save(path, np.linspace(0, 1, 40), allow_pickle=False)
    with path.open("rb") as handle:
        header = read_npy_header(handle)
        assert (header.shape, header.dtype, header.fortran_order) == ((40,), np.dtype("<f8"), False)
        assert header.offset + header.data_size == path.stat().st_size
        np.testing.assert_array_equal(read_npy_data(handle, header), np.linspace(0, 1, 40))


def test_a_format_version_other_than_1_or_2_names_its_version() -> None:
    body = bytearray(npy(np.zeros(3)))
    body[6] = 3
    with pytest.raises(NpyVersionError, match=r"format version 3\.0 is not read; 1\.0 or 2\.0 is") as info:
        read_npy_header(io.BytesIO(bytes(body)))
    assert info.value.version == (3, 0)


@pytest.mark.parametrize("body", [
    b"1,2,3\n",
    b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'",
    b"\x93NUMPY\x01\x00" + (MAX_HEADER_BYTES + 64).to_bytes(2, "little") + b" " * (MAX_HEADER_BYTES + 64),
], ids=["not-npy", "bad-header", "header-over-the-bound"])
def test_bytes_that_are_not_a_readable_header_are_a_format_error(body: bytes) -> None:
    with pytest.raises(NpyFormatError):
        read_npy_header(io.BytesIO(body))


def test_a_header_announcing_more_data_than_follows_is_refused_before_any_allocation() -> None:
    stream = io.BytesIO(_header("<f8", (10_000_000_000, 1000)) + bytes(8))
    header = read_npy_header(stream)
    with pytest.raises(NpyFormatError, match=r"announces 80000000000000 bytes of data; 8 follow it"):
        read_npy_data(stream, header)


def test_trailing_bytes_after_the_data_are_refused() -> None:
    stream = io.BytesIO(npy(np.zeros(3)) + bytes(8))
    with pytest.raises(NpyFormatError, match=r"announces 24 bytes of data; 32 follow it"):
        read_npy_data(stream, read_npy_header(stream))


def test_python_objects_are_never_read() -> None:
    stream = io.BytesIO(_header("|O", (2,)) + bytes(16))
    with pytest.raises(NpyFormatError, match=r"holds object values, which would need unpickling"):
        read_npy_data(stream, read_npy_header(stream))


def test_a_negative_dimension_is_refused_even_when_the_sizes_agree() -> None:
    stream = io.BytesIO(_header("<f8", (-1, -5)) + bytes(40))
    with pytest.raises(NpyFormatError, match=r"shape \(-1, -5\), with a negative dimension"):
        read_npy_data(stream, read_npy_header(stream))


def _header(descr: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()
