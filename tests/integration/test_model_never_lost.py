"""A trained model is never lost: any feature name trains, the model is saved before the reports, a report
that cannot be drawn is only a warning, and a full disk or a long reason leaves a failure file that says
so (end to end through ``container/train``)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, run_train, serving, write_csv
from tmpfs_mount import tmpfs

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training

NASTY_NAMES = [
    "bmi_$_x_$",
    "validation-rmse:0.000001;",
    'say "hi"',
    "a[0]",
    "b]",
    "x<y",
    "comma, inside",
    "größe ✓ 名前",
    "with  spaces",
    "n" * 1000,
    "7",
    "-1.5e3",
]


def _header_csv(opt_ml: OptMl, names: list[str], n_rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n_rows=n_rows, n_features=len(names), seed=9)
    rows = [[label, *features] for features, label in zip(X.tolist(), y.tolist(), strict=True)]
    write_csv(opt_ml.channel("train") / "data.csv", rows, ["target", *names])
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target"})
    return X, y


def _output_files(opt_ml: OptMl) -> list[str]:
    return sorted(p.name for p in opt_ml.output_data.rglob("*") if p.is_file())


def test_a_feature_named_like_math_text_trains_saves_the_model_and_draws_the_report(opt_ml: OptMl) -> None:
    _header_csv(opt_ml, ["bmi_$_x_$", "b", "c", "d", "e"])
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    assert not opt_ml.failure_file.exists()
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["feature_names"] == ["bmi_$_x_$", "b", "c", "d", "e"]
    assert (opt_ml.output_data / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    assert "WARNING" not in done.stderr


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_any_feature_name_a_header_can_carry_trains_and_the_users_names_are_kept_everywhere(
    opt_ml: OptMl, file_format: str
) -> None:
    X, y = make_regression(n_rows=200, n_features=len(NASTY_NAMES), seed=9)
    frame = pd.DataFrame(X, columns=NASTY_NAMES).assign(target=y)
    opt_ml.channel("train").mkdir(parents=True)
    if file_format == "csv":
        frame.to_csv(opt_ml.channel("train") / "data.csv", index=False)
    else:
        frame.to_parquet(opt_ml.channel("train") / "data.parquet")
        opt_ml.write_config("inputdataconfig.json", {"train": {"TrainingInputMode": "File"}})
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target"})

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["feature_names"] == NASTY_NAMES
    importance = json.loads((opt_ml.output_data / "feature_importance.json").read_text(encoding="utf-8"))
    assert all(list(shares) == NASTY_NAMES for shares in importance.values())
    assert "report.html" in _output_files(opt_ml)
    if file_format == "parquet":
        return
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    records = [dict(zip(NASTY_NAMES, row, strict=True)) for row in X[:5].tolist()]
    with serving(opt_ml) as server:
        answer = server.post(json.dumps({"instances": records}).encode(), "application/json",
                             accept="application/json")
    assert answer.status == 200, answer.body
    scores = [p["score"] for p in answer.json()["predictions"]]
    np.testing.assert_allclose(scores, ensemble.predict(X[:5]), rtol=1e-6)


def test_running_out_of_disk_for_the_model_fails_with_a_reason_that_says_so(opt_ml: OptMl) -> None:
    _header_csv(opt_ml, ["a", "b", "c", "d", "e"])
    with tmpfs(opt_ml.model_dir, size_kib=96):
        done = run_train(opt_ml)
        left_in_model_dir = sorted(p.name for p in opt_ml.model_dir.iterdir())
    assert done.returncode == 1
    reason = opt_ml.failure_file.read_text(encoding="utf-8")
    assert reason.startswith(f"UserError: No space left on device writing the model to {opt_ml.model_dir}; "
                             "the model needs about ")
    assert "raise VolumeSizeInGB" in reason
    assert left_in_model_dir == []  # no half model, no staging folder
    assert _output_files(opt_ml) == []


def test_running_out_of_disk_for_the_reports_fails_before_the_model_with_a_reason_that_says_so(
    opt_ml: OptMl
) -> None:
    _header_csv(opt_ml, ["a", "b", "c", "d", "e"])
    with tmpfs(opt_ml.output_data, size_kib=256):
        done = run_train(opt_ml)
        left_in_output_data = _output_files(opt_ml)
    assert done.returncode == 1
    reason = opt_ml.failure_file.read_text(encoding="utf-8")
    assert reason.startswith("UserError: No space left on device writing the reports to "
                             f"{opt_ml.output_data}; ")
    assert left_in_output_data == []
    assert opt_ml.model_files() == []


def test_the_failure_reason_is_cut_at_1024_bytes_never_inside_a_character(opt_ml: OptMl) -> None:
    _header_csv(opt_ml, ["a", "b", "c", "d", "e"])
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "ü" * 1500})  # no such column: a long reason
    done = run_train(opt_ml)
    assert done.returncode == 1
    raw = opt_ml.failure_file.read_bytes()
    assert len(raw) <= 1024
    text = raw.decode("utf-8")  # whole characters only
    assert text.startswith("UserError: ") and text.endswith("ü\n")
    assert len(raw) >= 1022  # cut at the limit, not far before it


def test_reports_that_run_out_of_disk_after_the_model_is_saved_are_removed_and_the_model_kept(
    opt_ml: OptMl
) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    plenty = SimpleNamespace(total=2**40, used=0, free=2**40)  # the checks pass; the volume is what it is
    with tmpfs(opt_ml.output_data, size_kib=64), pytest.raises(UserError, match="writing the reports to"):
        try:
            run_training(SageMakerPaths(opt_ml.base), TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS),
                         input_data_config={"train": {"ContentType": "text/csv"}}, n_threads=1,
                         metric_stream=io.StringIO(), disk_usage=lambda path: plenty)
        finally:
            left_in_output_data = _output_files(opt_ml)
    assert left_in_output_data == []  # neither a report nor a .partial file
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)  # the model was saved first, whole
    assert ensemble.predict(X[:3]).shape == (3,)
