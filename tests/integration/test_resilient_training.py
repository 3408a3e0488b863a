"""Training jobs that stop, resume and run out of time the way SageMaker jobs do."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_HYPERPARAMETERS, TRAIN_SCRIPT, OptMl, make_regression, metric_lines, run_train

from ensemble_byoc.bundle.artifacts import load_bundle

SLOW_HYPERPARAMETERS = {"k_fold": "3", "num_round": "600", "eta": "0.02", "max_depth": "4",
                        "early_stopping_rounds": "0"}
"""Settings under which each unit boosts for a while (no early stopping), so a job can be caught mid-unit."""


def start_train(tree: OptMl) -> tuple[subprocess.Popen[bytes], Path]:
    log = tree.base.parent / "train.log"
    with log.open("wb") as handle:
        process = subprocess.Popen([sys.executable, str(TRAIN_SCRIPT), "train"], env=tree.env(),
                                   stdout=handle, stderr=subprocess.STDOUT)
    return process, log


def wait_for_log(process: subprocess.Popen[bytes], log: Path, pattern: str, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text(errors="replace")):
            return
        if process.poll() is not None:
            raise AssertionError(
                f"train exited with {process.returncode} before {pattern!r}:\n{log.read_text()}"
            )
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not logged within {deadline_s} s:\n{log.read_text()}")


def predictions(model_dir: Path, X: np.ndarray) -> np.ndarray:
    ensemble, _ = load_bundle(model_dir, n_threads=1)
    return ensemble.predict(X)


def test_sigterm_mid_unit_exits_promptly_with_a_failure_reason_and_no_model(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=500)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**SLOW_HYPERPARAMETERS, "num_round": "100000", "eta": "0.001"})
    process, log = start_train(opt_ml)
    wait_for_log(process, log, r"Plan: 9 units")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 1
    reason = opt_ml.failure_file.read_text().splitlines()[0]
    assert reason == ("TrainingStopped: Training stopped by SIGTERM after 0 of 9 units; "
                      "no checkpoint folder, so a rerun starts over.")
    assert opt_ml.model_files() == []
    assert "SIGTERM received" in log.read_text()


def test_job_stopped_by_sigterm_resumes_from_checkpoints_to_the_same_model(
    opt_ml: OptMl, tmp_path: Path
) -> None:
    X, y = make_regression(n_rows=1000)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters(SLOW_HYPERPARAMETERS)
    checkpoints = opt_ml.base / "checkpoints"
    checkpoints.mkdir()
    process, log = start_train(opt_ml)
    wait_for_log(process, log, r"unit 1 of 9: catboost fold 0")
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    if code == 0:
        pytest.fail("the job finished before SIGTERM reached it; make SLOW_HYPERPARAMETERS slower")
    assert code == 1
    reason = opt_ml.failure_file.read_text().splitlines()[0]
    assert re.fullmatch(r"TrainingStopped: Training stopped by SIGTERM after [1-8] of 9 units; "
                        r"finished units are checkpointed in .*/checkpoints/units; "
                        r"rerun with the same checkpoints to resume\.",
                        reason)
    assert opt_ml.model_files() == []
    finished = sorted(p.name for p in (checkpoints / "units").iterdir())
    assert "catboost-fold-0" in finished
    assert not any(name.endswith(".partial") for name in finished)

    resumed = run_train(opt_ml)
    assert resumed.returncode == 0, resumed.stderr
    assert not opt_ml.failure_file.exists()
    assert resumed.stderr.count("resumed from checkpoint") == len(finished)

    reference = OptMl(tmp_path / "reference")
    reference.add_training_csv(X, y)
    reference.hyperparameters(SLOW_HYPERPARAMETERS)
    assert run_train(reference).returncode == 0
    np.testing.assert_array_equal(predictions(opt_ml.model_dir, X), predictions(reference.model_dir, X))
    assert metric_lines(resumed.stdout, "validation-rmse")[-1] == pytest.approx(
        json.loads((reference.output_data / "cv_results.json").read_text())["score"], abs=1e-6)


def test_checkpoints_from_other_settings_are_detected_and_not_reused(opt_ml: OptMl) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    (opt_ml.base / "checkpoints").mkdir()
    assert run_train(opt_ml).returncode == 0
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "eta": "0.2"})
    rerun = run_train(opt_ml)
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed from checkpoint" not in rerun.stderr
    assert rerun.stderr.count("comes from other data or settings; it is not reused") == 9


def test_checkpoints_from_other_data_are_not_reused(opt_ml: OptMl) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    (opt_ml.base / "checkpoints").mkdir()
    assert run_train(opt_ml).returncode == 0
    opt_ml.add_training_csv(X, y + 1.0)
    rerun = run_train(opt_ml)
    assert rerun.returncode == 0
    assert rerun.stderr.count("comes from other data or settings; it is not reused") == 9


def test_tight_time_limit_finishes_inside_it_with_a_valid_model_of_fewer_folds(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=1000)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**SLOW_HYPERPARAMETERS, "k_fold": "5", "num_round": "100000", "eta": "0.001",
                            "time_limit": "5"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    # reported, not a timed assertion
    assert re.search(r"time_limit 5 s: the job took [0-9.]+ s", done.stderr)
    assert "cut short by time_limit" in done.stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert 1 <= manifest["cv"]["folds_trained"] <= 5
    assert all(len(entry["folds"]) == manifest["cv"]["folds_trained"]
               for entry in manifest["libraries"].values())
    served = predictions(opt_ml.model_dir, X[:20])
    assert np.isfinite(served).all()
    if manifest["cv"]["folds_trained"] < 5:
        assert re.search(r"folds \d-4 \(\d+ of 15 units\) are dropped", done.stderr)


def test_pipe_mode_channel_is_refused_at_once_instead_of_hanging(opt_ml: OptMl) -> None:
    os.mkfifo(opt_ml.base / "input" / "data" / "train_0")
    opt_ml.write_config("inputdataconfig.json",
                        {"train": {"TrainingInputMode": "Pipe", "ContentType": "text/csv"}})
    done = run_train(opt_ml)
    assert done.returncode == 1
    assert opt_ml.failure_file.read_text().startswith(
        "UserError: Channel 'train' uses Pipe input mode, which this image does not read; "
        "set the channel's input mode to File or FastFile.")


def test_fifo_channel_without_a_declared_mode_is_refused_too(opt_ml: OptMl) -> None:
    os.mkfifo(opt_ml.base / "input" / "data" / "train_0")
    done = run_train(opt_ml)
    assert done.returncode == 1
    assert "Pipe input mode" in opt_ml.failure_file.read_text()


def test_read_only_fastfile_channel_is_read_and_left_untouched(opt_ml: OptMl) -> None:
    X, y = make_regression()
    path = opt_ml.add_training_csv(X, y)
    opt_ml.write_config("inputdataconfig.json", {"train": {"TrainingInputMode": "FastFile",
                                                           "ContentType": "text/csv; charset=utf-8"}})
    channel = opt_ml.channel("train")
    before = {p: p.stat().st_mtime_ns for p in channel.rglob("*")}
    path.chmod(0o444)
    channel.chmod(0o555)
    try:
        done = run_train(opt_ml)
    finally:
        channel.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert {p: p.stat().st_mtime_ns for p in channel.rglob("*")} == before


def test_gzip_csv_and_parquet_channels_train(opt_ml: OptMl, tmp_path: Path) -> None:
    import gzip

    X, y = make_regression()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(target=y)
    frame.iloc[:100].to_parquet(opt_ml.channel("train") / "part-0.parquet") if opt_ml.channel("train").mkdir(
        parents=True) is None else None
    with gzip.open(opt_ml.channel("validation") / "part-1.csv.gz" if opt_ml.channel("validation").mkdir(
            parents=True) is None else None, "wt") as handle:
        frame.iloc[100:].to_csv(handle, index=False)
    opt_ml.write_config("inputdataconfig.json", {"train": {"TrainingInputMode": "File"},
                                                 "validation": {"TrainingInputMode": "File",
                                                                "ContentType": "text/csv; label_size=1"}})
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["feature_names"] == [f"x{i}" for i in range(5)]
    assert manifest["cv"]["n_rows"] == 200
