"""validation_mode=holdout end to end through ``container/train``: the folds, the blend and the refit use
``train`` only; running ``cv-`` lines per fold, then one ``validation-`` line per metric and member whose
value is the served model's score on the validation rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, metric_lines, run_train, write_csv

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.training.scores import get_metric, metrics_for

LIBRARIES = ("catboost", "lightgbm", "xgboost")
HOLDOUT = {**FAST_HYPERPARAMETERS, "validation_mode": "holdout"}


def _write_labelled(opt_ml: OptMl, channel: str, X: np.ndarray, labels: np.ndarray) -> None:
    write_csv(opt_ml.channel(channel) / "data.csv",
              [[label, *map(repr, row)] for label, row in zip(labels.tolist(), X.tolist(), strict=True)])


def _split_channels(opt_ml: OptMl) -> tuple[np.ndarray, np.ndarray]:
    """200 training rows and 80 validation rows; the validation rows are returned."""
    X, y = make_regression(n_rows=280, seed=11)
    opt_ml.add_training_csv(X[:200], y[:200])
    opt_ml.add_training_csv(X[200:], y[200:], channel="validation")
    return X[200:], y[200:]


def test_holdout_prints_cv_lines_per_fold_and_final_validation_lines_that_score_the_served_model(
    opt_ml: OptMl,
) -> None:
    X_val, y_val = _split_channels(opt_ml)
    opt_ml.hyperparameters(HOLDOUT)

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    ensemble, manifest = load_bundle(opt_ml.model_dir, n_threads=1)
    assert manifest["cv"]["n_rows"] == 200  # the validation rows never joined the folds
    members = ensemble.predict_members(X_val)
    lines = done.stdout.splitlines()
    last_cv = max(i for i, line in enumerate(lines) if line.startswith("cv-"))
    assert all(i > last_cv for i, line in enumerate(lines) if line.startswith("validation-"))
    for name in metrics_for("regression"):
        metric = get_metric("regression", name)
        assert len(metric_lines(done.stdout, f"cv-{name}")) == 3
        assert metric_lines(done.stdout, f"validation-{name}") == pytest.approx(
            [metric.score(y_val, ensemble.predict(X_val))], abs=2e-6)
        for library in LIBRARIES:
            assert len(metric_lines(done.stdout, f"cv-{name}-{library}")) == 3
            assert len(metric_lines(done.stdout, f"validation-{name}-{library}")) == 1
        for library, prediction in members.items():  # the served members, as served
            assert metric_lines(done.stdout, f"validation-{name}-{library}") == pytest.approx(
                [metric.score(y_val, prediction)], abs=2e-6)
    assert "validation_mode holdout: the 80 validation rows are kept out of training" in done.stderr
    assert "Hold-out rmse on the 80 validation rows" in done.stderr


def test_holdout_scores_go_in_the_leaderboard_and_cv_results_beside_the_cv_scores(opt_ml: OptMl) -> None:
    _split_channels(opt_ml)
    opt_ml.hyperparameters(HOLDOUT)

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    board = {row["model"]: row for row in json.loads((opt_ml.output_data / "leaderboard.json").read_text())}
    assert set(board) == {*LIBRARIES, "ensemble"}
    cv_results = json.loads((opt_ml.output_data / "cv_results.json").read_text())
    assert cv_results["holdout"]["rows"] == 80
    assert board["ensemble"]["holdout_rmse"] == pytest.approx(metric_lines(done.stdout, "validation-rmse")[0],
                                                              abs=2e-6)
    assert board["ensemble"]["rmse"] == pytest.approx(metric_lines(done.stdout, "cv-rmse")[-1], abs=2e-6)
    for library in LIBRARIES:
        assert board[library]["holdout_rmse"] == pytest.approx(
            metric_lines(done.stdout, f"validation-rmse-{library}")[0], abs=2e-6)
        assert cv_results["holdout"]["library_scores"][library] == board[library]["holdout_rmse"]


def test_cv_mode_with_a_validation_channel_prints_no_cv_lines_and_pools_the_rows(opt_ml: OptMl) -> None:
    _split_channels(opt_ml)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "validation_mode": "cv"})

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stdout.splitlines() if line.startswith("cv-")]
    assert len(metric_lines(done.stdout, "validation-rmse")) == 3
    assert json.loads((opt_ml.model_dir / "manifest.json").read_text())["cv"]["n_rows"] == 280
    assert "holdout" not in json.loads((opt_ml.output_data / "cv_results.json").read_text())


def test_holdout_with_refit_full_refits_on_the_train_rows_only(opt_ml: OptMl) -> None:
    X_val, y_val = _split_channels(opt_ml)
    opt_ml.hyperparameters({**HOLDOUT, "refit_full": "true"})

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    assert "refit_full: catboost on all 200 rows" in done.stderr
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    assert metric_lines(done.stdout, "validation-rmse") == pytest.approx(
        [get_metric("regression", "rmse").score(y_val, ensemble.predict(X_val))], abs=2e-6)


def test_holdout_checkpoints_resume_in_holdout_mode_but_never_from_a_cv_mode_job(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=280, seed=11)
    opt_ml.add_training_csv(X[:200], y[:200])
    (opt_ml.base / "checkpoints").mkdir()
    opt_ml.hyperparameters(FAST_HYPERPARAMETERS)
    assert run_train(opt_ml).returncode == 0  # cv mode, the same training rows

    opt_ml.add_training_csv(X[200:], y[200:], channel="validation")
    opt_ml.hyperparameters(HOLDOUT)
    first = run_train(opt_ml)
    assert first.returncode == 0, first.stderr
    assert "resumed from checkpoint" not in first.stderr
    assert first.stderr.count("comes from other data or settings; it is not reused") == 9

    again = run_train(opt_ml)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("resumed from checkpoint") == 9
    assert metric_lines(again.stdout, "validation-rmse") == metric_lines(first.stdout, "validation-rmse")


def test_holdout_classification_scores_the_validation_rows_with_the_training_classes(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=280, seed=11)
    labels = np.where(y > np.median(y), "high", "low")
    _write_labelled(opt_ml, "train", X[:200], labels[:200])
    _write_labelled(opt_ml, "validation", X[200:], labels[200:])
    opt_ml.hyperparameters(HOLDOUT)

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    codes = (labels[200:] == "low").astype(int)  # classes sorted: high, low
    assert metric_lines(done.stdout, "validation-auc") == pytest.approx(
        [get_metric("binary", "auc").score(codes, ensemble.predict(X[200:]))], abs=2e-6)


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        (None, "Hyperparameter 'validation_mode' == 'holdout' needs a 'validation' channel with data"),
        ("fewer-columns", "Channels 'train' and 'validation' have different columns"),
        ("unseen-class",
         "Channel 'validation': row 1 has the label 'medium', which is not a class of channel 'train'"),
    ],
)
def test_holdout_that_cannot_score_the_validation_rows_fails_before_training_saying_why(
    opt_ml: OptMl, validation: str | None, message: str
) -> None:
    X, y = make_regression(n_rows=280, seed=11)
    labels = np.where(y > np.median(y), "high", "low")
    _write_labelled(opt_ml, "train", X[:200], labels[:200])
    if validation == "fewer-columns":
        _write_labelled(opt_ml, "validation", X[200:, :3], labels[200:])
    elif validation == "unseen-class":
        _write_labelled(opt_ml, "validation", X[200:], np.full(80, "medium"))
    opt_ml.hyperparameters(HOLDOUT)

    done = run_train(opt_ml)

    assert done.returncode == 1
    reason = opt_ml.failure_file.read_text()
    assert reason.startswith(f"UserError: {message}"), reason
    assert "unit 1 of" not in done.stderr
    assert opt_ml.model_files() == []
