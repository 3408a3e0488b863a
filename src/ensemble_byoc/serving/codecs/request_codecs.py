"""Request bodies: the decoder for each Content-Type, and Content-Encoding (gzip) with a size limit.

The headers are checked (``decoder_for``, ``check_content_encoding``) before the body is read; the body
is then inflated (``inflate``) and decoded with what the checks returned."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

from ensemble_byoc.errors import PayloadTooLargeError, UnsupportedMediaTypeError, UserError
from ensemble_byoc.serving.codecs.binary_decoders import decode_npy, decode_parquet
from ensemble_byoc.serving.codecs.inputs import MIB, DecodeOptions, InputBatch
from ensemble_byoc.serving.codecs.media_types import CSV, JSON, JSON_LINES, NPY, PARQUET, parse_media_type
from ensemble_byoc.serving.codecs.text_decoders import decode_csv, decode_json, decode_jsonlines

Decoder = Callable[[bytes, DecodeOptions], InputBatch]

DECODERS: Mapping[str, Decoder] = {
    CSV: decode_csv,
    JSON: decode_json,
    JSON_LINES: decode_jsonlines,
    NPY: decode_npy,
    PARQUET: decode_parquet,
}
_TEXT_TYPES = (CSV, JSON, JSON_LINES)
_IDENTITY = ("", "identity")
_GZIP = ("gzip", "x-gzip")


def decoder_for(content_type: str | None) -> Decoder:
    """The decoder for a Content-Type header, or 415 naming the accepted types.

    Raises:
        UnsupportedMediaTypeError: the type is missing or not one of ``DECODERS``, or a text type names a
            charset other than UTF-8.
    """
    media_type, params = parse_media_type(content_type)
    if media_type not in DECODERS:
        shown = repr(content_type) if content_type else "missing"
        msg = f"Content-Type {shown} is not supported; send one of {', '.join(DECODERS)}."
        raise UnsupportedMediaTypeError(msg)
    charset = params.get("charset")
    if media_type in _TEXT_TYPES and charset is not None and charset not in ("utf-8", "utf8"):
        msg = f"Content-Type charset {charset!r} is not supported; send UTF-8."
        raise UnsupportedMediaTypeError(msg)
    return DECODERS[media_type]


def check_content_encoding(content_encoding: str | None) -> bool:
    """Whether a body of this Content-Encoding is gzip (``gzip``, ``x-gzip``) rather than sent as is (no
    encoding, ``identity``); anything else is 415 (RFC 9110, section 15.5.16).

    Raises:
        UnsupportedMediaTypeError: an encoding other than gzip or identity.
    """
    coding = (content_encoding or "").strip().lower()
    if coding not in _IDENTITY and coding not in _GZIP:
        msg = f"Content-Encoding {content_encoding!r} is not supported; send gzip or no encoding."
        raise UnsupportedMediaTypeError(msg)
    return coding in _GZIP


def inflate(body: bytes, max_bytes: int) -> bytes:
    """A gzip body inflated chunk by chunk up to ``max_bytes``.

    Raises:
        PayloadTooLargeError: the inflated body would be larger than ``max_bytes`` (a gzip bomb stops here,
            having used at most ``max_bytes`` of memory).
        UserError: the body is not valid gzip, or it is cut short.
    """
    out = bytearray()
    data = body
    while data:  # a gzip file may hold several members, one after another
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while data:
                out += inflater.decompress(data, max_bytes + 1 - len(out))
                if len(out) > max_bytes:
                    msg = (
                        f"The gzip body inflates to more than the {max_bytes // MIB} MiB payload limit; "
                        "split it into smaller requests."
                    )
                    raise PayloadTooLargeError(msg)
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
        except zlib.error as exc:
            msg = f"The request body is not valid gzip data: {exc}."
            raise UserError(msg) from None
        if not inflater.eof:
            msg = "The gzip body is cut short: its end is missing."
            raise UserError(msg)
        data = inflater.unused_data
    return bytes(out)
