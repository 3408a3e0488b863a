"""Classification and categorical data through the real `container/train`."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, metric_lines, run_train

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.training.metric_lines import metric_definitions_for


def classification_frame(
    n: int = 240, classes: tuple[str, ...] = ("no", "yes"), seed: int = 3
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).round(4)
    score = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=n)
    cuts = np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1])
    labels = np.array(classes)[np.searchsorted(cuts, score)]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.insert(0, "label", labels)
    return frame


def train_on(tree: OptMl, frame: pd.DataFrame, **hyperparameters: str) -> tuple[str, str]:
    tree.channel("train").mkdir(parents=True, exist_ok=True)
    frame.to_csv(tree.channel("train") / "data.csv", index=False)
    tree.hyperparameters({**FAST_HYPERPARAMETERS, "target": "label", **hyperparameters})
    done = run_train(tree)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_binary_text_labels_are_inferred_and_every_classification_metric_is_reported(opt_ml: OptMl) -> None:
    stdout, stderr = train_on(opt_ml, classification_frame())
    assert "problem_type inferred as binary: the label holds text (2 distinct values)" in stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["problem_type"] == "binary"
    assert manifest["task"] == {"problem_type": "binary", "eval_metric": "logloss", "classes": ["no", "yes"]}
    for name in ("auc", "logloss", "accuracy", "f1"):
        values = metric_lines(stdout, f"validation-{name}")
        assert len(values) == 3, name
        assert 0 <= values[-1] <= (1 if name != "logloss" else 10)
    assert metric_lines(stdout, "validation-rmse") == []
    assert metric_lines(stdout, "validation-logloss")[-1] == pytest.approx(manifest["cv"]["score"], abs=1e-6)
    lines = stdout.splitlines()
    for definition in metric_definitions_for("binary", tuple(manifest["cv"]["library_scores"])):
        assert any(re.search(definition["Regex"], line) for line in lines), definition


def test_eval_metric_chooses_what_the_blend_optimises_and_reports_as_the_cv_score(opt_ml: OptMl) -> None:
    stdout, _ = train_on(opt_ml, classification_frame(), eval_metric="auc")
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["cv"]["metric"] == "auc"
    assert metric_lines(stdout, "validation-auc")[-1] == pytest.approx(manifest["cv"]["score"], abs=1e-6)


def test_multiclass_predicts_a_probability_per_class_that_sums_to_one(opt_ml: OptMl) -> None:
    frame = classification_frame(n=300, classes=("low", "mid", "high"))
    stdout, stderr = train_on(opt_ml, frame, problem_type="multiclass")
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["task"]["classes"] == ["high", "low", "mid"]
    assert metric_lines(stdout, "validation-mlogloss") and metric_lines(stdout, "validation-accuracy")
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    probabilities = ensemble.predict(frame[["a", "b", "c", "d"]].to_numpy()[:20])
    assert probabilities.shape == (20, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    predicted = np.array(manifest["task"]["classes"])[probabilities.argmax(axis=1)]
    assert (predicted == frame["label"].to_numpy()[:20]).mean() > 0.5
    oof = pd.read_csv(opt_ml.output_data / "oof_predictions.csv")
    assert {"ensemble[high]", "ensemble[low]", "ensemble[mid]"} <= set(oof.columns)


def test_integer_labels_with_few_values_are_classes_and_keep_their_values(opt_ml: OptMl) -> None:
    frame = classification_frame(n=300, classes=("3", "7", "9"))
    frame["label"] = frame["label"].astype(int)
    _, stderr = train_on(opt_ml, frame)
    assert "problem_type inferred as multiclass: the label holds 3 distinct integers" in stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["task"]["classes"] == [3, 7, 9]


def test_text_features_with_missing_values_train_as_native_categories(opt_ml: OptMl) -> None:
    rng = np.random.default_rng(0)
    n = 300
    color = rng.choice(["red", "green", "blue", ""], n, p=[0.4, 0.3, 0.2, 0.1])
    x = rng.normal(size=n).round(3)
    x[rng.random(n) < 0.1] = np.nan
    label = np.where(color == "red", 3.0, 0.0) + np.nan_to_num(x) + rng.normal(scale=0.2, size=n).round(3)
    frame = pd.DataFrame({"label": label, "color": color, "x": x})
    _, stderr = train_on(opt_ml, frame)
    assert "categorical features color (3 levels)" in stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["categories"] == {"color": ["blue", "green", "red"]}
    assert manifest["problem_type"] == "regression"
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    red, blue, missing = ensemble.predict(np.array([[2.0, 0.0], [0.0, 0.0], [np.nan, np.nan]]))
    assert red - blue > 1.5
    assert np.isfinite(missing)


CLASSIFICATION_FAILURES = [
    pytest.param({"problem_type": "regression"}, "data.csv, line 2: column 'label' holds",
                 id="regression-with-text-label"),
    pytest.param({"eval_metric": "rmse"},
                 "Hyperparameter 'eval_metric' == 'rmse' does not fit problem_type 'binary'",
                 id="metric-of-another-problem-type"),
    pytest.param({"problem_type": "binary", "k_fold": "3"}, None, id="binary-is-fine"),
    pytest.param({"problem_type": "multiclass", "k_fold": "3"}, None, id="two-classes-may-be-multiclass"),
    pytest.param({"eval_metric": "auroc"}, "Hyperparameter 'eval_metric' == 'auroc' (did you mean 'auc'?)",
                 id="unknown-metric"),
]


@pytest.mark.parametrize(("hyperparameters", "reason"), CLASSIFICATION_FAILURES)
def test_classification_settings_that_do_not_fit_fail_with_a_reason(
    opt_ml: OptMl, hyperparameters, reason
) -> None:
    opt_ml.channel("train").mkdir(parents=True)
    classification_frame().to_csv(opt_ml.channel("train") / "data.csv", index=False)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "label", **hyperparameters})
    done = run_train(opt_ml)
    if reason is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 1
    assert reason in opt_ml.failure_file.read_text().splitlines()[0]
    assert opt_ml.model_files() == []


def test_a_class_with_fewer_rows_than_folds_is_named(opt_ml: OptMl) -> None:
    frame = classification_frame(n=120)
    frame.loc[:1, "label"] = "rare"
    opt_ml.channel("train").mkdir(parents=True)
    frame.to_csv(opt_ml.channel("train") / "data.csv", index=False)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "label"})
    done = run_train(opt_ml)
    assert done.returncode == 1
    assert "Class 'rare' has 2 rows, fewer than k_fold == 3" in opt_ml.failure_file.read_text()


# --- data that would be misread: refused with a reason, never trained on -----------------------


def row_id_first_rows(n: int = 200) -> list[list[object]]:
    """What a pandas user writes with ``to_csv(header=False)``: the row index first, the label last."""
    frame = classification_frame(n=n)
    return [[i, *row[1:], 3.0 * row[1] + row[2]] for i, row in enumerate(frame.itertuples(index=False))]


def write_rows(tree: OptMl, rows: list[list[object]], name: str = "data.csv") -> None:
    tree.channel("train").mkdir(parents=True, exist_ok=True)
    lines = [",".join(str(v) for v in row) for row in rows]
    (tree.channel("train") / name).write_text("\n".join(lines) + "\n")


MISREAD_DATA = [
    pytest.param(lambda t: write_rows(t, row_id_first_rows()),
                 "Channel 'train': the first column counts the rows (0, 1, 2, ... in file order), so it is a "
                 "row id, not a label. The label is the first column (the label-first convention of "
                 "SageMaker's built-in algorithms); for a label in another column, name it with the "
                 "hyperparameter 'target'", id="row-id-first-label-last"),
    pytest.param(lambda t: write_rows(t, [[1.5, 2, 3], [2.5, 4, 5], [3.5, 6]] + [[0.5, 1, 2]] * 20),
                 "data.csv is not readable CSV: line 3 has 2 fields, but the file has 3 columns",
                 id="short-row"),
    pytest.param(lambda t: (t.channel("train").mkdir(parents=True),
                            (t.channel("train") / "data.csv").write_text("1.5;2;3\n2.5;4;5\n")),
                 "The first line of data.csv holds ';' but no ','; write comma-separated values",
                 id="semicolon-separated"),
    pytest.param(lambda t: write_rows(t, [[7.25, i, i % 3] for i in range(40)]),
                 "The label holds one value in all 40 rows: there is nothing to learn.", id="constant-label"),
    pytest.param(lambda t: (write_rows(t, [[1.5, 2, 3], [2.5, 4, 5], ["high", 6, 7]] * 10),
                            t.hyperparameters({**FAST_HYPERPARAMETERS, "problem_type": "regression"})),
                 "data.csv, line 3: column 'label' holds 'high', which is not a number. A regression label "
                 "must be a number. The label is the first column (the label-first convention",
                 id="text-label-in-regression"),
]


@pytest.mark.parametrize(("write", "reason"), MISREAD_DATA)
def test_data_that_would_be_misread_fails_the_job_with_the_reason(opt_ml: OptMl, write, reason: str) -> None:
    write(opt_ml)
    done = run_train(opt_ml)
    assert done.returncode == 1
    first_line = opt_ml.failure_file.read_text().splitlines()[0]
    assert first_line.startswith("UserError: ") and reason in first_line
    assert opt_ml.model_files() == []


def test_label_check_false_trains_on_a_first_column_that_counts_the_rows(opt_ml: OptMl) -> None:
    write_rows(opt_ml, row_id_first_rows())
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "models": "xgboost", "label_check": "false"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    assert "Channel 'train': the label has 200 distinct values in 200 rows, numbers from 0 to 199." in (
        done.stdout + done.stderr)
    assert not opt_ml.failure_file.exists()


def test_regression_reports_mae_r2_and_mape_and_says_how_many_zero_labels_mape_leaves_out(
    opt_ml: OptMl,
) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 4))
    y = np.where(np.arange(200) % 10 == 0, 0.0, 3.0 * X[:, 0] + 10.0)  # 20 labels are 0
    opt_ml.add_training_csv(X, y)
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert "mape is computed over the 180 rows whose label is not 0 (20 rows with label 0 are left out)." \
        in result.stderr
    folds = int(FAST_HYPERPARAMETERS["k_fold"])
    for metric in ("rmse", "mae", "r2", "mape"):
        values = metric_lines(result.stdout, f"validation-{metric}")
        assert len(values) == folds and all(np.isfinite(values)), metric
    assert 0.0 < metric_lines(result.stdout, "validation-r2")[-1] <= 1.0


@pytest.mark.parametrize("objective", ["absolute_error", "huber"])
def test_a_regression_objective_trains_every_library_on_that_loss_and_eval_metric_mae_steers_the_job(
    opt_ml: OptMl, objective: str,
) -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = 4.0 * X[:, 0] + rng.standard_t(2, size=200)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "objective": objective, "huber_delta": "2",
                            "eval_metric": "mae"})
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert re.search(r"Cross-validated mae of the ensemble: [0-9.]+", result.stderr), result.stderr[-2000:]
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["config"]["objective"] == objective
    ensemble, _ = load_bundle(opt_ml.model_dir, n_threads=1)
    assert np.isfinite(ensemble.predict(X[:20])).all()


def test_a_regression_objective_with_a_classification_problem_type_fails_the_job(opt_ml: OptMl) -> None:
    X = np.random.default_rng(8).normal(size=(60, 3))
    opt_ml.add_training_csv(X, (X[:, 0] > 0).astype(float))
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "objective": "huber", "problem_type": "binary"})
    result = run_train(opt_ml)
    assert result.returncode == 1
    assert opt_ml.failure_file.read_text().startswith(
        "UserError: Hyperparameter 'objective' == 'huber' is a regression loss, but problem_type is 'binary'")
