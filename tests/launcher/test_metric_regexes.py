"""Every metric regex the launcher sends to SageMaker captures exactly its own lines in a real log."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, metric_lines, run_train

from ensemble_byoc.launcher import Channels, Launcher


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
