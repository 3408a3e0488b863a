"""A full volume is a failure that says so: the model and the reports check their free space first, a
write that runs out of it anyway is reported as such, and nothing half-written is left behind."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import make_regression
from tmpfs_mount import tmpfs

from ensemble_byoc.bundle.artifacts import load_bundle, save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.contract.disk_space import MARGIN_BYTES, check_free_space
from ensemble_byoc.errors import UserError
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.report import write_insight
from ensemble_byoc.training.report_files import ReportFiles
from ensemble_byoc.training.task import Task

LIBRARIES = available_libraries()
PARAMS = BoosterParams(learning_rate=0.3, max_depth=4, num_round=40, early_stopping_rounds=0, seed=0)
FEATURES = ("a", "b", "c", "d", "e")
NO_SPACE = re.compile(r"No space left on device writing (the model|the reports) to .+; \1 needs about "
                      r"[0-9.]+ MB and [0-9.]+ MB are free; raise VolumeSizeInGB")


def free_space(n_bytes: int) -> Any:
    """A ``disk_usage`` that answers ``n_bytes`` free, whatever the volume holds."""
    return lambda path: SimpleNamespace(total=n_bytes, used=0, free=n_bytes)


@pytest.fixture(scope="module")
def ensemble() -> Ensemble:
    X, y = make_regression(n_rows=200, n_features=len(FEATURES), seed=2)
    members = {library: [load_spec(library).create(PARAMS, {}, 1).fit(
        X[rows], y[rows], X_valid=X[~rows], y_valid=y[~rows], feature_names=FEATURES)
        for rows in (np.arange(200) % 2 == 0, np.arange(200) % 2 == 1)] for library in LIBRARIES}
    return Ensemble(feature_names=FEATURES, members=members, weights={lib: 1 / 3 for lib in LIBRARIES})


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_too_little_free_space_for_the_model_is_a_user_error_naming_size_and_volume(
    ensemble: Ensemble, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match=NO_SPACE) as raised:
        save_bundle(tmp_path / "model", ensemble, blend_method="mean", extra={},
                    disk_usage=free_space(MARGIN_BYTES // 2))
    assert "writing the model to" in str(raised.value)
    assert _files(tmp_path / "model") == []


def test_the_model_is_refused_when_its_first_files_show_the_rest_will_not_fit(
    ensemble: Ensemble, tmp_path: Path
) -> None:
    first = tmp_path / "probe"
    save_bundle(first, ensemble, blend_method="mean", extra={})
    size = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    with pytest.raises(UserError, match=NO_SPACE) as raised:
        save_bundle(tmp_path / "model", ensemble, blend_method="mean", extra={},
                    disk_usage=free_space(MARGIN_BYTES + size // 2))
    needed = float(re.search(r"needs about ([0-9.]+) MB", str(raised.value)).group(1))  # type: ignore[union-attr]
    assert needed > 0
    assert _files(tmp_path / "model") == []


def _xgboost_ensemble(num_round: int) -> Ensemble:
    X, y = make_regression(n_rows=300, n_features=len(FEATURES), seed=4)
    params = BoosterParams(learning_rate=0.1, max_depth=6, num_round=num_round, early_stopping_rounds=0,
                           seed=0)
    model = load_spec("xgboost").create(params, {}, 1).fit(X, y, X_valid=X, y_valid=y, feature_names=FEATURES)
    return Ensemble(feature_names=FEATURES, members={"xgboost": [model]}, weights={"xgboost": 1.0})


def test_a_model_write_that_fills_the_volume_is_reported_as_a_full_disk_and_keeps_the_previous_model(
    tmp_path: Path
) -> None:
    small, large = _xgboost_ensemble(1), _xgboost_ensemble(300)  # a file of a few KB, one of about 1 MB
    with tmpfs(tmp_path / "volume", size_kib=256) as volume:
        save_bundle(volume, small, blend_method="mean", extra={})
        with pytest.raises(UserError, match=NO_SPACE) as raised:  # XGBoost's own error, on a full volume
            save_bundle(volume, large, blend_method="mean", extra={})
        assert "writing the model to" in str(raised.value)
        assert not (volume / ".staging").exists()
        loaded, _ = load_bundle(volume, n_threads=1)
        X = np.zeros((3, len(FEATURES)))
        np.testing.assert_array_equal(loaded.predict(X), small.predict(X))


def test_too_little_free_space_for_the_reports_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    files = ReportFiles(tmp_path / "data", disk_usage=free_space(10 * 2**20))
    with pytest.raises(UserError, match=NO_SPACE) as raised:
        files.check_space(50 * 2**20)
    assert "writing the reports to" in str(raised.value)
    assert "needs about 50.00 MB and 10.00 MB are free" in str(raised.value)


def test_a_report_write_that_fills_the_volume_leaves_no_report_and_no_partial_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", size_kib=64) as volume:
        files = ReportFiles(volume, disk_usage=free_space(2**30))
        with pytest.raises(UserError, match=NO_SPACE), files:
            files.write_text("small.json", "{}\n")
            files.write_rows("oof_predictions.csv", ["row", "y"], ([i, repr(i / 7)] for i in range(100_000)))
        assert _files(volume) == []


def test_reports_are_written_whole_and_removed_again_when_the_job_fails(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    (directory / "older.json").parent.mkdir(parents=True)
    (directory / "older.json").write_text("{}")  # not this job's: kept
    files = ReportFiles(directory)
    files.write_text("cv_results.json", "{}\n")
    files.write_rows("oof_predictions.csv", ["row", "y"], [[0, "1.0"], [1, "2.0"]])
    assert _files(directory) == ["cv_results.json", "older.json", "oof_predictions.csv"]
    assert (directory / "oof_predictions.csv").read_bytes() == b"row,y\r\n0,1.0\r\n1,2.0\r\n"

    def broken_rows() -> Any:
        yield [2, "3.0"]
        raise RuntimeError("the job failed while writing")

    with pytest.raises(RuntimeError), files:
        files.write_rows("other.csv", ["row", "y"], broken_rows())
    assert _files(directory) == ["older.json"]


def test_check_free_space_counts_a_margin_beyond_the_estimate(tmp_path: Path) -> None:
    check_free_space(tmp_path, 1000, "the model", free_space(1000 + 2 * MARGIN_BYTES))
    with pytest.raises(UserError, match=NO_SPACE):
        check_free_space(tmp_path, 1000, "the model", free_space(1000))


def test_a_report_that_cannot_be_drawn_is_a_warning_and_the_json_reports_are_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = Task("regression", "rmse", ())
    board = [{"model": "ensemble", "rmse": 1.0, "fit_seconds": 0.1, "mean_best_iteration": None,
              "blend_weight": None}]
    files = ReportFiles(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ensemble_byoc"):
        write_insight(files, task=task, board=board, importance={"ensemble": {"a": 1.0}},
                      weights={"xgboost": 1.0}, y=np.zeros(3), oof_ensemble=np.zeros(4))  # cannot be drawn
    assert _files(tmp_path) == ["blend_weights.json", "feature_importance.json", "leaderboard.json"]
    assert any("report.html not written" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


@pytest.mark.parametrize("name", ["bmi_$_x_$", "$\\frac{1}{0", "a_b^c", "x" * 3000, "名前 ✓"])
def test_feature_names_and_labels_are_drawn_as_plain_text(name: str, tmp_path: Path) -> None:
    task = Task("multiclass", "mlogloss", (name, "$", "other"))
    board = [{"model": "ensemble", "mlogloss": 1.0, "fit_seconds": 0.1, "mean_best_iteration": None,
              "blend_weight": None}]
    files = ReportFiles(tmp_path)
    write_insight(files, task=task, board=board, importance={"ensemble": {name: 0.5, name + "2": 0.5}},
                  weights={"xgboost": 1.0}, y=np.array([0, 1, 2]), oof_ensemble=np.eye(3))
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
