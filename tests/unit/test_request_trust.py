"""Requests built to cost far more than their size, or to crash a decoder, and the hints a text-feature
model gives: every one is a 4xx naming the problem, decoded in memory a small multiple of the body."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ensemble_byoc.contract.missing_values import MISSING_TOKENS
from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.codecs.inputs import DecodeOptions
from ensemble_byoc.serving.handlers import feature_matrix, input_fn

CSV, JSON, JSON_LINES = "text/csv", "application/json", "application/jsonlines"
NUMERIC = DecodeOptions(feature_names=("a", "b", "c"))
TEXT = DecodeOptions(feature_names=("color", "x"),
                     categories={"color": {"blue": 0.0, "green": 1.0, "red": 2.0}})
TOKENS = sorted(token for token in MISSING_TOKENS if token)


def decoded(body: bytes, content_type: str, options: DecodeOptions) -> np.ndarray:
    return feature_matrix(input_fn(body, content_type, options), options.feature_names)


# -- missing values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_every_missing_value_token_of_training_is_missing_in_csv_json_and_json_lines(token: str) -> None:
    bodies = [(f"1,{token},3\n".encode(), CSV), (json.dumps([[1, token, 3]]).encode(), JSON),
              (json.dumps({"a": 1, "b": token, "c": 3}).encode() + b"\n", JSON_LINES),
              (json.dumps([1, f" {token} ", 3]).encode() + b"\n", JSON_LINES)]
    for body, content_type in bodies:
        values = decoded(body, content_type, NUMERIC)
        assert values[0, 0] == 1.0 and math.isnan(values[0, 1]) and values[0, 2] == 3.0, (body, values)


@pytest.mark.parametrize("token", ["NA", "null", "None", "n/a", ""])
def test_a_missing_value_token_in_a_categorical_cell_is_missing(token: str) -> None:
    for body, content_type in [(f"{token},0.5\nred,1\n".encode(), CSV),
                               (json.dumps([{"color": token, "x": 0.5}]).encode(), JSON)]:
        values = decoded(body, content_type, TEXT)
        assert math.isnan(values[0, 0]) and values[0, 1] == 0.5, (body, values)


# -- text-feature models get the same hints as numeric ones ---------------------------------------------


@pytest.mark.parametrize(("body", "content_type"), [
    (b"yes,red,0.5\n", CSV), (b'[["yes", "red", 0.5]]', JSON), (b'["yes", "red", 0.5]\n', JSON_LINES)])
def test_a_text_feature_row_with_the_label_gets_the_label_hint(body: bytes, content_type: str) -> None:
    with pytest.raises(UserError, match=r"Expected 2 features per row, got 3\. Rows must not include the"):
        input_fn(body, content_type, TEXT)


@pytest.mark.parametrize("options", [TEXT, DecodeOptions(feature_names=("color", "x"))],
                         ids=["text", "numeric"])
def test_a_misspelt_record_key_names_the_closest_feature(options: DecodeOptions) -> None:
    for body, content_type in [(b'{"colour": 1, "x": 0.5}\n', JSON_LINES),
                               (b'[{"colour": 1, "x": 0.5}]', JSON)]:
        with pytest.raises(UserError, match=r"Record 1: unknown features \['colour'\]; the model's features "
                                            r"are \['color', 'x'\]\. Did you mean 'color' for 'colour'\?"):
            decoded(body, content_type, options)


@pytest.mark.parametrize("header", [b"color,x", b"x,color", b"label,color,x", b" color , x "])
def test_a_csv_header_row_is_named_as_such(header: bytes) -> None:
    with pytest.raises(UserError,
                       match=r"^The first line looks like a header row; send rows without a header\.$"):
        input_fn(header + b"\nred,0.5\n", CSV, TEXT)


def test_a_first_row_holding_a_number_is_data_even_when_a_level_is_named_like_a_feature() -> None:
    options = DecodeOptions(feature_names=("color", "x"), categories={"color": {"x": 0.0, "red": 1.0}})
    np.testing.assert_array_equal(decoded(b"x,0.5\nred,1\n", CSV, options), [[0.0, 0.5], [1.0, 1.0]])


def test_a_numeric_models_header_row_is_named_too() -> None:
    with pytest.raises(UserError, match=r"looks like a header row"):
        input_fn(b"a,b,c\n1,2,3\n", CSV, NUMERIC)


# -- every bad request is a 4xx -------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type"), [
    (b"[[1, " + b"7" * 5000 + b", 3]]", JSON),
    (b"[1, " + b"7" * 5000 + b", 3]\n", JSON_LINES),
    (b'{"instances": [{"a": ' + b"7" * 5000 + b', "b": 1, "c": 2}]}', JSON),
])
def test_a_json_integer_of_thousands_of_digits_is_a_400(body: bytes, content_type: str) -> None:
    with pytest.raises(UserError, match=r"integer of 5000 digits, too large for a number") as info:
        input_fn(body, content_type, NUMERIC)
    assert info.value.status_code == 400


@pytest.mark.parametrize("line", [1, 2])
def test_a_quoted_csv_field_over_the_csv_modules_limit_is_a_400(line: int) -> None:
    big = b'"' + b"1" * 200_000 + b'",2,3\n'
    body = big if line == 1 else b"1,2,3\n" + big
    with pytest.raises(UserError, match=rf"Row {line} is not readable CSV: field larger than field limit"):
        input_fn(body, CSV, NUMERIC)


def test_the_first_csv_rows_width_is_checked_before_the_rest_is_read() -> None:
    body = b"0\n" + b"this is not csv at all \xff\xff\n" * 10
    with pytest.raises(UserError, match=r"not UTF-8"):
        input_fn(body, CSV, NUMERIC)  # the body is checked to be text first
    with pytest.raises(UserError, match=r"^Expected 3 features per row, got 1\.$"):
        input_fn(b"0\n" + b"x,y\n" * 10, CSV, NUMERIC)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"1,2,3\n" * 1000 + b"1,2\n", CSV, r"Row 1001 has 2 values, but row 1 has 3"),
    (b"1,2,3\n\n" * 10 + b"1,2,3,4\n", CSV, r"Row 21 has 4 values, but row 1 has 3"),
    (b"[" + b"[1, 2, 3], " * 1000 + b"[1, 2]]", JSON, r"Row 1001 has 2 values, but row 1 has 3"),
    (b"[1, 2, 3]\n" * 1000 + b"[1]\n", JSON_LINES, r"Row 1001 has 1 values, but row 1 has 3"),
])
def test_a_ragged_row_is_named_in_every_text_format(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        input_fn(body, content_type, NUMERIC)


# -- the fast path reads what the cell-by-cell path reads -------------------------------------------------


def test_rows_of_numbers_read_exactly_in_every_text_format() -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(scale=10.0 ** rng.integers(-300, 300, size=(200, 3)), size=(200, 3))
    rows[5, 1] = np.nan
    as_text = [[None if math.isnan(v) else v for v in row] for row in rows.tolist()]
    csv = "".join(",".join("" if v is None else repr(v) for v in row) + "\r\n" for row in as_text).encode()
    bodies = [(csv, CSV), (json.dumps(as_text).encode(), JSON),
              (json.dumps({"instances": as_text}, indent=1).encode(), JSON),
              ("".join(json.dumps(row) + "\n" for row in as_text).encode(), JSON_LINES)]
    for body, content_type in bodies:
        np.testing.assert_array_equal(decoded(body, content_type, NUMERIC), rows, err_msg=content_type)


@pytest.mark.parametrize("body", [
    b"[[1, 2, 3],, [4, 5, 6]]", b"[[1, 2, 3], [4,, 6]]", b"[[1, 2, 3], [4, 5, 6],]",
    b"[[1, 2, 3], [4, 5, 6]] x", b"[[1, 2, 3], [[4], 5, 6]]", b"[[+1, 2, 3]]", b"[[.5, 2, 3]]",
    b"[[01, 2, 3]]", b"[[1-2, 2, 3]]"])
def test_json_the_fast_path_cannot_read_is_still_refused_as_invalid(body: bytes) -> None:
    with pytest.raises(UserError, match=r"not valid JSON|is not a number"):
        input_fn(body, JSON, NUMERIC)


# -- memory -----------------------------------------------------------------------------------------------

_PROBE = textwrap.dedent("""
    import resource, sys
    from ensemble_byoc.serving.handlers import input_fn
    from ensemble_byoc.serving.codecs.inputs import DecodeOptions
    kind, width = sys.argv[1], int(sys.argv[2])
    limit, names = 6 << 20, tuple(f"f{i}" for i in range(width))
    row = ",".join(["0"] * width)
    if kind == "csv":
        body, content_type = (row + "\\n").encode() * (limit // (len(row) + 1)), "text/csv"
    elif kind == "jsonl":
        body = ("[" + row + "]\\n").encode() * (limit // (len(row) + 3))
        content_type = "application/jsonlines"
    elif kind == "json":
        body, content_type = ("[" + ("[" + row + "],") * (limit // (len(row) + 3)))[:-1].encode() + b"]", \\
            "application/json"
    else:
        record = "{" + ",".join(f'"{n}": 0' for n in names) + "},"
        body, content_type = ("[" + record * (limit // len(record)))[:-1].encode() + b"]", "application/json"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch = input_fn(body, content_type, DecodeOptions(feature_names=names))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(batch.n_rows, grown // 1024)
""")


@pytest.mark.parametrize(("kind", "width"),
                         [("csv", 1), ("csv", 5), ("json", 1), ("jsonl", 1), ("records", 5)])
def test_a_6_mib_body_of_the_smallest_rows_decodes_in_a_small_multiple_of_its_size(
    kind: str, width: int
) -> None:
    # Before: +980 MiB for CSV, +490 MiB for JSON Lines, +280 MiB for JSON rows (peak RSS of the decoder).
    out = subprocess.run([sys.executable, "-c", _PROBE, kind, str(width)], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    rows, grown_mib = int(out[0]), int(out[1])
    assert rows > 100_000
    assert grown_mib < 160, f"{kind}: {rows} rows grew the peak RSS by {grown_mib} MiB"


def test_an_npy_header_with_more_dimensions_than_numpy_allows_is_a_400() -> None:
    from ensemble_byoc.serving.codecs.binary_decoders import decode_npy

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1, " * 70 + "), }"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    body = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 8

    with pytest.raises(UserError, match=r"must hold a 1-D row or a 2-D matrix"):
        decode_npy(body)


def test_a_record_of_many_unknown_names_names_a_few_and_counts_the_rest() -> None:
    from ensemble_byoc.serving.codecs.inputs import check_names

    unknown = [f"k{i}" for i in range(50_000)]

    with pytest.raises(UserError) as raised:
        check_names(unknown, ("f0", "f1"), "Record 1")

    message = str(raised.value)
    assert "and 49995 more" in message
    assert len(message) < 500
