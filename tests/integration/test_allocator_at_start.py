"""``container/train`` sets CatBoost's allocator setting before CatBoost loads: read back from what
mimalloc itself printed when it started (``MIMALLOC_VERBOSE=1``), so this fails if a CatBoost import is
moved above the setting."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FAST_HYPERPARAMETERS, TRAIN_SCRIPT, OptMl, make_regression


@pytest.mark.parametrize(("own", "read", "said"), [
    ({}, "0", "CatBoost allocator: MIMALLOC_PURGE_DELAY=0 (the product's default; a MIMALLOC_PURGE_DELAY "
              "of your own replaces it)"),
    ({"MIMALLOC_PURGE_DELAY": "1000"}, "1000",
     "CatBoost allocator: MIMALLOC_PURGE_DELAY=1000, set by the user and left as set"),
])
def test_catboosts_allocator_in_a_training_job_reads_the_setting_the_log_names(
    opt_ml: OptMl, own: dict[str, str], read: str, said: str
) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "models": "catboost"})
    env = {k: v for k, v in opt_ml.env().items() if k != "MIMALLOC_PURGE_DELAY"}

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"],
                            env={**env, **own, "MIMALLOC_VERBOSE": "1"},
                            capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"option 'purge_delay': {read}" in result.stderr
    assert result.stderr.count("CatBoost allocator:") == 1
    assert said in result.stderr
    assert "CatBoost was loaded before it was set" not in result.stderr
