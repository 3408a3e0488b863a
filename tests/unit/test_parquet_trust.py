"""Parquet bodies checked from their footer before anything is read: columns the model cannot use are
refused naming them, text columns of categorical features are read dictionary-encoded, and a few hundred
bytes that decode to gigabytes cost only what they hold."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ensemble_byoc.errors import PayloadTooLargeError, UserError
from ensemble_byoc.serving.codecs.binary_decoders import decode_parquet
from ensemble_byoc.serving.codecs.inputs import DecodeOptions
from ensemble_byoc.serving.handlers import feature_matrix

TEXT = DecodeOptions(feature_names=("color", "x"),
                     categories={"color": {"blue": 0.0, "green": 1.0, "red": 2.0}})
NUMERIC = DecodeOptions(feature_names=("f0", "f1"))


def parquet(columns: dict[str, object], **options: object) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, **options)
    return buffer.getvalue()


def dictionary_bomb(name: str, rows: int = 5000, length: int = 200_000) -> pa.DictionaryArray:
    """``rows`` copies of one ``length``-character string, built dictionary-encoded (never expanded)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * length]))


def test_a_text_column_of_a_categorical_feature_is_read_through_the_models_levels() -> None:
    body = parquet({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "color": ["red", "purple", None, "NA", " blue "]})
    values = feature_matrix(decode_parquet(body, TEXT), TEXT.feature_names)
    np.testing.assert_array_equal(values[:, 1], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert values[0, 0] == 2.0 and values[4, 0] == 0.0
    assert all(math.isnan(v) for v in values[1:4, 0])  # unseen, null and a missing-value token


def test_a_numeric_column_of_a_categorical_feature_is_read_through_its_levels_too() -> None:
    options = DecodeOptions(feature_names=("k",), categories={"k": {"1": 0.0, "2": 1.0}})
    values = decode_parquet(parquet({"k": pa.array([2, 1, 3, None])}), options).values
    assert values is not None
    np.testing.assert_array_equal(values[:2, 0], [1.0, 0.0])
    assert math.isnan(values[2, 0]) and math.isnan(values[3, 0])


@pytest.mark.parametrize(("columns", "message"), [
    ({"colour": ["red"], "x": [1.0]},
     r"Parquet columns: unknown features \['colour'\]; .* Did you mean 'color' for 'colour'\?"),
    ({"color": ["red"], "x": ["1.5"]}, r"must be numbers; these are not: x \(string\); text only for the "
                                       r"model's categorical features \['color'\]"),
    ({"color": ["red"], "x": pa.array([[1.0]])}, r"these are not: x \(list<"),
    ({"color": ["red"], "x": pa.array([{"a": 1.0}])}, r"these are not: x \(struct<"),
    ({"color": ["red"]}, r"Parquet columns: missing features \['x'\]"),
], ids=["unknown-name", "text-for-a-number", "list", "struct", "missing"])
def test_a_column_the_model_cannot_use_is_refused_before_reading_naming_it(
    columns: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message) as info:
        decode_parquet(parquet(columns), TEXT)
    assert info.value.status_code == 400


def test_the_dictionary_bomb_for_a_numeric_feature_is_refused_from_its_footer() -> None:
    body = parquet({"f0": dictionary_bomb("f0"), "f1": np.zeros(5000)}, compression="zstd")
    assert len(body) < 1000
    with pytest.raises(UserError, match=r"must be numbers; these are not: f0 \(string\)"):
        decode_parquet(body, NUMERIC)


_PROBE = textwrap.dedent("""
    import io, resource, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    from ensemble_byoc.serving.codecs.binary_decoders import decode_parquet
    from ensemble_byoc.serving.codecs.inputs import DecodeOptions
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(5000, dtype=np.int32)),
                                            pa.array(["x" * 200_000]))
    buffer = io.BytesIO()
    pq.write_table(pa.table({"color": column, "x": np.zeros(5000)}), buffer, compression="zstd")
    options = DecodeOptions(feature_names=("color", "x"), categories={"color": {"red": 0.0}})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch = decode_parquet(buffer.getvalue(), options)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(len(buffer.getvalue()), batch.n_rows, grown // 1024)
""")


def test_the_dictionary_bomb_for_a_categorical_feature_decodes_each_level_once() -> None:
    # 5,000 rows of one 200 KB string (1 GB decoded) in a few hundred bytes: read dictionary-encoded.
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    size, rows, grown_mib = map(int, out.split())
    assert size < 1000 and rows == 5000
    assert grown_mib < 50, f"decoding grew the peak RSS by {grown_mib} MiB"


def _first_page_claims(body: bytes, size: int) -> bytes:
    """``body`` (one column, no dictionary) whose first page header announces ``size`` uncompressed bytes,
    written in as many bytes as the size it replaces; the footer is left as it was."""
    at = pq.ParquetFile(pa.BufferReader(body)).metadata.row_group(0).column(0).data_page_offset
    assert body[at:at + 3] == b"\x15\x00\x15"  # field 1 (page type) 0, then field 2 (uncompressed size)
    end = at + 3
    while body[end] & 0x80:
        end += 1
    value, out = size * 2, bytearray()  # zigzag, then varint
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            break
    assert len(out) == end + 1 - (at + 3)
    return body[:at + 3] + bytes(out) + body[end + 1:]


def test_a_page_header_announcing_more_than_the_footer_is_refused_before_reading() -> None:
    options = DecodeOptions(feature_names=("a",), max_bytes=600 * 1024)
    honest = parquet({"a": np.zeros(50_000)}, compression="zstd", use_dictionary=False)
    assert decode_parquet(honest, options).n_rows == 50_000
    lying = _first_page_claims(honest, 1_000_000)  # the footer still says about 400 KB in all
    with pytest.raises(PayloadTooLargeError, match=r"MiB of uncompressed pages, over the 0 MiB payload"):
        decode_parquet(lying, options)


def test_a_page_header_whose_list_announces_more_elements_than_bytes_is_refused_at_once() -> None:
    honest = parquet({"a": np.zeros(100)}, use_dictionary=False, compression="none")
    at = pq.ParquetFile(io.BytesIO(honest)).metadata.row_group(0).column(0).data_page_offset
    count = 1 << 24  # booleans, which a list holds one byte each, announced in four bytes
    varint = bytearray()
    while True:
        varint.append(count & 0x7F | (0x80 if count > 0x7F else 0))
        count >>= 7
        if not count:
            break
    header = bytes([0x19, 0xF1]) + bytes(varint)  # field 1: a list of booleans (compact protocol)
    crafted = honest[:at] + header + honest[at + len(header):]

    with pytest.raises(UserError, match="announces more elements than its bytes can hold"):
        decode_parquet(crafted, DecodeOptions(feature_names=("a",)))
