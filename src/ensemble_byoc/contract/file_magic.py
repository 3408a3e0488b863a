"""What a data file holds, told by its first bytes whatever its name: gzip-compressed text, Parquet, or
neither (read as text)."""

from __future__ import annotations

from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


def is_gzip(path: Path) -> bool:
    return _head(path).startswith(GZIP_MAGIC)


def is_compressed(path: Path) -> bool:
    """Gzip or Parquet: either holds several times the values per byte of a text file."""
    return _head(path).startswith((GZIP_MAGIC, PARQUET_MAGIC))


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(4)
