"""Metric lines in the training log and the regexes SageMaker and AMT use to read them."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from ensemble_byoc.contract.logs import defuse_metric_text
from ensemble_byoc.training.metric_lines import (
    emit_metric,
    ensemble_metric_name,
    format_metric_line,
    library_metric_name,
    metric_definitions,
    metric_regex,
)
from ensemble_byoc.training.scores import REGRESSION, get_metric

rmse = get_metric(REGRESSION, "rmse").score
LIBRARIES = ("catboost", "lightgbm", "xgboost")
HAND_WRITTEN_REGEXES = [r"validation-rmse:(.*?);", r"validation-rmse:([0-9\.]+)"]


def training_log() -> str:
    """A log as the training job prints it: per-library lines first, the ensemble's last."""
    out = io.StringIO()
    out.write("INFO fold 1/5 done\n")
    emit_metric(library_metric_name("rmse", "catboost"), 61.5, out)
    emit_metric(library_metric_name("rmse", "lightgbm"), 60.25, out)
    emit_metric(library_metric_name("rmse", "xgboost"), 59.125, out)
    emit_metric(ensemble_metric_name("rmse"), 53.1234567, out)
    out.write("INFO model saved\n")
    return out.getvalue()


def first_match_per_line(regex: str, log: str) -> str | None:
    """What SageMaker reports: the regex is applied to each log line on its own; first capture wins."""
    for line in log.splitlines():
        found = re.search(regex, line)
        if found:
            return found.group(1)
    return None


def test_metric_line_has_the_exact_format_with_six_decimals() -> None:
    assert format_metric_line("validation-rmse", 53.1234567) == "validation-rmse:53.123457;"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "validation-rmse:0.000000;"),
        (1e-9, "validation-rmse:0.000000;"),
        (1.5e-5, "validation-rmse:0.000015;"),
        (1e20, "validation-rmse:100000000000000000000.000000;"),
        (123456789.125, "validation-rmse:123456789.125000;"),
        (np.float64(2.5), "validation-rmse:2.500000;"),
        (3, "validation-rmse:3.000000;"),
    ],
)
def test_metric_value_is_plain_fixed_point_even_for_tiny_and_huge_values(value: float, expected: str) -> None:
    line = format_metric_line("validation-rmse", value)
    assert line == expected
    assert "e" not in line.split(":", 1)[1]


def test_metric_names_put_the_library_after_the_ensemble_name() -> None:
    assert ensemble_metric_name("rmse") == "validation-rmse"
    assert library_metric_name("rmse", "xgboost") == "validation-rmse-xgboost"


def test_emit_metric_writes_exactly_one_line_to_the_given_stream() -> None:
    out = io.StringIO()
    emit_metric("validation-rmse", 53.1234567, out)
    assert out.getvalue() == "validation-rmse:53.123457;\n"


def test_emit_metric_writes_to_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metric("validation-rmse-xgboost", 1.25)
    assert capsys.readouterr().out == "validation-rmse-xgboost:1.250000;\n"


def test_metric_definitions_are_named_as_amt_objectives() -> None:
    definitions = metric_definitions("rmse", LIBRARIES)
    assert [d["Name"] for d in definitions] == [
        "validation:rmse", "validation:rmse-catboost", "validation:rmse-lightgbm", "validation:rmse-xgboost",
    ]
    assert all(set(d) == {"Name", "Regex"} for d in definitions)


def test_metric_definitions_without_libraries_hold_only_the_ensemble() -> None:
    assert [d["Name"] for d in metric_definitions("rmse", ())] == ["validation:rmse"]


def test_each_definition_regex_captures_the_value_of_its_own_line() -> None:
    log = training_log()
    definitions = metric_definitions("rmse", LIBRARIES)
    captured = {d["Name"]: first_match_per_line(d["Regex"], log) for d in definitions}
    assert captured == {
        "validation:rmse": "53.123457",
        "validation:rmse-catboost": "61.500000",
        "validation:rmse-lightgbm": "60.250000",
        "validation:rmse-xgboost": "59.125000",
    }
    assert float(captured["validation:rmse"]) == pytest.approx(53.123457)


@pytest.mark.parametrize("value", [0.0, 1e-9, 0.5, 53.1234567, 1e20])
def test_generated_regex_matches_the_whole_value_for_any_magnitude(value: float) -> None:
    line = format_metric_line("validation-rmse", value)
    found = re.fullmatch(metric_regex("validation-rmse"), line)
    assert found is not None
    assert float(found.group(1)) == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("regex", HAND_WRITTEN_REGEXES)
def test_hand_written_regex_captures_the_ensemble_value_not_a_library_value(regex: str) -> None:
    assert first_match_per_line(regex, training_log()) == "53.123457"


@pytest.mark.parametrize("regex", HAND_WRITTEN_REGEXES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_hand_written_regex_does_not_match_any_library_line(regex: str, library: str) -> None:
    line = format_metric_line(library_metric_name("rmse", library), 59.125)
    assert re.search(regex, line) is None


@pytest.mark.parametrize("library", LIBRARIES)
def test_generated_ensemble_regex_does_not_match_a_library_line(library: str) -> None:
    line = format_metric_line(library_metric_name("rmse", library), 59.125)
    assert re.search(metric_regex(ensemble_metric_name("rmse")), line) is None


@pytest.mark.parametrize("library", LIBRARIES)
def test_generated_library_regex_does_not_match_the_ensemble_line(library: str) -> None:
    line = format_metric_line(ensemble_metric_name("rmse"), 53.1234567)
    assert re.search(metric_regex(library_metric_name("rmse", library)), line) is None


def test_generated_library_regex_does_not_match_another_library_line() -> None:
    line = format_metric_line(library_metric_name("rmse", "xgboost"), 1.0)
    assert re.search(metric_regex(library_metric_name("rmse", "catboost")), line) is None


def test_rmse_of_a_known_example() -> None:
    # errors 1, -2, 2, 0 -> mean square 9/4 -> rmse 1.5
    assert rmse(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 4.0, 1.0, 4.0])) == pytest.approx(1.5)


def test_rmse_is_zero_for_a_perfect_prediction_and_returns_a_python_float() -> None:
    value = rmse(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert value == 0.0
    assert type(value) is float


@pytest.mark.parametrize("definition", metric_definitions("rmse", LIBRARIES), ids=lambda d: d["Name"])
def test_generated_regexes_match_a_whole_line_only(definition: dict[str, str]) -> None:
    line = format_metric_line(definition["Name"].replace(":", "-", 1), 1.5)
    assert re.search(definition["Regex"], line) is not None
    assert re.search(definition["Regex"], f"INFO data: column {line}") is None
    assert re.search(definition["Regex"], f"{line} (3 levels)") is None


@pytest.mark.parametrize("text", [
    "validation-rmse:0.000001;",
    "column 'validation-rmse:0.1;' and VALIDATION-RMSE:2;",
    "x\nvalidation-rmse:0.5;\n",
    "validation-rmse-xgboost:1.0;",
    "cv-rmse:0.1;",
    "column 'CV-RMSE-catboost:0.1;' in xcv-rmse:2;",
])
def test_defused_text_is_matched_by_no_metric_regex_anchored_or_not(text: str) -> None:
    defused = defuse_metric_text(text)
    regexes = ([d["Regex"] for d in metric_definitions("rmse", LIBRARIES)]
               + [d["Regex"] for d in metric_definitions("rmse", LIBRARIES, "cv")] + HAND_WRITTEN_REGEXES
               + [r"cv-rmse:(.*?);", r"cv-rmse-catboost:([0-9\.]+)"])
    for regex in regexes:
        assert not any(re.search(regex, line) for line in defused.splitlines()), regex
    assert defused.replace("\\-", "-").lower() == text.lower()  # still readable: only the dash is escaped


def test_defusing_leaves_text_without_a_metric_name_as_it_is() -> None:
    text = "Channels 'train' and 'validation' have different columns: ['a:1;', 'b-c:2;']"
    assert defuse_metric_text(text) == text


def test_the_regex_finds_its_line_in_a_block_of_several_lines_but_never_mid_line() -> None:
    block = ("2026-12-01 INFO training: column 'validation-rmse:0.1;' read\n"
             "validation-rmse-catboost:55.5;\nvalidation-rmse:55.4;\n")

    found = re.findall(metric_regex(ensemble_metric_name("rmse")), block)

    assert found == ["55.4"]


def test_regression_jobs_report_mae_r2_and_mape_as_scikit_learn_computes_them() -> None:
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, r2_score

    rng = np.random.default_rng(3)
    y = rng.normal(10.0, 3.0, size=200)
    prediction = y + rng.normal(0.0, 1.0, size=200)
    score = {name: get_metric(REGRESSION, name).score for name in ("mae", "r2", "mape")}
    assert score["mae"](y, prediction) == pytest.approx(mean_absolute_error(y, prediction))
    assert score["r2"](y, prediction) == pytest.approx(r2_score(y, prediction))
    assert score["mape"](y, prediction) == pytest.approx(100 * mean_absolute_percentage_error(y, prediction))


def test_mape_leaves_out_rows_whose_label_is_zero_and_says_how_many() -> None:
    from ensemble_byoc.training.scores import zero_labels

    y, prediction = np.array([0.0, 2.0, 4.0, 0.0]), np.array([5.0, 1.0, 5.0, -3.0])
    assert get_metric(REGRESSION, "mape").score(y, prediction) == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert zero_labels(y) == 2
    assert np.isnan(get_metric(REGRESSION, "mape").score(np.zeros(3), np.ones(3)))


def test_r2_is_negative_for_a_model_worse_than_the_mean_and_its_regex_keeps_the_sign() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    r2 = get_metric(REGRESSION, "r2").score(y, y[::-1])
    assert r2 == pytest.approx(-3.0)
    line = format_metric_line(ensemble_metric_name("r2"), r2)
    captured = re.search(metric_definitions("r2", LIBRARIES)[0]["Regex"], line)
    assert line == "validation-r2:-3.000000;" and captured is not None and float(captured.group(1)) == r2
