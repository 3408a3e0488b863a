"""A label taken from the first column must be able to be one; messages never carry more than a few
characters of a cell; every missing-value token reads as missing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_regression, write_csv

from ensemble_byoc.contract.missing_values import MISSING_TOKENS
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data import load_channel
from ensemble_byoc.training.task import resolve_task

LABEL_FIRST = "the label-first convention of SageMaker's built-in algorithms"


def load(directory: Path, *, target: str | None = None, numeric_label: bool = False,
         label_check: bool = True, channel: str = "train"):
    return load_channel(directory, channel=channel, file_format=None, target=target,
                        numeric_label=numeric_label, label_check=label_check)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rows_with_first_column(first: np.ndarray, n_features: int = 4) -> list[list[float]]:
    X, y = make_regression(n_rows=len(first), n_features=n_features)
    return [[value, *row, label] for value, row, label in zip(first, X, y, strict=True)]


# --- a row id where the label belongs ----------------------------------------------------------


@pytest.mark.parametrize("start", [0, 1])
def test_a_first_column_counting_the_rows_is_refused_as_a_row_id(tmp_path: Path, start: int) -> None:
    write_csv(tmp_path / "train.csv", rows_with_first_column(np.arange(start, start + 30)))
    with pytest.raises(UserError, match=re.escape(
        f"Channel 'train': the first column counts the rows ({start}, {start + 1}, {start + 2}, ... in file "
        "order), so it is a row id, not a label.")) as caught:
        load(tmp_path)
    message = str(caught.value)
    assert LABEL_FIRST in message
    assert "hyperparameter 'target'" in message
    assert "set the hyperparameter 'label_check' to false" in message


def test_a_row_id_is_counted_across_the_files_of_a_channel_in_file_order(tmp_path: Path) -> None:
    rows = rows_with_first_column(np.arange(24))
    write_csv(tmp_path / "part-0.csv", rows[:12])
    write_csv(tmp_path / "part-1.csv", rows[12:])
    with pytest.raises(UserError, match="row id"):
        load(tmp_path)


def test_a_row_id_in_a_regression_job_and_in_parquet_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "csv" / "train.csv", rows_with_first_column(np.arange(1, 21)))
    with pytest.raises(UserError, match="row id"):
        load(tmp_path / "csv", numeric_label=True)
    (tmp_path / "pq").mkdir()
    pd.DataFrame({"index": np.arange(20), "x": np.ones(20), "y": np.arange(20.0) / 3}).to_parquet(
        tmp_path / "pq" / "part-0.parquet")
    with pytest.raises(UserError, match="row id"):
        load(tmp_path / "pq")


def test_label_check_off_lets_a_counting_label_train(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", rows_with_first_column(np.arange(30)))
    np.testing.assert_array_equal(load(tmp_path, label_check=False).y, np.arange(30))


@pytest.mark.parametrize("first", [
    np.arange(9),                                 # too few rows to tell
    np.arange(29, -1, -1),                        # counting down
    np.random.default_rng(0).permutation(30),     # every row id, but not in file order
    np.arange(2, 32),                             # counting from 2: e.g. a later shard's part of the ids
    np.arange(30) * 0.5,                          # evenly spaced but not counting
])
def test_a_first_column_that_does_not_count_the_rows_from_0_or_1_is_a_label(
    tmp_path: Path, first: np.ndarray
) -> None:
    write_csv(tmp_path / "train.csv", rows_with_first_column(first))
    np.testing.assert_array_equal(load(tmp_path).y, first)


def test_a_counting_column_named_by_target_is_the_users_choice(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [[i, i % 3] for i in range(30)], header=["rank", "x"])
    np.testing.assert_array_equal(load(tmp_path, target="rank").y, np.arange(30))


def test_a_validation_channel_counts_its_own_rows(tmp_path: Path) -> None:
    write_csv(tmp_path / "validation" / "v.csv", rows_with_first_column(np.arange(12)))
    with pytest.raises(UserError, match="Channel 'validation': the first column counts the rows"):
        load(tmp_path / "validation", channel="validation")


# --- a constant label, text in a regression label -----------------------------------------------


@pytest.mark.parametrize(("labels", "problem_type"), [
    (np.full(30, 5.0), None), (np.full(30, 2.5), None), (np.full(30, 2.5), "regression"),
    (np.array(["yes"] * 30, dtype=object), None), (np.full(30, 1.0), "binary"),
])
def test_a_constant_label_is_refused_naming_the_label_first_convention(labels, problem_type) -> None:
    with pytest.raises(UserError, match=re.escape(
        "The label holds one value in all 30 rows: there is nothing to learn.")) as caught:
        resolve_task(labels, problem_type, None)
    assert LABEL_FIRST in str(caught.value) and "hyperparameter 'target'" in str(caught.value)


def test_text_in_a_regression_label_names_the_label_first_convention(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1.5,2,3\n2.5,4,5\nabc,6,7\n")
    with pytest.raises(UserError, match=re.escape(
        "train.csv, line 3: column 'label' holds 'abc', which is not a number. "
        "A regression label must be a number.")) as caught:
        load(tmp_path, numeric_label=True)
    assert LABEL_FIRST in str(caught.value)


def test_a_header_row_read_as_a_regression_label_gets_both_hints(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "price,a,b\n2.5,4,5\n")
    with pytest.raises(UserError, match="It looks like a header row") as caught:
        load(tmp_path, numeric_label=True)
    assert LABEL_FIRST in str(caught.value)


# --- the label's summary in the log -------------------------------------------------------------


def test_the_label_is_summarised_in_one_log_line_of_counts_and_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "train.csv", [[3, 1.0], [7.5, 2.0], [3, 4.0], [-2, 0.0]])
    with caplog.at_level(logging.INFO, logger="ensemble_byoc"):
        load(tmp_path)
    lines = [r.getMessage() for r in caplog.records if "the label has" in r.getMessage()]
    assert lines == ["Channel 'train': the label has 3 distinct values in 4 rows, numbers from -2 to 7.5."]


def test_a_text_label_summary_never_shows_the_text_nor_looks_like_a_metric(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "train.csv", [["secret-a", 1.0], ["secret-b", 2.0], ["secret-a", 3.0]])
    with caplog.at_level(logging.INFO, logger="ensemble_byoc"):
        load(tmp_path)
    lines = [r.getMessage() for r in caplog.records if "the label has" in r.getMessage()]
    assert lines == ["Channel 'train': the label has 2 distinct values in 3 rows, text."]
    assert "secret" not in caplog.text
    assert not re.search(r"[\w-]+:\s*-?[0-9.]+;", caplog.text)


# --- messages quote a few characters of a cell at most ----------------------------------------


def test_a_long_bad_cell_is_cut_to_twenty_characters_in_the_message(tmp_path: Path) -> None:
    secret = "4111-1111-1111-1111 card of Jane Doe"
    write_csv(tmp_path / "train.csv", [[1, 2], [3, 4], [5, secret]])
    with pytest.raises(UserError, match=re.escape(
        "train.csv, line 3: column 'f0' holds '4111-1111-1111-1111 ...', which is not a number.")) as caught:
        load(tmp_path)
    assert "Jane" not in str(caught.value)


def test_a_long_text_label_in_a_regression_task_is_cut_in_the_message() -> None:
    labels = np.array([1.0, "a very long label that names a person", 2.0], dtype=object)
    with pytest.raises(UserError, match=re.escape("row 2 holds 'a very long label th...'")) as caught:
        resolve_task(labels, "regression", None)
    assert "person" not in str(caught.value)


def test_column_names_read_from_data_are_cut_in_the_message(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [["a long first cell holding data", 2], [1, 2]])
    with pytest.raises(UserError, match=re.escape("its columns are [a long first cell ho..., 2].")) as caught:
        load(tmp_path, target="price")
    assert "holding data" not in str(caught.value)


# --- missing values -----------------------------------------------------------------------------


@pytest.mark.parametrize("token", sorted(MISSING_TOKENS))
def test_every_missing_value_token_is_missing_in_a_numeric_and_a_categorical_feature(
    tmp_path: Path, token: str
) -> None:
    write_csv(tmp_path / "train.csv", [[1.5, 1.0, "red"], [2.5, token, "blue"], [3.5, 3.0, token],
                                        [4.5, 4.0, "red"]])
    data = load(tmp_path)
    assert data.categories == {"f1": ("blue", "red")}
    assert np.isnan(data.X[1, 0]) and np.isnan(data.X[2, 1])
    assert np.isfinite(np.delete(data.X.ravel(), [2, 5])).all()


@pytest.mark.parametrize("numeric_label", [True, False])
@pytest.mark.parametrize("token", sorted(MISSING_TOKENS))
def test_a_label_given_as_a_missing_value_token_is_refused_as_missing(
    tmp_path: Path, token: str, numeric_label: bool
) -> None:
    write_csv(tmp_path / "train.csv", [[1.5, 1.0], [token, 2.0], [3.5, 3.0]])
    with pytest.raises(UserError, match=re.escape("train.csv, line 2: the label 'label' is missing.")):
        load(tmp_path, numeric_label=numeric_label)


def test_a_long_column_name_from_a_header_is_cut_in_a_bad_cell_message(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "y,first data row read as a header by mistake\n1,2\n3,x\n")
    with pytest.raises(UserError, match=re.escape(
            "train.csv, line 3: column 'first data row read ...' holds 'x', which is not a number.")):
        load(tmp_path, target="y")
