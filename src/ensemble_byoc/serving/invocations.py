"""One /invocations request, from its headers and body to an answer: the core both entry paths share."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.errors import EnsembleError, PayloadTooLargeError
from ensemble_byoc.serving.codecs.inputs import DecodeOptions
from ensemble_byoc.serving.codecs.media_types import negotiate_accept
from ensemble_byoc.serving.codecs.request_codecs import Decoder, check_content_encoding, decoder_for, inflate
from ensemble_byoc.serving.custom_attributes import Requested, read_header
from ensemble_byoc.serving.explaining import check_rows_to_explain
from ensemble_byoc.serving.handlers import decode_input, decode_options, output_fn, predict_fn
from ensemble_byoc.serving.settings import MAX_PAYLOAD, ServeSettings

logger = logging.getLogger(__name__)
_READ_CHUNK = 1 << 20
_DRAIN_LIMIT = 64 << 20
"""The most of a refused request's body read (and dropped) so that its client gets to read the answer."""


@dataclass(frozen=True)
class Request:
    """What /invocations reads from a request: four headers, the declared length, and the body stream."""

    content_type: str | None
    content_encoding: str | None
    accept: str | None
    custom_attributes: str | None
    content_length: int | None
    stream: Any


@dataclass(frozen=True)
class Checked:
    """What a request's headers ask for, checked before its body is read."""

    decode: Decoder
    gzipped: bool
    accept: str
    requested: Requested


def invoke(model: Ensemble, settings: ServeSettings, request: Request,
           options: DecodeOptions | None = None) -> tuple[bytes, str]:
    """The answer body and its Content-Type.

    Everything that needs no body is checked first (``check_headers``), so a refused request costs no
    work. Then the body is read (413 past the limit, also once inflated), decoded (400), checked against
    the cap on explained rows when explanations are asked for (413), and predicted.
    ``options`` (from ``request_options``) can be made once per model and reused.
    """
    checked = check_headers(model, settings, request)
    body = read_body(request.stream, settings)
    if checked.gzipped:
        body = inflate(body, settings.max_payload_bytes)
    batch = decode_input(checked.decode, body, options or request_options(model, settings))
    requested = checked.requested
    if requested.explain:
        check_rows_to_explain(batch.n_rows, settings.explain_max_rows)
    outputs = requested.outputs or settings.inference_output
    prediction = predict_fn(batch, model, requested.libraries, outputs, explain=requested.explain)
    return output_fn(prediction, checked.accept, batch=settings.batch)


def check_headers(model: Ensemble, settings: ServeSettings, request: Request) -> Checked:
    """Each header read and checked once, in this order: the declared size (413), Content-Type and
    Content-Encoding (415), Accept (406) and the custom attributes (400)."""
    if request.content_length is not None and request.content_length > settings.max_payload_bytes:
        raise too_large(settings)
    decode = decoder_for(request.content_type)
    gzipped = check_content_encoding(request.content_encoding)
    accept = negotiate_accept(request.accept, settings.default_accept)
    requested = read_header(request.custom_attributes, tuple(model.weights), model.problem_type,
                            explain=settings.explain)
    return Checked(decode=decode, gzipped=gzipped, accept=accept, requested=requested)


def request_options(model: Ensemble, settings: ServeSettings) -> DecodeOptions:
    """How request bodies for ``model`` are decoded under ``settings`` (batch lines, limit, categories)."""
    return decode_options(model, keep_blank_lines=settings.batch, max_bytes=settings.max_payload_bytes)


def read_body(stream: Any, settings: ServeSettings) -> bytes:
    """The request body, read straight from the server, refused (413) as soon as it passes the limit.

    A chunked body has no Content-Length to check first, and werkzeug's own limit cuts it short without
    an error, which would decode a truncated body; so the body is read here, up to one byte past the limit.
    """
    limit = settings.max_payload_bytes
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_large(settings)


def discard_unread(environ: dict[str, Any]) -> None:
    """Read and drop what is left of a refused request's body, up to 64 MiB.

    A request can be refused before its body is read (413 on its Content-Length, 415, 406, 400 on a
    header). Closing the connection with the body still arriving makes the kernel reset it, and a client
    still sending gets a broken pipe instead of the answer; so the rest is read first, in chunks, never
    kept. A body declared larger than the limit is not read: that client gets the reset.
    """
    length = declared_length(environ.get("CONTENT_LENGTH"))
    stream = environ.get("wsgi.input")
    if stream is None or (length is not None and length > _DRAIN_LIMIT):
        return
    left = _DRAIN_LIMIT
    try:
        while left > 0:
            chunk = stream.read(min(_READ_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:  # noqa: BLE001 - a malformed or cut body: the answer is already decided
        return


def declared_length(value: str | None) -> int | None:
    """The CONTENT_LENGTH of a WSGI environ as a number; None when missing or not a number."""
    try:
        return int(value) if value else None
    except ValueError:
        return None


def too_large(settings: ServeSettings) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than {settings.max_payload_mb} MiB ({MAX_PAYLOAD}); "
        "split it into smaller requests."
    )


def error_answer(exc: Exception, where: str) -> tuple[int, bytes]:
    """The status and JSON body for an error: ours carry their status and a message safe to show; any other
    exception is our bug, logged with its traceback and answered 500 without details."""
    if isinstance(exc, EnsembleError):
        if exc.status_code >= 500:
            logger.error("%s: %s", type(exc).__name__, exc)
        return exc.status_code, _json(type(exc).__name__, str(exc))
    logger.error("Unexpected error while answering %s", where, exc_info=exc)
    return 500, _json("InternalError", "The server failed to answer this request.")


def _json(error: str, message: str) -> bytes:
    return json.dumps({"error": error, "message": message}).encode("utf-8")

