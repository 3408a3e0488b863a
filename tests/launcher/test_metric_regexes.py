"""Every metric regex the launcher sends to SageMaker captures exactly its own lines in a real log."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, metric_lines, run_train

from ensemble_byoc.launcher import Channels, Launcher
from ensemble_byoc.launcher.training_jobs import MAX_METRIC_DEFINITIONS, metric_definition_shapes
from ensemble_byoc.training.config import TrainConfig


@pytest.mark.parametrize(
    ("problem_type", "names"),
    [
        ("regression", ["rmse", "mae", "r2", "mape"]),
        ("binary", ["auc", "logloss", "accuracy", "f1"]),
    ],
)
def test_every_metric_regex_sent_to_sagemaker_captures_its_lines_in_a_real_training_log(
    problem_type: str, names: list[str], opt_ml: OptMl
) -> None:
    X, y = make_regression()
    if problem_type == "binary":
        y = (y > np.median(y)).astype(int)
    opt_ml.add_training_csv(X, y)
    submission = Launcher(image_uri="image", role_arn="arn:aws:iam::123456789012:role/R", dry_run=True).train(
        Channels("s3://bucket/train/"), "s3://bucket/output/", FAST_HYPERPARAMETERS, problem_type=problem_type
    )
    request = submission.calls[0].request
    opt_ml.hyperparameters(request["HyperParameters"])  # the job gets what SageMaker would pass it
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr  # CloudWatch has both; SageMaker applies each regex line by line
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]

    libraries = ["catboost", "lightgbm", "xgboost"]
    assert [d["Name"] for d in definitions] == [
        f"validation:{name}{suffix}" for name in names for suffix in ["", *(f"-{lib}" for lib in libraries)]
    ]
    for definition in definitions:
        printed = metric_lines(result.stdout, definition["Name"].replace(":", "-", 1))
        captured = [float(found.group(1)) for line in log.splitlines()
                    if (found := re.search(definition["Regex"], line))]
        assert len(printed) == int(FAST_HYPERPARAMETERS["k_fold"]), definition
        assert captured == printed, definition


def test_holdout_metric_regexes_capture_the_cv_lines_of_every_fold_and_the_one_validation_line(
    opt_ml: OptMl,
) -> None:
    X, y = make_regression(n_rows=280)
    opt_ml.add_training_csv(X[:200], y[:200])
    opt_ml.add_training_csv(X[200:], y[200:], channel="validation")
    hyperparameters = {**FAST_HYPERPARAMETERS, "validation_mode": "holdout"}
    submission = Launcher(image_uri="image", role_arn="arn:aws:iam::123456789012:role/R", dry_run=True).train(
        Channels("s3://bucket/train/", "s3://bucket/validation/"), "s3://bucket/output/", hyperparameters,
        problem_type="regression",
    )
    request = submission.calls[0].request
    opt_ml.hyperparameters(request["HyperParameters"])
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]

    suffixes = ["", "-catboost", "-lightgbm", "-xgboost"]
    assert [d["Name"] for d in definitions] == [
        f"{prefix}:{name}{suffix}" for prefix in ("validation", "cv")
        for name in ["rmse", "mae", "r2", "mape"] for suffix in suffixes
    ]
    for definition in definitions:
        printed = metric_lines(result.stdout, definition["Name"].replace(":", "-", 1))
        captured = [float(found.group(1)) for line in log.splitlines()
                    if (found := re.search(definition["Regex"], line))]
        assert len(printed) == (1 if definition["Name"].startswith("validation:") else 3), definition
        assert captured == printed, definition


@pytest.mark.parametrize("problem_type", [None, "regression", "binary", "multiclass"])
@pytest.mark.parametrize("validation_mode", ["cv", "holdout"])
def test_metric_definitions_stay_within_sagemakers_40_and_define_cv_lines_only_for_holdout(
    problem_type: str | None, validation_mode: str
) -> None:
    config = TrainConfig.from_hyperparameters(
        {"validation_mode": validation_mode, **({"problem_type": problem_type} if problem_type else {})})

    names = [d.name for d in metric_definition_shapes(config)]

    assert len(names) <= MAX_METRIC_DEFINITIONS == 40
    assert len(set(names)) == len(names)
    cv_names = [name for name in names if name.startswith("cv:")]
    if validation_mode == "cv":
        assert cv_names == []
        return
    objective = {"regression": "rmse", "binary": "auc", "multiclass": "mlogloss", None: "rmse"}[problem_type]
    assert f"cv:{objective}" in cv_names
    if problem_type is not None:  # one problem type: every validation line has its cv line
        validation_names = [name for name in names if name.startswith("validation:")]
        assert cv_names == [name.replace("validation:", "cv:") for name in validation_names]
