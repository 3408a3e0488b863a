"""`container/train` as SageMaker runs it: a real process over a temporary /opt/ml tree."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import (
    FAST_HYPERPARAMETERS,
    SHARED_CONFIGS,
    OptMl,
    make_regression,
    metric_lines,
    run_train,
    write_csv,
)

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.training.metric_lines import metric_definitions


@pytest.fixture
def trained(opt_ml: OptMl) -> tuple[OptMl, str]:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    return opt_ml, done.stdout


def test_training_writes_native_fold_models_and_a_manifest_with_checksums(trained: tuple[OptMl, str]) -> None:
    tree, _ = trained
    assert not tree.failure_file.exists()
    files = tree.model_files()
    assert "manifest.json" in files
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["feature_names"] == [f"f{i}" for i in range(5)]
    weights = manifest["blend"]["weights"]
    assert manifest["blend"]["method"] == "weighted"
    assert sum(weights.values()) == pytest.approx(1.0)
    assert all(w > 0 for w in weights.values())
    assert set(manifest["cv"]["blend"]["weights"]) == {"catboost", "lightgbm", "xgboost"}
    suffixes = {"catboost": ".cbm", "lightgbm": ".txt", "xgboost": ".ubj"}
    assert sorted(f for f in files if "/" in f) == sorted(
        f"{library}/fold-{i}{suffixes[library]}" for library in weights for i in range(3)
    )
    assert set(manifest["libraries"]) == set(weights)
    for entry in manifest["libraries"].values():
        assert entry["version"]
        assert all(len(fold["sha256"]) == 64 for fold in entry["folds"])
    assert not any(name.endswith(".pkl") or name.endswith(".pickle") for name in files)


def test_last_validation_rmse_line_is_the_ensembles_cv_rmse(trained: tuple[OptMl, str]) -> None:
    tree, stdout = trained
    values = metric_lines(stdout, "validation-rmse")
    assert len(values) == 3  # one per fold
    report = json.loads((tree.output_data / "cv_results.json").read_text())
    assert values[-1] == pytest.approx(report["score"], abs=1e-6)
    oof = pd.read_csv(tree.output_data / "oof_predictions.csv")
    assert np.sqrt(np.mean((oof["ensemble"] - oof["label"]) ** 2)) == pytest.approx(report["score"])
    assert len(report["units"]) == 9


def test_every_generated_metric_regex_matches_the_real_training_log(trained: tuple[OptMl, str]) -> None:
    _, stdout = trained
    lines = stdout.splitlines()
    for definition in metric_definitions("rmse", ("catboost", "lightgbm", "xgboost")):
        captured = [m.group(1) for line in lines if (m := re.search(definition["Regex"], line))]
        assert len(captured) == 3, definition
        assert all(float(value) > 0 for value in captured)
    for hand_written in (r"validation-rmse:(.*?);", r"validation-rmse:([0-9\.]+)"):
        captured = [m.group(1) for line in lines if (m := re.search(hand_written, line))]
        assert [float(v) for v in captured] == metric_lines(stdout, "validation-rmse")


def test_log_says_unit_i_of_n_with_library_fold_iteration_score_and_seconds(opt_ml: OptMl) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    done = run_train(opt_ml)
    assert done.returncode == 0
    unit_lines = [line for line in done.stderr.splitlines() if re.search(r"unit \d+ of 9:", line)]
    assert len(unit_lines) == 9
    assert re.search(r"unit 1 of 9: catboost fold 0: best_iteration=\d+ rmse=[0-9.]+ seconds=[0-9.]+",
                     unit_lines[0])
    assert "Reporting training SUCCESS" in done.stderr
    assert "\r" not in done.stderr


@pytest.mark.parametrize(("rows", "shape"), [(39_999, ["[max_depth: 6]", "[num_leaves: 64]"]),
                                             (40_000, ["[max_depth: -1]", "[num_leaves: 128]"])])
def test_a_job_without_max_depth_trains_lightgbm_leaf_wise_from_40000_rows(
        opt_ml: OptMl, rows: int, shape: list[str]) -> None:
    X, y = make_regression(n_rows=rows, n_features=4)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({"models": "lightgbm", "k_fold": "2", "num_round": "5"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    model_text = (opt_ml.model_dir / "lightgbm" / "fold-0.txt").read_text()
    assert all(parameter in model_text for parameter in shape)


def test_rerun_with_the_same_seed_gives_the_same_model(opt_ml: OptMl, tmp_path) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    assert run_train(opt_ml).returncode == 0
    first_dir = tmp_path / "first-model"
    shutil.copytree(opt_ml.model_dir, first_dir)
    assert run_train(opt_ml).returncode == 0
    first, first_manifest = load_bundle(first_dir, n_threads=1)
    second, second_manifest = load_bundle(opt_ml.model_dir, n_threads=1)
    assert first_manifest["cv"] == second_manifest["cv"]
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def test_header_csv_with_target_and_validation_channel_train_on_both(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=150)
    header = ["a", "b", "price", "c", "d", "e"]
    rows = [[*x[:2], label, *x[2:]] for x, label in zip(X.tolist(), y.tolist(), strict=True)]
    write_csv(opt_ml.channel("train") / "part-0.csv", rows[:100], header)
    write_csv(opt_ml.channel("validation") / "nested" / "part-1.csv", rows[100:], header)
    opt_ml.write_config("inputdataconfig.json", {"train": {"TrainingInputMode": "File",
                                                           "ContentType": "text/csv"},
                                                 "validation": {"TrainingInputMode": "File"}})
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "price"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((opt_ml.model_dir / "manifest.json").read_text())
    assert manifest["feature_names"] == ["a", "b", "c", "d", "e"]
    assert manifest["target"] == "price"
    assert manifest["cv"]["n_rows"] == 150


def test_models_hyperparameter_trains_only_the_chosen_libraries(opt_ml: OptMl) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "models": "xgboost,lightgbm", "xgboost__max_bin": "64"})
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    assert {f.split("/")[0] for f in opt_ml.model_files() if "/" in f} == {"lightgbm", "xgboost"}
    assert metric_lines(done.stdout, "validation-rmse-catboost") == []


def test_real_sagemaker_config_files_are_accepted(opt_ml: OptMl) -> None:
    if not SHARED_CONFIGS.is_dir():
        pytest.skip("shared/sagemaker-configs is not beside the checkout")
    X, y = make_regression()
    opt_ml.add_training_csv(X[:150], y[:150])
    opt_ml.add_training_csv(X[150:], y[150:], channel="validation")
    amt = json.loads((SHARED_CONFIGS / "amt-hyperparameters.json").read_text())
    opt_ml.hyperparameters({**amt, "num_round": "30", "k_fold": "3"})
    opt_ml.write_config("inputdataconfig.json",
                        json.loads((SHARED_CONFIGS / "service-inputdataconfig.json").read_text()))
    opt_ml.write_config("resourceconfig.json",
                        json.loads((SHARED_CONFIGS / "sdk3-local-resourceconfig.json").read_text()))
    done = run_train(opt_ml)
    assert done.returncode == 0, done.stderr
    assert metric_lines(done.stdout, "validation-rmse")


FAILURES = [
    pytest.param(lambda t: None, "Channel 'train' is missing", id="no-train-channel"),
    pytest.param(lambda t: t.channel("train").mkdir(parents=True), "Channel 'train' is empty",
                 id="empty-train-channel"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({"k_fold": "5", "max_dpeth": "3"})),
                 "Unknown hyperparameter 'max_dpeth' (did you mean 'max_depth'?)",
                 id="unknown-hyperparameter"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()), t.hyperparameters({"eta": "fast"})),
                 "Hyperparameter 'eta': could not parse 'fast' as a number", id="unparseable-hyperparameter"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()), t.hyperparameters({"k_fold": "1"})),
                 "Hyperparameter 'k_fold' == 1, must be >= 2", id="out-of-range-hyperparameter"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression(n_rows=4)),
                            t.hyperparameters({"k_fold": "5"})),
                 "The data has 4 rows, fewer than k_fold == 5", id="fewer-rows-than-folds"),
    pytest.param(lambda t: write_csv(t.channel("train") / "bad.csv", [["1.0", "2.0"], ["3.0", "abc"]]),
                 "bad.csv, line 2: column 'f0' holds 'abc', which is not a number", id="non-numeric-cell"),
    pytest.param(lambda t: write_csv(t.channel("train") / "nan.csv",
                                     [["", "2.0"], ["3.0", "1.0"], ["1", "1"]]),
                 "nan.csv, line 1: the label 'label' is missing", id="missing-label"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({**FAST_HYPERPARAMETERS, "catboost__no_such_param": "1"})),
                 "catboost rejected its parameters (catboost__no_such_param=1)",
                 id="library-rejects-override"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.write_config("inputdataconfig.json",
                                           {"train": {"ContentType": "application/x-recordio"}})),
                 "ContentType 'application/x-recordio' is not supported; accepted:",
                 id="unsupported-content-type"),
    pytest.param(lambda t: (write_csv(t.channel("train") / "h.csv", [[1, 2], [3, 4], [5, 6]], ["a", "b"]),
                            t.hyperparameters({"target": "price"})),
                 "Hyperparameter 'target' == 'price' names no column of channel 'train'; "
                 "its columns are [a, b]",
                 id="target-names-no-column"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.add_training_csv(make_regression()[0][:, :3], make_regression()[1],
                                               channel="validation")),
                 "Channels 'train' and 'validation' have different columns",
                 id="train-validation-columns-differ"),
    pytest.param(lambda t: write_csv(t.channel("train") / "inf.csv", [["1", "2"], ["inf", "1"], ["1", "1"]]),
                 "inf.csv, line 2: the label 'label' is inf", id="infinite-label"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()), t.hyperparameters({"time_limit": "0"})),
                 "Hyperparameter 'time_limit' == 0, must be > 0", id="time-limit-not-positive"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({**FAST_HYPERPARAMETERS,
                                               "lightgbm__objective": "no_such_objective"})),
                 "lightgbm rejected its parameters (lightgbm__objective='no_such_objective')",
                 id="lightgbm-rejects-override"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({**FAST_HYPERPARAMETERS, "xgboost__maxbin": "64"})),
                 "xgboost does not know the parameter(s) xgboost__maxbin", id="xgboost-unknown-parameter"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({**FAST_HYPERPARAMETERS, "lightgbm__num_leafs": "8"})),
                 "lightgbm does not know the parameter(s) lightgbm__num_leafs",
                 id="lightgbm-unknown-parameter"),
    pytest.param(lambda t: (t.add_training_csv(*make_regression()),
                            t.hyperparameters({**FAST_HYPERPARAMETERS, "catboost__depht": "4"})),
                 "catboost rejected its parameters (catboost__depht=4)", id="catboost-unknown-parameter"),
]


@pytest.mark.parametrize(("break_tree", "reason"), FAILURES)
def test_failed_job_exits_nonzero_names_the_problem_and_leaves_no_model(
    opt_ml: OptMl, break_tree, reason: str
) -> None:
    break_tree(opt_ml)
    done = run_train(opt_ml)
    assert done.returncode == 1
    first_line = opt_ml.failure_file.read_text().splitlines()[0]
    assert first_line.startswith("UserError: ")
    assert reason in first_line
    assert len(first_line) < 1024
    assert opt_ml.model_files() == []
    assert "Reporting training FAILURE" in done.stderr
