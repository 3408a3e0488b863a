"""Metric lines cannot be forged by the data: a column or a class label written like a metric line is
logged, but neither the regexes the launcher hands to SageMaker nor the common unanchored forms find it;
they match the lines ``emit_metric`` printed, and nothing else (end to end through ``container/train``)."""

from __future__ import annotations

import re

import numpy as np
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression, run_train, write_csv

from ensemble_byoc.training.metric_lines import ensemble_metric_name, metric_definitions_for
from ensemble_byoc.training.scores import metrics_for

FORGED = "validation-rmse:0.000001;"
LIBRARIES = ("catboost", "lightgbm", "xgboost")
REAL_LINE = re.compile(r"(validation|cv)-[a-z0-9]+(-[a-z0-9-]+)?:-?[0-9]+\.[0-9]{6};")


def _regexes(problem_type: str) -> list[str]:
    """The anchored definitions (the ``validation-`` and the holdout mode's ``cv-`` lines), and for each
    metric the two unanchored forms people write by hand."""
    regexes = []
    for prefix in ("validation", "cv"):
        regexes += [d["Regex"] for d in metric_definitions_for(problem_type, LIBRARIES, prefix)]
        for metric in ["rmse", *metrics_for(problem_type)]:
            name = re.escape(ensemble_metric_name(metric, prefix))
            regexes += [name + r":(.*?);", name + r":([0-9\.]+)"]
    return regexes


def _assert_only_real_metric_lines_match(stdout: str, stderr: str, problem_type: str) -> None:
    printed = [line for line in stdout.splitlines() if REAL_LINE.fullmatch(line)]
    for regex in _regexes(problem_type):
        for stream, text in (("stdout", stdout), ("stderr", stderr)):
            for line in text.splitlines():
                if re.search(regex, line):
                    assert stream == "stdout" and line in printed, f"{regex!r} matches {line!r} in {stream}"
    assert printed, "the job printed no metric line"


def test_a_column_named_like_a_metric_line_is_logged_but_never_matched(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=200, n_features=5, seed=4)
    rng = np.random.default_rng(0)
    colours = rng.choice(["red", "green", "blue"], size=200)  # a text column: its name is logged
    rows = [[label, *features, colour] for features, label, colour in zip(X.tolist(), y.tolist(), colours,
                                                                          strict=True)]
    write_csv(opt_ml.channel("train") / "data.csv", rows, ["target", "a", "b", "c", "d", "e", FORGED])
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target"})

    done = run_train(opt_ml)

    _assert_only_real_metric_lines_match(done.stdout, done.stderr, "regression")
    assert done.returncode == 0, done.stderr
    assert "validation\\-rmse:0.000001;" in done.stderr  # logged as written, defused


def test_a_class_label_named_like_a_metric_line_is_logged_but_never_matched(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=200, n_features=5, seed=4)
    labels = np.where(y > np.median(y), "validation-rmse:0.1;", "validation-auc:0.99;")
    rows = [[label, *features] for features, label in zip(X.tolist(), labels.tolist(), strict=True)]
    write_csv(opt_ml.channel("train") / "data.csv", rows, ["target", "a", "b", "c", "d", "e"])
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target"})

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    _assert_only_real_metric_lines_match(done.stdout, done.stderr, "binary")
    assert "validation\\-rmse:0.1;" in done.stderr


def test_a_failure_reason_quoting_a_metric_shaped_name_is_defused_in_the_log(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=200, n_features=5, seed=4)
    rows = [[label, *features] for features, label in zip(X.tolist(), y.tolist(), strict=True)]
    write_csv(opt_ml.channel("train") / "data.csv", rows, ["target", "a", "b", "c", "d", "e"])
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": FORGED})  # no such column

    done = run_train(opt_ml)

    assert done.returncode == 1
    for regex in _regexes("regression"):
        assert not any(re.search(regex, line) for line in (done.stdout + done.stderr).splitlines()), regex
    assert "validation\\-rmse:0.000001;" in done.stderr


def test_a_column_named_like_a_cv_line_is_logged_but_never_matched_in_holdout_mode(opt_ml: OptMl) -> None:
    X, y = make_regression(n_rows=280, n_features=5, seed=4)
    rng = np.random.default_rng(0)
    colours = rng.choice(["red", "green", "blue"], size=280)  # a text column: its name is logged
    rows = [[label, *features, colour] for features, label, colour in zip(X.tolist(), y.tolist(), colours,
                                                                          strict=True)]
    header = ["target", "a", "b", "c", "d", "e", "cv-rmse:0.1;"]
    write_csv(opt_ml.channel("train") / "data.csv", rows[:200], header)
    write_csv(opt_ml.channel("validation") / "data.csv", rows[200:], header)
    opt_ml.hyperparameters({**FAST_HYPERPARAMETERS, "target": "target", "validation_mode": "holdout"})

    done = run_train(opt_ml)

    assert done.returncode == 0, done.stderr
    _assert_only_real_metric_lines_match(done.stdout, done.stderr, "regression")
    assert "cv\\-rmse:0.1;" in done.stderr  # logged as written, defused
    assert [line for line in done.stdout.splitlines() if line.startswith("cv-rmse:")]
