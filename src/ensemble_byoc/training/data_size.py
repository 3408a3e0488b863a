"""Whether a channel can fit in memory, judged from its files before any of them is read.

A job that reads more than the instance holds is killed by the kernel with no ``output/failure``; this
check turns that into a clear failure at once. It refuses only data that cannot fit even at the memory
the job is built to stay within: ``MATRIX_COPIES`` float64 copies of the feature matrix plus
``BASE_BYTES`` for the interpreter and the libraries.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from ensemble_byoc.contract.memory import memory_limit
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data_files import compression

MATRIX_COPIES = 3
BASE_BYTES = 400 * 2**20
_SAMPLE_BYTES = 2**20


def check_fits_in_memory(channel: str, files: Sequence[Path], parquet: Sequence[bool]) -> None:
    """Refuse the channel (``UserError``) when its estimated matrix cannot fit in this process's memory."""
    size = sum(path.stat().st_size for path in files)
    values = sum(_parquet_values(path) if is_parquet else 0 for path, is_parquet in zip(files, parquet,
                                                                                       strict=True))
    values += _text_values([path for path, is_parquet in zip(files, parquet, strict=True) if not is_parquet])
    needed = MATRIX_COPIES * 8 * values + BASE_BYTES
    limit = memory_limit()
    if needed > limit.bytes:
        msg = (
            f"Channel {channel!r} holds {_size(size)} in {len(files)} file(s), about {values:,} values: "
            f"training on it needs at least {_size(needed)} of memory ({MATRIX_COPIES} copies of its "
            f"{_size(8 * values)} float64 feature matrix and {_size(BASE_BYTES)} for the libraries), but "
            f"{limit.source} is {_size(limit.bytes)}. Use an instance type with more memory, fewer rows, or "
            "several instances with ShardedByS3Key channels."
        )
        raise UserError(msg)


def _parquet_values(path: Path) -> int:
    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception:  # noqa: BLE001 - an unreadable file is named by the reader that follows
        return 0
    return int(metadata.num_rows) * int(metadata.num_columns)


def _text_values(files: Sequence[Path]) -> int:
    """The CSV files' values: per kind (gzip or plain), the largest file's values per stored byte times
    the kind's bytes."""
    kinds: dict[bool, list[Path]] = {}
    for path in files:
        kinds.setdefault(compression(path) == "gzip", []).append(path)
    values = 0.0
    for gzipped, paths in kinds.items():
        largest = max(paths, key=lambda path: path.stat().st_size)
        values += _values_per_byte(largest, gzipped) * sum(path.stat().st_size for path in paths)
    return round(values)


def _values_per_byte(path: Path, gzipped: bool) -> float:
    """Values (fields) per byte of the file as stored, from its first MiB (decompressed if gzip), leaving
    out the first line (a header row is no values)."""
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    stored = len(sample)
    if gzipped:
        try:
            sample = zlib.decompressobj(wbits=31).decompress(sample, 64 * _SAMPLE_BYTES)
        except zlib.error:
            return 0.0  # the CSV reader names a corrupt file
    first_end = sample.find(b"\n") + 1
    body = sample[first_end:] if 0 < first_end < len(sample) else sample
    lines = body.count(b"\n") or 1
    fields = body.count(b",") + lines
    return fields * (len(sample) / max(len(body), 1)) / max(stored, 1)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MiB"
