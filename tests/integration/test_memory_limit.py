"""A channel larger than the memory the job may use fails at once with a clear output/failure."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
from conftest import TRAIN_SCRIPT, OptMl, make_regression, metric_lines, write_csv

LIMIT_BYTES = 3 * 2**30
"""The child's address-space limit: room for Python and the libraries, far below what the data needs."""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _train_limited(tree: OptMl) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"], env=tree.env(), capture_output=True,
                          text=True, timeout=300, check=False, preexec_fn=_limited)


def test_a_channel_larger_than_memory_fails_before_reading_it_naming_its_size_and_the_limit(
    opt_ml: OptMl,
) -> None:
    X, y = make_regression(n_rows=200, n_features=10, seed=1)
    data = opt_ml.channel("train") / "big.csv"
    write_csv(data, [[label, *row] for row, label in zip(X.tolist(), y.tolist(), strict=True)])
    rows = data.read_bytes()
    with data.open("wb") as handle:  # 1 MiB of real rows, then a sparse 8 GiB file: nothing is written
        handle.write(rows * (2**20 // len(rows) + 1))
        handle.truncate(8 * 2**30)
    result = _train_limited(opt_ml)
    assert result.returncode == 1, result.stderr[-2000:]
    failure = opt_ml.failure_file.read_text()
    assert failure.startswith("UserError: Channel 'train' holds 8.0 GiB in 1 file(s), about "), failure
    assert "this process's address-space limit (ulimit -v) is 3.0 GiB" in failure
    assert "Use an instance type with more memory" in failure
    assert not any(opt_ml.model_dir.iterdir())


def test_a_channel_that_fits_trains_under_the_same_memory_limit(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=200, n_features=5, seed=2)
    write_csv(opt_ml.channel("train") / "data.csv",
              [[label, *row] for row, label in zip(X.tolist(), y.tolist(), strict=True)])
    result = _train_limited(opt_ml)
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.isfinite(metric_lines(result.stdout, "validation-rmse")[-1])
    # each thread reserves address space of its own (its stack, glibc's heap arena): under ulimit -v the
    # units wait for each other, as side by side an OpenMP runtime's thread creation aborted the process
    assert "1 thread(s) each, one at a time." in result.stderr
