"""Request and response bodies without a server: media types, decoding of every request format,
gzip, feature order, custom attributes and encoding of every response format."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ensemble_byoc.errors import NotAcceptableError, UnsupportedMediaTypeError, UserError
from ensemble_byoc.serving.codecs.inputs import DecodeOptions, InputBatch
from ensemble_byoc.serving.codecs.media_types import negotiate_accept, parse_media_type
from ensemble_byoc.serving.codecs.request_codecs import decoder_for
from ensemble_byoc.serving.codecs.response_codecs import Prediction
from ensemble_byoc.serving.codecs.text_decoders import decode_csv, decode_json
from ensemble_byoc.serving.handlers import feature_matrix, input_fn
from ensemble_byoc.serving.handlers import output_fn as _output_fn

CSV = "text/csv"
JSON = "application/json"
FEATURES = ("a", "b", "c")


def _no_constants(token: str) -> float:
    raise AssertionError(f"the JSON body holds the non-standard token {token}")


def _strict_json(body: bytes) -> object:
    return json.loads(body, parse_constant=_no_constants)


def output_fn(scores: np.ndarray, accept: str) -> tuple[bytes, str]:
    return _output_fn(Prediction(scores=scores), accept)


# -- media types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/csv", ("text/csv", {})),
        ("Text/CSV; Charset=UTF-8", ("text/csv", {"charset": "utf-8"})),
        ('application/json ; charset="utf-8"', ("application/json", {"charset": "utf-8"})),
        ("text/csv; header=absent; charset=utf-8", ("text/csv", {"header": "absent", "charset": "utf-8"})),
        ("application/json;", ("application/json", {})),
        ("", ("", {})),
        (None, ("", {})),
    ],
)
def test_parse_media_type_lowercases_the_type_and_its_parameters(
    header: str | None, expected: tuple[str, dict[str, str]]
) -> None:
    assert parse_media_type(header) == expected


@pytest.mark.parametrize(
    ("content_type", "decoder"),
    [
        ("text/csv", decode_csv),
        ("text/csv; charset=utf-8", decode_csv),
        ("TEXT/CSV; charset=UTF8", decode_csv),
        ("application/json", decode_json),
        ("application/json; charset=utf-8", decode_json),
        ("Application/JSON; Charset=UTF-8", decode_json),
    ],
)
def test_csv_and_json_content_types_are_decoded_with_any_case_and_parameters(
    content_type: str, decoder: object
) -> None:
    assert decoder_for(content_type) is decoder


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("application/x-protobuf", "'application/x-protobuf'"),
        ("text/plain; charset=utf-8", "'text/plain; charset=utf-8'"),
        ("application/x-recordio-protobuf", "'application/x-recordio-protobuf'"),
        (None, "missing"),
        ("", "missing"),
    ],
)
def test_an_unknown_or_missing_content_type_is_415_listing_the_accepted_types(
    content_type: str | None, shown: str
) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as info:
        decoder_for(content_type)
    assert info.value.status_code == 415
    message = str(info.value)
    assert f"Content-Type {shown} is not supported" in message
    assert "send one of text/csv, application/json, application/jsonlines, application/x-npy, " \
           "application/x-parquet" in message


@pytest.mark.parametrize("content_type",
                         ["text/csv; charset=latin-1", "application/json; charset=ISO-8859-1"])
def test_a_charset_other_than_utf8_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError,
                       match=r"charset '(latin-1|iso-8859-1)' is not supported; send UTF-8") as info:
        decoder_for(content_type)
    assert info.value.status_code == 415


@pytest.mark.parametrize(("default"), [CSV, JSON])
@pytest.mark.parametrize("accept", [None, "", "   ", "*/*", "*/*; q=0.8"])
def test_a_missing_empty_or_wildcard_accept_gives_the_default(accept: str | None, default: str) -> None:
    assert negotiate_accept(accept, default) == default


@pytest.mark.parametrize(
    ("accept", "default", "expected"),
    [
        ("application/json", CSV, JSON),
        ("text/csv", JSON, CSV),
        ("Application/JSON; charset=utf-8", CSV, JSON),
        ("text/*", CSV, CSV),
        ("text/*", JSON, CSV),
        ("application/*", CSV, JSON),
        ("application/*", JSON, JSON),
        ("image/png;q=1.0, application/json;q=0.9, text/csv;q=0.8", CSV, JSON),
        ("text/html, text/csv;q=0.5, */*;q=0.1", JSON, CSV),
        ("image/png, */*;q=0.1", JSON, JSON),
        ("application/jsonlines", CSV, "application/jsonlines"),
        ("text/csv;q=0.5, application/json", CSV, JSON),
        ("application/json;q=0, text/csv;q=0.1", JSON, CSV),
        ("text/csv;q=oops, application/json", CSV, JSON),
    ],
)
def test_accept_picks_the_supported_entry_of_highest_quality(
    accept: str, default: str, expected: str
) -> None:
    assert negotiate_accept(accept, default) == expected


@pytest.mark.parametrize("accept",
                         ["text/html", "image/*", "application/xml, text/plain;q=0.5", "text/csv;q=0"])
def test_an_accept_naming_no_supported_type_is_406(accept: str) -> None:
    with pytest.raises(NotAcceptableError, match=r"names no supported type; ask for one of text/csv, "
                                                 r"application/json, application/jsonlines") as info:
        negotiate_accept(accept, CSV)
    assert info.value.status_code == 406


# -- CSV --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"1,2,3\n4.5,-6,7e-3\n", b"1,2,3\n4.5,-6,7e-3", b"1,2,3\r\n4.5,-6,7e-3\r\n",
     b"1, 2 ,3\n\n4.5,-6,7e-3\n\n"],
    ids=["trailing-newline", "no-trailing-newline", "crlf", "blank-lines-and-spaces"],
)
def test_csv_rows_become_a_float_matrix(body: bytes) -> None:
    batch = decode_csv(body)
    assert batch.records is None
    assert batch.n_rows == 2
    assert batch.values is not None
    assert batch.values.dtype == np.float64
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0], [4.5, -6.0, 0.007]])


def test_an_empty_csv_field_is_a_missing_value() -> None:
    batch = decode_csv(b"1,,3\n,5,\n")
    assert batch.values is not None
    np.testing.assert_array_equal(np.isnan(batch.values), [[False, True, False], [True, False, True]])
    assert batch.values[0, 0] == 1.0
    assert batch.values[1, 1] == 5.0


def test_a_quoted_csv_number_is_a_number() -> None:
    batch = decode_csv(b'"1.5",2\n')
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.5, 2.0]])


def test_a_csv_cell_that_is_not_a_number_names_its_row_and_column() -> None:
    with pytest.raises(UserError, match=r"Row 2, column 3: 'abc' is not a number") as info:
        decode_csv(b"1,2,3\n4,5,abc\n")
    assert info.value.status_code == 400


def test_a_ragged_csv_row_is_named_with_both_widths() -> None:
    with pytest.raises(UserError, match=r"Row 3 has 2 values, but row 1 has 3"):
        decode_csv(b"1,2,3\n4,5,6\n7,8\n")


def test_csv_that_is_not_utf8_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"not UTF-8 text \(byte 2\)"):
        decode_csv(b"1,\xff,3\n")


def test_blank_csv_lines_hold_no_rows() -> None:
    assert decode_csv(b"\n\n1,2\n").n_rows == 1
    assert decode_csv(b" \n\n").n_rows == 0


@pytest.mark.parametrize(("body", "rows"), [(b"1,2\n\n3,4\n", [[1, 2], [3, 4]]),
                                           (b"1,2\n \t\r\n3,4", [[1, 2], [3, 4]]),
                                           (b"1\n\n3\n", [[1], [3]]), (b"1\n  \n3", [[1], [3]])])
def test_a_blank_line_between_rows_is_a_gap_not_a_row_of_missing_values(body: bytes, rows: list) -> None:
    batch = decode_csv(body, DecodeOptions(keep_blank_lines=True))
    np.testing.assert_array_equal(batch.values, rows)
    assert list(batch.gaps) == [1]


def test_csv_cells_with_spaces_or_missing_tokens_read_as_numbers_and_missing_values() -> None:
    plain = decode_csv(b"1.5,2,-3e2\n4,5,6\n").values
    spaced = decode_csv(b" 1.5 ,NA,-3e2\n4,\t5,\n").values
    np.testing.assert_array_equal(plain, [[1.5, 2, -300], [4, 5, 6]])
    np.testing.assert_array_equal(spaced, [[1.5, np.nan, -300], [4, 5, np.nan]])


@pytest.mark.parametrize("body", [b"[]", b'{"instances": []}'])
def test_a_json_body_with_an_empty_list_of_rows_is_refused_in_real_time(body: bytes) -> None:
    assert decode_json(body).n_rows == 0
    with pytest.raises(UserError, match=r"holds no rows; send one or more rows"):
        input_fn(body, JSON)


# -- JSON -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2.5, -3], [4, 5, 6e2]]}',
        b"[[1, 2.5, -3], [4, 5, 6e2]]",
        b'{"instances": [["1", " 2.5 ", -3], [4, 5, "6e2"]]}',
    ],
    ids=["instances-rows", "bare-rows", "numbers-as-strings"],
)
def test_json_rows_become_a_float_matrix(body: bytes) -> None:
    batch = decode_json(body)
    assert batch.records is None
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.5, -3.0], [4.0, 5.0, 600.0]])


def test_a_json_features_object_is_one_row() -> None:
    batch = decode_json(b'{"features": [1, 2, 3]}')
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    "body",
    [b'{"instances": [{"a": 1, "b": 2}, {"b": 4, "a": 3.5}]}', b'[{"a": 1, "b": 2}, {"b": 4, "a": 3.5}]'],
    ids=["instances-records", "bare-records"],
)
def test_json_records_are_kept_by_feature_name(body: bytes) -> None:
    batch = decode_json(body)
    assert batch.values is None
    assert batch.n_rows == 2
    assert batch.records == [{"a": 1.0, "b": 2.0}, {"b": 4.0, "a": 3.5}]


def test_json_null_is_a_missing_value_in_rows_and_records() -> None:
    rows = decode_json(b"[[1, null, 3]]")
    assert rows.values is not None
    assert math.isnan(rows.values[0, 1])
    records = decode_json(b'[{"a": null, "b": 2}]')
    assert records.records is not None
    assert math.isnan(records.records[0]["a"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[[1, 2], [3, true]]", r"Row 2, column 2: True is not a number"),
        (b"[[false, 2]]", r"Row 1, column 1: False is not a number"),
        (b'[[1, "abc"]]', r"Row 1, column 2: 'abc' is not a number"),
        (b"[[1, [2]]]", r"Row 1, column 2: \[2\] is not a number"),
        (b'[{"a": 1}, {"a": "x1"}]', r"Row 2, column a: 'x1' is not a number"),
        (b'[{"a": 1, "b": true}]', r"Row 1, column b: True is not a number"),
        (b'[{"a": {"v": 1}}]', r"Row 1, column a: \{'v': 1\} is not a number"),
    ],
)
def test_a_json_value_that_is_not_a_number_names_its_row_and_column(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message):
        decode_json(body)


def test_a_json_integer_too_large_for_a_float_is_a_user_error() -> None:
    # A client error (400), not an unhandled OverflowError (500).
    too_large = b"1" + b"0" * 400
    with pytest.raises(UserError, match=r"Row 1, column 2"):
        decode_json(b"[[1, " + too_large + b"]]")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [[1, 2]', r"not valid JSON"),
        (b"[[1, 2]] trailing", r"not valid JSON"),
        (b"\xff[[1]]", r"not UTF-8 text"),
        (b'{"instances": {"a": 1}}', r"holds no list of rows"),
        (b"42", r"holds no list of rows"),
        (b"[" * 100_000 + b"]" * 100_000, r"nested too deeply"),
        (b'{"rows": [[1, 2]]}', r'needs an "instances" list or a "features" list'),
        (b"{}", r'needs an "instances" list or a "features" list'),
        (b'[[1, 2], {"a": 1}]', r"not a mix"),
        (b"[1, 2, 3]", r"Row 1 is int; a row is a list of numbers or an object of named features"),
        (b"[[1, 2, 3], [4, 5]]", r"Row 2 has 2 values, but row 1 has 3"),
    ],
)
def test_a_json_body_of_the_wrong_shape_is_a_user_error_saying_why(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        decode_json(body)
    assert info.value.status_code == 400


# -- input_fn ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\r\n"])
@pytest.mark.parametrize("content_type", [CSV, JSON])
def test_an_empty_request_body_is_a_user_error_saying_it_is_empty(body: bytes, content_type: str) -> None:
    with pytest.raises(UserError, match=r"empty") as info:
        input_fn(body, content_type)
    assert info.value.status_code == 400


def test_input_fn_checks_the_content_type_before_the_body() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        input_fn(b"", "text/plain")


def test_input_fn_decodes_by_content_type() -> None:
    csv_batch = input_fn(b"1,2,3\n", "text/csv; charset=utf-8")
    json_batch = input_fn(b'{"instances": [[1, 2, 3]]}', "application/json")
    assert csv_batch.values is not None and json_batch.values is not None
    np.testing.assert_array_equal(csv_batch.values, json_batch.values)


# -- feature_matrix ---------------------------------------------------------------------------------------


def test_rows_of_the_right_width_are_used_as_they_are() -> None:
    values = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(feature_matrix(InputBatch(values=values), FEATURES), values)


def test_rows_of_the_wrong_width_name_expected_and_got() -> None:
    with pytest.raises(UserError, match=r"Expected 3 features per row, got 2\.$"):
        feature_matrix(InputBatch(values=np.zeros((1, 2))), FEATURES)


def test_rows_one_value_too_wide_hint_at_the_label() -> None:
    with pytest.raises(UserError,
                       match=r"Expected 3 features per row, got 4\. Rows must not include the label\."):
        feature_matrix(InputBatch(values=np.zeros((2, 4))), FEATURES)


def test_rows_two_values_too_wide_get_no_label_hint() -> None:
    with pytest.raises(UserError, match=r"got 5\.$"):
        feature_matrix(InputBatch(values=np.zeros((2, 5))), FEATURES)


def test_records_in_any_key_order_are_put_in_model_order() -> None:
    batch = InputBatch(records=[{"c": 3.0, "a": 1.0, "b": 2.0}, {"b": 5.0, "c": 6.0, "a": 4.0}])
    np.testing.assert_array_equal(feature_matrix(batch, FEATURES), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_a_record_missing_value_stays_missing_in_model_order() -> None:
    batch = InputBatch(records=[{"c": 3.0, "a": math.nan, "b": 2.0}])
    matrix = feature_matrix(batch, FEATURES)
    assert math.isnan(matrix[0, 0])
    np.testing.assert_array_equal(matrix[0, 1:], [2.0, 3.0])


def test_a_record_with_unknown_features_names_them_and_the_model_features() -> None:
    batch = InputBatch(records=[{"a": 1.0, "b": 2.0, "c": 3.0},
                                {"a": 1.0, "b": 2.0, "c": 3.0, "z": 0.0, "y": 0.0}])
    with pytest.raises(UserError, match=r"Record 2: unknown features \['y', 'z'\]; the model's features are "
                                        r"\['a', 'b', 'c'\]"):
        feature_matrix(batch, FEATURES)


def test_a_record_lacking_features_names_them() -> None:
    batch = InputBatch(records=[{"a": 1.0, "b": 2.0, "c": 3.0}, {"b": 2.0}])
    with pytest.raises(UserError, match=r"Record 2: missing features \['a', 'c'\]"):
        feature_matrix(batch, FEATURES)


def test_decoded_json_records_reach_the_model_in_its_feature_order() -> None:
    batch = input_fn(b'{"instances": [{"c": 30, "b": 20, "a": 10}]}', JSON)
    np.testing.assert_array_equal(feature_matrix(batch, FEATURES), [[10.0, 20.0, 30.0]])


# -- output_fn --------------------------------------------------------------------------------------------

PREDICTIONS = np.array([0.1, 1.0 / 3.0, -2.5e-300, 123456789.12345679, 1e300, -0.0, 7.0,
                        np.nextafter(1.0, 2.0)])


def test_csv_output_is_one_line_per_prediction_at_full_precision() -> None:
    body, content_type = output_fn(PREDICTIONS, CSV)
    assert content_type == CSV
    text = body.decode("utf-8")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == len(PREDICTIONS)
    for line, value in zip(lines, PREDICTIONS, strict=True):
        assert float(line) == value


def test_json_output_is_a_list_of_scores_at_full_precision() -> None:
    body, content_type = output_fn(PREDICTIONS, JSON)
    assert content_type == JSON
    document = _strict_json(body)
    assert isinstance(document, dict)
    assert list(document) == ["predictions"]
    assert [entry["score"] for entry in document["predictions"]] == PREDICTIONS.tolist()


@pytest.mark.parametrize("missing", [np.nan, np.inf, -np.inf])
def test_a_non_finite_prediction_is_null_in_json(missing: float) -> None:
    body, _ = output_fn(np.array([1.5, missing, 2.5]), JSON)
    assert _strict_json(body) == {"predictions": [{"score": 1.5}, {"score": None}, {"score": 2.5}]}


@pytest.mark.parametrize("missing", [np.nan, np.inf, -np.inf])
def test_a_non_finite_prediction_is_an_empty_field_in_csv(missing: float) -> None:
    body, _ = output_fn(np.array([1.5, missing, 2.5]), CSV)
    assert body == b"1.5\n\n2.5\n"


def test_float32_predictions_are_written_as_their_exact_value() -> None:
    values = np.array([0.1, 1.0 / 3.0], dtype=np.float32)
    csv_body, _ = output_fn(values, CSV)
    json_body, _ = output_fn(values, JSON)
    assert [float(line) for line in csv_body.decode().splitlines()] == [float(v) for v in values]
    document = _strict_json(json_body)
    assert isinstance(document, dict)
    assert [entry["score"] for entry in document["predictions"]] == [float(v) for v in values]


def test_no_predictions_give_an_empty_csv_body_and_an_empty_json_list() -> None:
    assert output_fn(np.array([]), CSV)[0] == b""
    assert _strict_json(output_fn(np.array([]), JSON)[0]) == {"predictions": []}


@pytest.mark.parametrize("accept", ["text/html", "*/*", "application/json; charset=utf-8"])
def test_output_fn_needs_an_already_negotiated_type_or_raises_406(accept: str) -> None:
    with pytest.raises(NotAcceptableError) as info:
        output_fn(np.array([1.0]), accept)
    assert info.value.status_code == 406
