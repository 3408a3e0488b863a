"""Reading training channels the way SageMaker delivers them under /opt/ml/input/data/<channel>."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_CONFIGS, make_regression, write_csv

from ensemble_byoc.contract.paths import read_json_config
from ensemble_byoc.errors import PlatformError, UserError
from ensemble_byoc.training.data import (
    CSV,
    PARQUET,
    Dataset,
    channel_format,
    concat_datasets,
    list_data_files,
    load_channel,
    merged_categories,
    recode_categories,
)


def load(directory: Path, *, target: str | None = None, file_format: str | None = None):
    return load_channel(directory, channel="train", file_format=file_format, target=target)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- CSV layouts --------------------------------------------------------------------------------


def test_headerless_csv_takes_the_label_from_the_first_column(tmp_path: Path) -> None:
    X, y = make_regression(n_rows=20, n_features=4)
    write_csv(tmp_path / "train.csv", [[label, *row] for row, label in zip(X, y, strict=True)])
    data = load(tmp_path)
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_array_equal(data.X, X)
    assert data.feature_names == ("f0", "f1", "f2", "f3")
    assert data.n_rows == 20
    assert data.X.dtype == np.float64
    assert data.y.dtype == np.float64


def test_csv_with_header_takes_the_label_from_the_column_named_by_target(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [[1, 10, 100], [2, 20, 200]], header=["a", "price", "b"])
    data = load(tmp_path, target="price")
    np.testing.assert_array_equal(data.y, [10.0, 20.0])
    np.testing.assert_array_equal(data.X, [[1.0, 100.0], [2.0, 200.0]])
    assert data.feature_names == ("a", "b")
    assert data.target_name == "price"


def test_files_in_nested_folders_are_concatenated_in_sorted_path_order(tmp_path: Path) -> None:
    write_csv(tmp_path / "c.csv", [[4, 0]])
    write_csv(tmp_path / "b" / "part-1.csv", [[3, 0]])
    write_csv(tmp_path / "a" / "sub" / "part-0.csv", [[2, 0]])
    write_csv(tmp_path / "a" / "part-2.csv", [[1, 0], [1.5, 0]])
    data = load(tmp_path)
    np.testing.assert_array_equal(data.y, [1.0, 1.5, 2.0, 3.0, 4.0])


def test_list_data_files_skips_dot_files_success_markers_and_temporary_folders(tmp_path: Path) -> None:
    keep = [
        write_text(tmp_path / "part-0.csv", "1,2\n"),
        write_text(tmp_path / "nested" / "deeper" / "part-1.csv", "1,2\n"),
    ]
    write_text(tmp_path / ".hidden.csv", "x\n")
    write_text(tmp_path / ".cache" / "part-9.csv", "x\n")
    write_text(tmp_path / "_SUCCESS", "")
    write_text(tmp_path / "nested" / "_SUCCESS", "")
    write_text(tmp_path / "_temporary" / "0" / "part-3.csv", "x\n")
    write_text(tmp_path / "nested" / "_temporary" / "attempt" / "part-4.csv", "x\n")
    (tmp_path / "empty-dir").mkdir()
    assert list_data_files(tmp_path) == sorted(keep)


def test_skipped_files_are_not_read_into_the_channel(tmp_path: Path) -> None:
    write_csv(tmp_path / "part-0.csv", [[1, 2], [3, 4]])
    write_text(tmp_path / "_SUCCESS", "")
    write_text(tmp_path / ".part-0.csv.crc", "garbage,that,is,not,csv\n")
    write_text(tmp_path / "_temporary" / "part-0.csv", "not,a,number\n")
    np.testing.assert_array_equal(load(tmp_path).y, [1.0, 3.0])


def test_gzip_compressed_csv_is_read(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "train.csv.gz", "wt") as handle:
        handle.write("1.5,2,3\n2.5,4,5\n")
    data = load(tmp_path, file_format=CSV)
    np.testing.assert_array_equal(data.y, [1.5, 2.5])
    np.testing.assert_array_equal(data.X, [[2.0, 3.0], [4.0, 5.0]])


def test_gzip_compressed_csv_without_a_gz_suffix_is_read(tmp_path: Path) -> None:
    (tmp_path / "part-00000").write_bytes(gzip.compress(b"y,a\n7,8\n"))
    data = load(tmp_path, target="y")
    np.testing.assert_array_equal(data.y, [7.0])


def test_empty_feature_fields_become_nan(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3\n4,,6\n7,8,\n")
    data = load(tmp_path)
    assert np.isnan(data.X[1, 0])
    assert np.isnan(data.X[2, 1])
    assert data.X[0].tolist() == [2.0, 3.0]
    np.testing.assert_array_equal(data.y, [1.0, 4.0, 7.0])


# --- Parquet ------------------------------------------------------------------------------------


def test_parquet_is_read_by_file_suffix_without_a_content_type(tmp_path: Path) -> None:
    pd.DataFrame({"y": [1.0, 2.0], "a": [3.0, 4.0], "b": [5, 6]}).to_parquet(tmp_path / "part-0.parquet")
    data = load(tmp_path, file_format=channel_format({"train": {"TrainingInputMode": "File"}}, "train"))
    np.testing.assert_array_equal(data.y, [1.0, 2.0])
    np.testing.assert_array_equal(data.X, [[3.0, 5.0], [4.0, 6.0]])
    assert data.feature_names == ("a", "b")
    assert data.target_name == "y"


def test_parquet_is_read_by_content_type_whatever_the_file_name(tmp_path: Path) -> None:
    pd.DataFrame({"a": [3.0, 4.0], "price": [1.0, 2.0]}).to_parquet(tmp_path / "part-00000")
    file_format = channel_format({"train": {"ContentType": "application/x-parquet"}}, "train")
    data = load(tmp_path, file_format=file_format, target="price")
    np.testing.assert_array_equal(data.y, [1.0, 2.0])
    assert data.feature_names == ("a",)


# --- content types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/csv", CSV),
        ("text/csv; charset=utf-8", CSV),
        ("text/csv; label_size=1", CSV),
        ("Text/CSV", CSV),
        ("csv", CSV),
        ("application/x-parquet", PARQUET),
        ("application/parquet", PARQUET),
        ("application/vnd.apache.parquet", PARQUET),
    ],
)
def test_channel_format_accepts_content_types_with_parameters(content_type: str, expected: str) -> None:
    assert channel_format({"train": {"ContentType": content_type}}, "train") == expected


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"train": {"TrainingInputMode": "File"}},
        {"train": {"ContentType": ""}},
        {"train": {"ContentType": None}},
    ],
)
def test_channel_without_a_content_type_declares_no_format(config: dict) -> None:
    assert channel_format(config, "train") is None


@pytest.mark.parametrize(
    "content_type", ["application/x-recordio-protobuf", "application/json", "text/libsvm"]
)
def test_unsupported_content_type_fails_listing_the_accepted_types(content_type: str) -> None:
    expected = (
        f"Channel 'train': ContentType '{content_type}' is not supported; accepted: "
        "application/parquet, application/vnd.apache.parquet, application/x-parquet, text/csv."
    )
    with pytest.raises(UserError, match=re.escape(expected)):
        channel_format({"train": {"ContentType": content_type}}, "train")


@pytest.mark.parametrize("name", ["sdk2-local-inputdataconfig.json", "service-inputdataconfig.json"])
def test_real_inputdataconfig_declares_csv_for_train_and_nothing_for_validation(name: str) -> None:
    path = SHARED_CONFIGS / name
    if not path.is_file():
        pytest.skip(f"shared SageMaker example {path} is not available")
    config = read_json_config(path, default={})
    assert channel_format(config, "train") == CSV
    assert channel_format(config, "validation") is None


# --- channel-level errors -----------------------------------------------------------------------


def test_missing_channel_directory_fails_naming_the_channel(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Channel 'validation' is missing"):
        load_channel(tmp_path / "validation", channel="validation", file_format=None, target=None)


def test_channel_with_only_marker_files_is_empty(tmp_path: Path) -> None:
    write_text(tmp_path / "_SUCCESS", "")
    write_text(tmp_path / ".keep", "")
    with pytest.raises(UserError, match="Channel 'train' is empty"):
        load(tmp_path)


def test_channel_with_only_an_empty_folder_is_empty(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(UserError, match="Channel 'train' is empty"):
        load(tmp_path)


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "y,a\n")
    with pytest.raises(UserError, match="Channel 'train' has no rows"):
        load(tmp_path, target="y")


def test_single_column_csv_fails_asking_for_a_feature(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1\n2\n")
    with pytest.raises(UserError, match="need a label and at least one feature"):
        load(tmp_path)


def test_target_naming_no_column_lists_the_columns(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [[1, 2, 3]], header=["a", "b", "c"])
    with pytest.raises(UserError, match=re.escape(
        "Hyperparameter 'target' == 'price' names no column of channel 'train'; its columns are [a, b, c]."
    )):
        load(tmp_path, target="price")


def test_files_with_different_column_counts_fail_naming_both_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, 2, 3]])
    write_csv(tmp_path / "b.csv", [[1, 2]])
    with pytest.raises(UserError, match=re.escape(
        "Channel 'train': b.csv has 2 columns [label, f0], but a.csv has 3 [label, f0, f1]."
    )):
        load(tmp_path)


def test_files_with_different_column_names_fail(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, 2]], header=["y", "x1"])
    write_csv(tmp_path / "b.csv", [[1, 2]], header=["y", "x2"])
    with pytest.raises(UserError, match=re.escape("b.csv has 2 columns [y, x2], but a.csv has 2 [y, x1]")):
        load(tmp_path, target="y")


# --- cell-level errors --------------------------------------------------------------------------


def test_non_numeric_cell_fails_naming_file_line_and_column(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3\n4,5,6\n7,abc,9\n")
    with pytest.raises(UserError, match=re.escape(
        "train.csv, line 3: column 'f0' holds 'abc', which is not a number."
    )) as caught:
        load(tmp_path)
    assert "header" not in str(caught.value)


def test_non_numeric_cell_in_a_csv_with_header_counts_the_header_line(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "a,y,b\n1,2,3\n4,5,x\n")
    expected = "train.csv, line 3: column 'b' holds 'x', which is not a number."
    with pytest.raises(UserError, match=re.escape(expected)):
        load(tmp_path, target="y")


def test_non_numeric_cell_names_the_file_it_is_in(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [[1, 2], [3, 4]])
    write_csv(tmp_path / "b.csv", [[5, 6], [7, "oops"]])
    with pytest.raises(UserError, match=re.escape("b.csv, line 2: column 'f0' holds 'oops'")):
        load(tmp_path)


def test_non_numeric_cell_after_a_blank_line_names_its_real_line(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3\n\n4,x,6\n")
    with pytest.raises(UserError, match=re.escape("train.csv, line 3: column 'f0' holds 'x'")):
        load(tmp_path)


def test_header_row_without_target_gets_a_hint_to_set_target(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [[1, 2, 3]], header=["price", "a", "b"])
    with pytest.raises(UserError, match=re.escape(
        "train.csv, line 1: column 'label' holds 'price', which is not a number. It looks like a header row: "
        "set the hyperparameter 'target' to the label column's name."
    )):
        load(tmp_path)


def test_non_numeric_parquet_column_does_not_claim_a_header_row(tmp_path: Path) -> None:
    pd.DataFrame({"y": [1.0, 2.0], "a": ["x", "3"]}).to_parquet(tmp_path / "part-0.parquet")
    with pytest.raises(UserError, match="column 'a' holds 'x', which is not a number") as caught:
        load(tmp_path)
    assert "header row" not in str(caught.value)


@pytest.mark.parametrize(("text", "shown"), [("1,2\ninf,3\n", "inf"), ("1,2\n3,4\n-inf,5\n", "-inf")])
def test_infinite_label_fails_naming_the_row(tmp_path: Path, text: str, shown: str) -> None:
    write_text(tmp_path / "train.csv", text)
    row = text.count("\n")
    with pytest.raises(UserError, match=re.escape(
        f"train.csv, line {row}: the label 'label' is {shown}; labels must be finite numbers."
    )):
        load(tmp_path)


@pytest.mark.parametrize("text", ["1,2\n,3\n", "1,2\nNaN,3\n"])
def test_missing_label_fails_naming_the_row(tmp_path: Path, text: str) -> None:
    write_text(tmp_path / "train.csv", text)
    with pytest.raises(UserError, match=re.escape("train.csv, line 2: the label 'label' is missing.")):
        load(tmp_path)


def test_missing_label_in_a_csv_with_header_names_the_target(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "a,price\n1,2\n3,\n")
    with pytest.raises(UserError, match=re.escape("train.csv, line 3: the label 'price' is missing.")):
        load(tmp_path, target="price")


def test_unreadable_parquet_fails_naming_the_file(tmp_path: Path) -> None:
    write_text(tmp_path / "broken.parquet", "this is not parquet")
    with pytest.raises(UserError, match=r"^broken\.parquet is not readable Parquet: "):
        load(tmp_path)


def test_ragged_csv_fails_naming_the_file(tmp_path: Path) -> None:
    write_text(tmp_path / "ragged.csv", "1,2\n3,4,5,6\n")
    with pytest.raises(UserError, match=r"^ragged\.csv is not readable CSV: "):
        load(tmp_path)


# --- JSON config files --------------------------------------------------------------------------


def test_read_json_config_returns_the_parsed_content(tmp_path: Path) -> None:
    path = write_text(tmp_path / "hyperparameters.json", json.dumps({"eta": "0.2"}))
    assert read_json_config(path, default={}) == {"eta": "0.2"}


def test_missing_json_config_returns_the_default(tmp_path: Path) -> None:
    default = {"train": {}}
    assert read_json_config(tmp_path / "inputdataconfig.json", default=default) is default


@pytest.mark.parametrize("text", ['{"eta": "0.2"', "", "not json"])
def test_malformed_json_config_is_a_platform_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write_text(tmp_path / "hyperparameters.json", text)
    with pytest.raises(PlatformError, match=r"^hyperparameters\.json is not readable JSON: "):
        read_json_config(path, default={})


# --- parts of the data read apart (channels, hosts' shards) --------------------------------------


def categorical_part(colours: list[str | None], size: list[float]) -> Dataset:
    levels = tuple(sorted({c for c in colours if c is not None}))
    codes = [float(levels.index(c)) if c is not None else np.nan for c in colours]
    return Dataset(X=np.column_stack([codes, size]), y=np.arange(len(size), dtype=np.float64),
                   feature_names=("colour", "size"), target_name="price", categories={"colour": levels})


def test_parts_read_apart_share_one_set_of_levels_and_keep_each_rows_category() -> None:
    first = categorical_part(["red", "blue", None], [1.0, 2.0, 3.0])
    second = categorical_part(["green", "red"], [4.0, 5.0])
    levels = merged_categories([first.categories, second.categories], first.feature_names)
    assert levels == {"colour": ("blue", "green", "red")}
    recoded = [recode_categories(part, levels) for part in (first, second)]
    decoded = [[levels["colour"][int(c)] if np.isfinite(c) else None for c in part.X[:, 0]]
               for part in recoded]
    assert decoded == [["red", "blue", None], ["green", "red"]]
    joined = concat_datasets(first, second)
    np.testing.assert_array_equal(joined.X, np.vstack([recoded[0].X, recoded[1].X]))


def test_a_part_where_a_text_column_is_empty_keeps_it_missing_under_the_shared_levels() -> None:
    text = categorical_part(["red", "blue"], [1.0, 2.0])
    empty = Dataset(X=np.array([[np.nan, 3.0]]), y=np.zeros(1), feature_names=("colour", "size"),
                    target_name="price")
    recoded = recode_categories(empty, merged_categories([text.categories, empty.categories],
                                                         text.feature_names))
    assert np.isnan(recoded.X[0, 0]) and recoded.categories == {"colour": ("blue", "red")}


def test_a_column_of_text_in_one_part_and_numbers_in_another_is_refused_naming_it() -> None:
    text = categorical_part(["red", "blue"], [1.0, 2.0])
    numbers = Dataset(X=np.array([[7.0, 3.0]]), y=np.zeros(1), feature_names=("colour", "size"),
                      target_name="price")
    with pytest.raises(UserError,
                       match="Feature 'colour' holds text in one part of the data and numbers in another"):
        concat_datasets(text, numbers)


def test_the_same_file_with_text_labels_gives_the_same_digest_every_time_it_is_read(tmp_path: Path) -> None:
    write_csv(tmp_path / "train.csv", [["yes", 1.0], ["no", 2.0], ["yes", 3.0]])
    first = load_channel(tmp_path, channel="train", file_format=None, target=None, numeric_label=False)
    again = load_channel(tmp_path, channel="train", file_format=None, target=None, numeric_label=False)
    assert first.y.dtype == object and first.digest() == again.digest()
    write_csv(tmp_path / "train.csv", [["yes", 1.0], ["no", 2.0], ["no", 3.0]])
    other = load_channel(tmp_path, channel="train", file_format=None, target=None, numeric_label=False)
    assert other.digest() != first.digest()


def test_the_data_digest_reads_the_arrays_in_place_and_is_the_digest_of_their_bytes() -> None:
    import hashlib
    import json
    import tracemalloc

    from ensemble_byoc.training.data import Dataset

    rng = np.random.default_rng(0)
    data = Dataset(X=rng.normal(size=(200_000, 10)), y=rng.normal(size=200_000),
                   feature_names=tuple(f"f{i}" for i in range(10)), target_name="label")
    expected = hashlib.sha256()  # the digest checkpoints written before were fingerprinted with
    expected.update(json.dumps(["label", *data.feature_names]).encode())
    expected.update(data.X.tobytes())
    expected.update(data.y.tobytes())

    tracemalloc.start()
    digest = data.digest()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert digest == expected.hexdigest()
    assert peak < data.X.nbytes / 10  # no copy of the 16 MB feature matrix
