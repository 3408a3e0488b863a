"""Problem types inferred from the label, and the label encoded for the libraries."""

from __future__ import annotations

import numpy as np
import pytest

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.scores import get_metric, metrics_for
from ensemble_byoc.training.task import resolve_task


@pytest.mark.parametrize(("labels", "problem_type", "classes"), [
    (np.array(["b", "a", "b", "a"], dtype=object), "binary", ("a", "b")),
    (np.array(["x", "y", "z", "x"], dtype=object), "multiclass", ("x", "y", "z")),
    (np.array([0.0, 1.0, 1.0, 0.0]), "binary", (0, 1)),
    (np.array([3.0, 5.0, 7.0, 3.0, 5.0]), "multiclass", (3, 5, 7)),
    (np.array([0.5, 1.5, 2.25, 3.0, 4.0]), "regression", ()),
    (np.arange(30, dtype=float), "regression", ()),
])
def test_problem_type_is_inferred_from_the_label(labels, problem_type: str, classes: tuple) -> None:
    task, encoded = resolve_task(labels, None, None)
    assert task.problem_type == problem_type
    assert task.classes == classes
    if classes:
        assert [task.classes[i] for i in encoded] == [c if isinstance(c, str) else int(c) for c in labels]


@pytest.mark.parametrize(("eval_metric", "objective"), [
    (None, "absolute_error"), (None, "huber"), ("mae", "squared_error"), ("rmse", "squared_error"),
])
def test_a_regression_objective_or_metric_makes_a_few_integer_label_regression(
    eval_metric: str | None, objective: str
) -> None:
    # Before: counts 0..5 were taken for six classes, then refused ("objective ... is a regression loss").
    counts = np.array([0.0, 1.0, 2.0, 5.0, 3.0, 1.0, 0.0, 4.0])
    task, encoded = resolve_task(counts, None, eval_metric, objective)
    assert task.problem_type == "regression" and task.classes == ()
    np.testing.assert_array_equal(encoded, counts)
    assert resolve_task(counts, None, None)[0].problem_type == "multiclass"  # without them: classes


def test_a_text_label_beside_a_regression_setting_is_still_classes_so_the_setting_is_named() -> None:
    labels = np.array(["low", "high", "low"], dtype=object)
    assert resolve_task(labels, None, None, "huber")[0].problem_type == "binary"  # the config then refuses
    with pytest.raises(UserError, match="'eval_metric' == 'mae' does not fit problem_type 'binary'"):
        resolve_task(labels, None, "mae")


def test_default_eval_metrics_are_rmse_logloss_and_mlogloss() -> None:
    assert resolve_task(np.array([1.5, 2.5, 3.25]), None, None)[0].eval_metric == "rmse"
    assert resolve_task(np.array(["a", "b"], dtype=object), None, None)[0].eval_metric == "logloss"
    assert resolve_task(np.array(["a", "b", "c"], dtype=object), None, None)[0].eval_metric == "mlogloss"


def test_binary_needs_exactly_two_classes() -> None:
    with pytest.raises(UserError, match="problem_type 'binary' needs exactly 2 classes; the label has 3"):
        resolve_task(np.array(["a", "b", "c"], dtype=object), "binary", None)


def test_metrics_per_problem_type_and_their_direction() -> None:
    assert metrics_for("regression") == ("rmse", "mae", "r2", "mape")
    assert metrics_for("binary") == ("auc", "logloss", "accuracy", "f1")
    assert metrics_for("multiclass") == ("mlogloss", "accuracy")
    assert get_metric("binary", "auc").greater_is_better
    assert not get_metric("multiclass", "mlogloss").greater_is_better


def test_binary_scores_on_a_known_example() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.4, 0.3])
    assert get_metric("binary", "auc").score(y, p) == 1.0
    assert get_metric("binary", "accuracy").score(y, p) == 0.75
    assert get_metric("binary", "f1").score(y, p) == pytest.approx(2 / 3)
    assert get_metric("binary", "logloss").score(y, p) == pytest.approx(
        -np.mean(np.log([0.9, 0.8, 0.4, 0.7])))
    assert get_metric("binary", "accuracy").loss(y, p) == -0.75


def test_eval_metric_names_only_what_early_stopping_can_watch() -> None:
    from ensemble_byoc.training.scores import eval_metrics_for

    assert eval_metrics_for("regression") == ("rmse", "mae")
    with pytest.raises(UserError, match="'r2' does not fit problem_type 'regression'; choose one of rmse"):
        resolve_task(np.array([1.5, 2.5, 3.5, 4.5]), "regression", "r2")
