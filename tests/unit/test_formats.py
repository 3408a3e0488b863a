"""The request and response formats beyond plain CSV and JSON, without a server: JSON Lines, .npy, Parquet,
gzip, batch-transform lines, the custom-attributes header and per-library answer columns."""

from __future__ import annotations

import gzip
import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ensemble_byoc.errors import PayloadTooLargeError, UnsupportedMediaTypeError, UserError
from ensemble_byoc.serving.codecs.binary_decoders import decode_npy, decode_parquet
from ensemble_byoc.serving.codecs.inputs import MIB, DecodeOptions, InputBatch
from ensemble_byoc.serving.codecs.request_codecs import check_content_encoding, inflate
from ensemble_byoc.serving.codecs.response_codecs import Prediction
from ensemble_byoc.serving.codecs.text_decoders import decode_csv, decode_json, decode_jsonlines
from ensemble_byoc.serving.custom_attributes import Requested, read_header
from ensemble_byoc.serving.handlers import feature_matrix, input_fn, output_fn

FEATURES = ("a", "b", "c")
BATCH = DecodeOptions(keep_blank_lines=True)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def parquet(table: pa.Table, **options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


# -- JSON Lines ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]\n[4, 5, 6]\n", b'{"features": [1, 2, 3]}\n{"features": [4, 5, 6]}',
     b"[1, 2, 3]\r\n\r\n[4, 5, 6]"],
    ids=["lists", "features-objects-no-trailing-newline", "crlf-and-blank-line"],
)
def test_json_lines_rows_become_a_float_matrix(body: bytes) -> None:
    batch = decode_jsonlines(body)
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_json_lines_records_are_kept_by_name() -> None:
    batch = decode_jsonlines(b'{"c": 3, "a": 1, "b": null}\n{"a": 4, "b": 5, "c": 6}\n')
    matrix = feature_matrix(batch, FEATURES)
    np.testing.assert_array_equal(matrix[1], [4.0, 5.0, 6.0])
    assert matrix[0, 0] == 1.0 and math.isnan(matrix[0, 1]) and matrix[0, 2] == 3.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]\n[3, oops]\n", r"Line 2 is not valid JSON"),
        (b"[1, 2]\n\n[3, true]\n", r"Row 3, column 2: True is not a number"),
        (b'[1, 2]\n{"a": 1}\n', r"not a mix"),
        (b"[1, 2]\n7\n", r"Row 2 is int"),
    ],
)
def test_a_bad_json_lines_body_names_the_line(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message):
        decode_jsonlines(body)


def test_a_json_body_of_several_documents_one_per_line_is_read_as_json_lines() -> None:
    batch = decode_json(b'{"features": [1, 2, 3]}\n{"features": [4, 5, 6]}\n')
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_sagemaker_instances_of_features_objects_are_rows() -> None:
    batch = decode_json(b'{"instances": [{"features": [1, 2, 3]}, {"features": [4, 5, 6]}]}')
    assert batch.values is not None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


# -- batch transform lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(("decode", "body"), [
    (decode_csv, b"1,2,3\n\n4,5,6\n \n"),
    (decode_jsonlines, b"[1, 2, 3]\n\n[4, 5, 6]\n \n"),
])
def test_in_batch_transform_a_blank_line_is_a_gap_answered_by_an_empty_line(
    decode: object, body: bytes
) -> None:
    batch = decode(body, BATCH)  # type: ignore[operator]
    assert batch.n_rows == 2
    assert tuple(batch.gaps) == (1, 3)
    values = np.array([10.0, 20.0])
    from ensemble_byoc.serving import handlers

    prediction = Prediction(scores=handlers._with_gaps(values, batch.gaps))
    assert output_fn(prediction, "text/csv", batch=True)[0] == b"10.0\n\n20.0\n\n"


def test_in_batch_transform_an_empty_body_is_an_empty_answer_not_an_error() -> None:
    batch = input_fn(b"", "text/csv", BATCH)
    assert batch.n_rows == 0 and tuple(batch.gaps) == ()
    with pytest.raises(UserError, match=r"empty"):
        input_fn(b"", "text/csv")


# -- .npy ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int64, np.uint8, ">f8"])
def test_a_numeric_npy_matrix_becomes_float_rows(dtype: object) -> None:
    array = np.array([[1, 2, 3], [4, 5, 6]], dtype=dtype)  # type: ignore[call-overload]
    batch = decode_npy(npy(array))
    assert batch.values is not None and batch.columns is None
    np.testing.assert_array_equal(batch.values, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_a_fortran_ordered_npy_matrix_keeps_its_rows() -> None:
    array = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    batch = decode_npy(npy(array))
    np.testing.assert_array_equal(batch.values, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])  # type: ignore[arg-type]


def test_a_one_dimensional_npy_array_is_one_row_and_nan_is_missing() -> None:
    batch = decode_npy(npy(np.array([1.0, np.nan, 3.0])))
    assert batch.values is not None and batch.values.shape == (1, 3)
    assert math.isnan(batch.values[0, 1])


def test_a_structured_npy_array_is_matched_to_features_by_name() -> None:
    array = np.array([(3.0, 1, 2.0), (6.0, 4, 5.0)], dtype=[("c", "f8"), ("a", "i4"), ("b", "f4")])
    batch = decode_npy(npy(array))
    assert batch.columns == ("c", "a", "b")
    np.testing.assert_array_equal(feature_matrix(batch, FEATURES), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (npy(np.array([[1, "x"]], dtype=object)), r"holds Python objects; send numbers"),
        (npy(np.array([["1", "2"]])), r"<U1 values, which are not numbers"),
        (npy(np.array([[True, False]])), r"bool values, which are not numbers"),
        (npy(np.array([[1 + 2j]])), r"complex128 values"),
        (npy(np.zeros((2, 2, 2))), r"must hold a 1-D row or a 2-D matrix; got shape \(2, 2, 2\)"),
        (npy(np.float64(3.0)), r"got shape \(\)"),
        (npy(np.zeros((2, 3)))[:-8],
         r"announces shape \(2, 3\) of <f8 \(48 bytes\), but the body holds 40 bytes"),
        (b"1,2,3\n", r"not a readable .npy array"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'", r"not a readable .npy array"),
    ],
    ids=["object", "strings", "booleans", "complex", "3-d", "0-d", "truncated", "not-npy", "bad-header"],
)
def test_an_npy_body_that_is_not_numbers_in_rows_is_a_user_error(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        decode_npy(body)
    assert info.value.status_code == 400


def test_an_npy_header_announcing_a_huge_array_is_refused_before_any_allocation() -> None:
    header = npy(np.zeros((1, 1)))
    huge = header.replace(b"(1, 1)", b"(10000000000, 1000)")
    with pytest.raises(UserError, match=r"announces shape \(10000000000, 1000\)"):
        decode_npy(huge)


# -- Parquet ---------------------------------------------------------------------------------------------


def test_parquet_columns_are_matched_to_features_by_name_and_nulls_are_missing() -> None:
    table = pa.table({"c": [3.0, 6.0], "a": pa.array([1, None], pa.int32()),
                      "b": pa.array([2.0, 5.0], pa.float32())})
    batch = decode_parquet(parquet(table))
    matrix = feature_matrix(batch, FEATURES)
    np.testing.assert_array_equal(matrix[0], [1.0, 2.0, 3.0])
    assert math.isnan(matrix[1, 0]) and matrix[1, 1:].tolist() == [5.0, 6.0]


def test_a_parquet_written_by_pandas_with_an_index_ignores_the_index_column() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}, index=pd.Index([7], name=None))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    np.testing.assert_array_equal(feature_matrix(decode_parquet(buffer.getvalue()), FEATURES),
                                  [[1.0, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (parquet(pa.table({"a": [1.0], "b": ["x"], "c": [True]})),
         r"must be numbers; these are not: b \(string\), c \(bool\)"),
        (b"PAR1 this is not parquet", r"not a readable Parquet file"),
        (parquet(pa.table({"a": [1.0]}))[:-20], r"not a readable Parquet file"),
    ],
    ids=["strings-and-booleans", "garbage", "truncated"],
)
def test_a_parquet_body_that_is_not_numeric_columns_is_a_user_error(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        decode_parquet(body)
    assert info.value.status_code == 400


def test_parquet_columns_that_are_not_model_features_are_named() -> None:
    batch = decode_parquet(parquet(pa.table({"a": [1.0], "b": [2.0], "target": [3.0]})))
    with pytest.raises(UserError, match=r"Named columns: unknown features \['target'\]"):
        feature_matrix(batch, FEATURES)


def test_a_parquet_body_that_inflates_past_the_limit_is_413() -> None:
    body = parquet(pa.table({"a": np.zeros(300_000)}), compression="zstd")
    assert len(body) < MIB / 10
    with pytest.raises(PayloadTooLargeError, match=r"300000 rows x 1 columns, 2\.3 MiB as numbers, "
                                                    r"over the 1 MiB payload limit"):
        decode_parquet(body, DecodeOptions(max_bytes=MIB))


# -- gzip ------------------------------------------------------------------------------------------------


def test_a_gzip_body_is_inflated_even_in_several_members() -> None:
    body = gzip.compress(b"1,2,3\n") + gzip.compress(b"4,5,6\n")
    assert check_content_encoding("gzip") and check_content_encoding(" X-GZIP ")
    assert inflate(body, MIB) == b"1,2,3\n4,5,6\n"


@pytest.mark.parametrize("encoding", [None, "", "identity", "Identity"])
def test_a_body_without_a_content_encoding_is_taken_as_it_is(encoding: str | None) -> None:
    assert check_content_encoding(encoding) is False


def test_a_gzip_bomb_stops_at_the_payload_limit_with_413() -> None:
    bomb = gzip.compress(b"0" * (64 * MIB))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLargeError, match=r"inflates to more than the 1 MiB payload limit"):
        inflate(bomb, MIB)


def _bad_checksum(body: bytes) -> bytes:
    return body[:-8] + bytes(4) + body[-4:]  # the CRC-32 of the member, zeroed


@pytest.mark.parametrize(("body", "message"), [
    (_bad_checksum(gzip.compress(b"1,2,3\n" * 100)), r"not valid gzip data: .*incorrect data check"),
    (b"1,2,3 not compressed", r"not valid gzip data"),
    (gzip.compress(b"1,2,3\n" * 100)[:-12], r"cut short"),
], ids=["bad-checksum", "not-gzip", "truncated"])
def test_a_corrupt_or_truncated_gzip_body_is_a_user_error(body: bytes, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        inflate(body, MIB)
    assert info.value.status_code == 400


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "gzip, br"])
def test_a_content_encoding_other_than_gzip_is_415(encoding: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match=r"send gzip or no encoding"):
        check_content_encoding(encoding)


# -- custom attributes -----------------------------------------------------------------------------------

LIBRARIES = ("catboost", "lightgbm", "xgboost")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ()),
        ("", ()),
        ("trace=abc", ()),
        ("models=all", LIBRARIES),
        ("Models=ALL", LIBRARIES),
        ("trace=abc; models=xgboost,catboost", ("xgboost", "catboost")),
        ("models=none", ()),
    ],
)
def test_custom_attributes_choose_which_libraries_answer_too(
    header: str | None, expected: tuple[str, ...]
) -> None:
    assert read_header(header, LIBRARIES, "regression").libraries == expected


def test_custom_attributes_naming_an_unknown_library_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"asks for models \['rf'\]; "
                                        r"this model has \['catboost', 'lightgbm', 'xgboost'\]"):
        read_header("models=rf", LIBRARIES, "regression")


@pytest.mark.parametrize("separator", [",", "|", " | "])
def test_custom_attributes_separate_the_models_and_the_outputs_lists_alike(separator: str) -> None:
    # Before: outputs= took "|" as well as ",", but models= refused "xgboost|catboost" as one unknown name.
    header = f"trace=7; models=xgboost{separator}catboost; Outputs=Labels{separator}probability"
    assert read_header(header, LIBRARIES, "binary") == Requested(libraries=("xgboost", "catboost"),
                                                                 outputs=("labels", "probability"))


def test_custom_attributes_outputs_a_model_does_not_answer_with_are_a_user_error() -> None:
    with pytest.raises(UserError, match=r"a regression model answers with score, not labels"):
        read_header("models=all; outputs=labels", LIBRARIES, "regression")


# -- responses -------------------------------------------------------------------------------------------

TWO_ROWS = Prediction(
    scores=np.array([1.5, np.nan]),
    members={"catboost": np.array([1.0, 2.0]), "xgboost": np.array([2.0, np.inf])},
)


def test_json_lines_answers_one_score_object_per_line() -> None:
    body, content_type = output_fn(Prediction(scores=np.array([1.5, 2.5])), "application/jsonlines")
    assert content_type == "application/jsonlines"
    assert body == b'{"score": 1.5}\n{"score": 2.5}\n'


def test_per_library_predictions_sit_next_to_the_blend_in_every_format() -> None:
    assert output_fn(TWO_ROWS, "text/csv")[0] == b"1.5,1.0,2.0\n,2.0,\n"
    assert json.loads(output_fn(TWO_ROWS, "application/json")[0]) == {"predictions": [
        {"score": 1.5, "catboost": 1.0, "xgboost": 2.0}, {"score": None, "catboost": 2.0, "xgboost": None}]}
    lines = output_fn(TWO_ROWS, "application/jsonlines")[0].decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"score": 1.5, "catboost": 1.0, "xgboost": 2.0}, {"score": None, "catboost": 2.0, "xgboost": None}]


def test_in_batch_transform_json_answers_one_object_per_line_with_a_final_newline() -> None:
    body, content_type = output_fn(Prediction(scores=np.array([1.5, np.nan])), "application/json", batch=True)
    assert content_type == "application/json"
    assert body == b'{"score": 1.5}\n{"score": null}\n'


def test_an_input_batch_counts_its_rows_in_any_shape() -> None:
    assert InputBatch(values=np.zeros((3, 2))).n_rows == 3
    assert InputBatch(records=[{}, {}]).n_rows == 2
    assert InputBatch().n_rows == 0


def _npy_header_of_shape(shape: tuple[int, ...], data_bytes: int) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(data_bytes)


@pytest.mark.parametrize(("shape", "data_bytes"), [
    ((-1, 5), 0), ((-1, -5), 40), ((-2, -2), 32), ((5, -1), 0), ((0, -1), 0),
    ((2**62, 2**62), 0), ((0, 2**62), 0), ((2**62, 0), 0),
], ids=str)
def test_an_npy_header_with_a_negative_or_absurd_shape_is_a_400(
    shape: tuple[int, ...], data_bytes: int
) -> None:
    with pytest.raises(UserError, match=r"each dimension must be between 0 and the body's") as info:
        decode_npy(_npy_header_of_shape(shape, data_bytes))
    assert info.value.status_code == 400


def test_an_npy_header_that_numpy_cannot_tokenize_is_a_400() -> None:
    # Found by tests/integration/test_serve_fuzz.py: numpy's header parser raised tokenize.TokenError (500).
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, }"
    header = text + b" " * (63 - (10 + len(text)) % 64) + b"\n"
    body = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.replace(b"(2, 3, }", b"((2, 3 }")
    with pytest.raises(UserError, match=r"not a readable \.npy array"):
        decode_npy(body)
