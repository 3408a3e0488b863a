"""A CSV file's rows must all be as wide as the file; a file written with another separator says so."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from ensemble_byoc.errors import UserError
from ensemble_byoc.training import data_files
from ensemble_byoc.training.data import load_channel


def load(directory: Path, *, target: str | None = None):
    return load_channel(directory, channel="train", file_format=None, target=target)


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- short rows ---------------------------------------------------------------------------------


def test_a_short_row_fails_naming_the_file_the_line_and_both_widths(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3,4,5\n6,7,8,9,10\n1,2,3\n4,5,6,7,8\n")
    with pytest.raises(UserError, match=re.escape(
        "train.csv is not readable CSV: line 3 has 3 fields, but the file has 5 columns. "
        "Write every field, an empty one (as in 1,2,,4) for a missing value."
    )):
        load(tmp_path)


def test_a_row_holding_only_a_label_is_short(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3\n4\n")
    with pytest.raises(UserError, match="line 2 has 1 fields, but the file has 3 columns"):
        load(tmp_path)


def test_a_short_row_in_a_csv_with_header_counts_the_header_line(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "y,a,b\n1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(UserError, match="train.csv is not readable CSV: line 4 has 2 fields"):
        load(tmp_path, target="y")


def test_a_short_row_in_a_gzip_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "part-0").write_bytes(gzip.compress(b"1,2,3\n4,5,6\n7,8\n"))
    with pytest.raises(UserError, match="part-0 is not readable CSV: line 3 has 2 fields"):
        load(tmp_path)


def test_a_short_last_line_without_a_line_end_is_found(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,3\n4,5,6\n7,8")
    with pytest.raises(UserError, match="line 3 has 2 fields"):
        load(tmp_path)


def test_explicit_empty_fields_are_missing_values_not_short_rows(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2,,4,5\n1,2,3,,\n4,5,6,7,8\n\n")
    data = load(tmp_path)
    assert data.X.shape == (3, 4)
    np.testing.assert_array_equal(np.isnan(data.X), [[False, True, False, False],
                                                     [False, False, True, True],
                                                     [False, False, False, False]])


def test_commas_and_line_ends_inside_quoted_fields_are_not_field_separators(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", '1,"a,b",\n2,"c\nd",4\n3,"say ""x,y""",5\n')
    data = load(tmp_path)
    assert data.n_rows == 3
    assert np.isnan(data.X[0, 1])


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 7, 11])
def test_rows_are_counted_alike_whatever_the_read_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(data_files, "_CHUNK_BYTES", chunk_bytes)
    write_text(tmp_path / "ok" / "train.csv", '1,"a,\nb",\n2,"c",4\n3,,\n')
    assert load(tmp_path / "ok").n_rows == 3
    write_text(tmp_path / "short" / "train.csv", '1,"a,\nb",\n2,"c",4\n3,"d,e"\n')
    with pytest.raises(UserError, match="line 3 has 2 fields, but the file has 3 columns"):
        load(tmp_path / "short")


def test_a_long_row_is_still_refused_by_the_parser(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1,2\n3,4,5\n")
    with pytest.raises(UserError, match=r"^train\.csv is not readable CSV: .*line 2"):
        load(tmp_path)


def test_a_file_read_in_many_parser_chunks_is_one_frame_whose_rows_keep_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_files, "_CHUNK_CELLS", 3)  # at least 1,024 rows per chunk
    rows = [f"{i % 5},{i / 4}" for i in range(5000)]
    rows[3000] = ""  # a blank line in the third chunk is dropped, the rows after it keep their lines
    part = data_files.read_file(write_text(tmp_path / "a.csv", "\n".join(rows) + "\n"), is_parquet=False,
                                header=False)
    assert part.frame.shape == (4999, 2)
    assert part.line_numbers[2999:3001].tolist() == [3000, 3002]
    np.testing.assert_array_equal(part.frame["f0"].to_numpy()[-2:], [4998 / 4, 4999 / 4])
    rows[4500] = "1,2,3"
    write_text(tmp_path / "long" / "train.csv", "\n".join(rows) + "\n")
    with pytest.raises(UserError, match=r"line 4501, saw 3"):
        load(tmp_path / "long")


# --- other separators ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seen"), [
    ("1;2;3\n4;5;6\n", "';'"), ("1\t2\t3\n4\t5\t6\n", "tabs"), ("1|2|3\n4|5|6\n", "'|'"),
])
def test_a_file_with_another_separator_names_it(tmp_path: Path, text: str, seen: str) -> None:
    write_text(tmp_path / "train.csv", text)
    with pytest.raises(UserError, match=re.escape(
        "Channel 'train' has 1 column; need a label and at least one feature. "
        f"The first line of train.csv holds {seen} but no ','; write comma-separated values."
    )):
        load(tmp_path)


def test_a_semicolon_file_with_a_header_names_the_separator_before_the_target(tmp_path: Path) -> None:
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(b"y;a\n1;2\n"))
    with pytest.raises(UserError, match="holds ';' but no ','"):
        load(tmp_path, target="y")


def test_a_single_column_without_another_separator_only_asks_for_a_feature(tmp_path: Path) -> None:
    write_text(tmp_path / "train.csv", "1\n2\n")
    with pytest.raises(UserError, match=r"need a label and at least one feature\.$"):
        load(tmp_path)
