"""The memory check's estimate of a channel's values, read from its files before they are parsed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ensemble_byoc.training.data_size import _text_values


def _csv(rows: int, columns: int, seed: int) -> bytes:
    values = np.random.default_rng(seed).normal(size=(rows, columns))
    header = ",".join(f"c{i}" for i in range(columns)) + "\n"
    return (header + "\n".join(",".join(repr(float(v)) for v in row) for row in values) + "\n").encode()


def test_a_header_only_first_file_does_not_inflate_the_estimate(tmp_path: Path) -> None:
    (tmp_path / "part-00000.csv").write_bytes(b"label,a_long_feature_name,another_long_feature_name\n")
    (tmp_path / "part-00001.csv").write_bytes(_csv(20_000, 3, seed=0))
    estimate = _text_values(sorted(tmp_path.iterdir()))
    assert 0.8 * 60_000 < estimate < 1.2 * 60_000


def test_gzip_and_plain_files_are_each_judged_by_their_own_kind(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(_csv(20_000, 4, seed=1)))
    (tmp_path / "b.csv").write_bytes(_csv(10_000, 4, seed=2))
    estimate = _text_values(sorted(tmp_path.iterdir()))
    assert 0.8 * 120_000 < estimate < 1.2 * 120_000
