"""``container/train`` sets CatBoost's allocator setting before CatBoost loads: read back from what
mimalloc itself printed when it started (``MIMALLOC_VERBOSE=1``), so this fails if a CatBoost import is
moved above the setting. Small input keeps mimalloc's own delay (1,000 ms in CatBoost's copy), input of
8 MiB or more gets 0."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FAST_HYPERPARAMETERS, TRAIN_SCRIPT, OptMl, make_regression

SMALL = "CatBoost allocator: MIMALLOC_PURGE_DELAY left at mimalloc's own default: the input data is"
LARGE = ("CatBoost allocator: MIMALLOC_PURGE_DELAY=0 (the product's default; a MIMALLOC_PURGE_DELAY of your "
         "own replaces it)")


@pytest.mark.parametrize(("rows", "own", "read", "said"), [
    (200, {}, "1000", SMALL),
    (150_000, {}, "0", LARGE),  # about 10 MiB of CSV
    (200, {"MIMALLOC_PURGE_DELAY": "250"}, "250",
     "CatBoost allocator: MIMALLOC_PURGE_DELAY=250, set by the user and left as set"),
])
def test_catboosts_allocator_in_a_training_job_reads_the_setting_the_log_names(
    opt_ml: OptMl, rows: int, own: dict[str, str], read: str, said: str
) -> None:
    X, y = make_regression(n_rows=rows, n_features=8)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "models": "catboost", "num_round": "5"})
    env = {k: v for k, v in opt_ml.env().items() if k != "MIMALLOC_PURGE_DELAY"}

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"],
                            env={**env, **own, "MIMALLOC_VERBOSE": "1"},
                            capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    catboosts = [line for line in result.stderr.splitlines() if line.startswith("option 'purge_delay':")]
    assert catboosts == [f"option 'purge_delay': {read} "]  # CatBoost's mimalloc prints without a prefix
    assert result.stderr.count("CatBoost allocator:") == 1
    assert said in result.stderr
    assert "CatBoost was loaded before it was set" not in result.stderr
