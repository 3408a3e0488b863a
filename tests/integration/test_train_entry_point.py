"""``container/train`` as a person runs it on a laptop: help, and no /opt/ml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TRAIN_SCRIPT


def test_train_help_prints_usage_and_starts_no_job(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SAGEMAKER_BASE_DIR"}

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0
    assert result.stdout.startswith("usage: container/train")
    assert "SAGEMAKER_BASE_DIR" in result.stdout
    assert "Reporting training" not in result.stderr


@pytest.mark.skipif(Path("/opt/ml").exists(), reason="this machine has a real /opt/ml")
def test_without_opt_ml_and_without_the_variable_train_says_to_set_it_and_writes_nothing(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SAGEMAKER_BASE_DIR"}

    result = subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert "there is no /opt/ml here and SAGEMAKER_BASE_DIR is not set" in result.stderr
    assert not Path("/opt/ml").exists()
