"""One /invocations request, from its headers and body to an answer: the core both entry paths share."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.errors import EnsembleError, PayloadTooLargeError
from ensemble_byoc.serving import custom_attributes
from ensemble_byoc.serving.classification import ATTRIBUTE_SOURCE, check_outputs, requested_outputs
from ensemble_byoc.serving.codecs.inputs import DecodeOptions
from ensemble_byoc.serving.codecs.media_types import negotiate_accept
from ensemble_byoc.serving.codecs.request_codecs import check_content_encoding, decode_content, decoder_for
from ensemble_byoc.serving.handlers import decode_options, input_fn, output_fn, predict_fn
from ensemble_byoc.serving.settings import MAX_PAYLOAD, ServeSettings

logger = logging.getLogger(__name__)
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Request:
    """What /invocations reads from a request: four headers, the declared length, and the body stream."""

    content_type: str | None
    content_encoding: str | None
    accept: str | None
    custom_attributes: str | None
    content_length: int | None
    stream: Any


def invoke(model: Ensemble, settings: ServeSettings, request: Request,
           options: DecodeOptions | None = None) -> tuple[bytes, str]:
    """The answer body and its Content-Type.

    Everything that needs no body is checked first, so a refused request costs no work: the declared
    size (413), Content-Type and Content-Encoding (415), Accept (406) and the custom attributes (400).
    Then the body is read (413 past the limit, also once inflated), decoded (400) and predicted.
    ``options`` (from ``request_options``) can be made once per model and reused.
    """
    if request.content_length is not None and request.content_length > settings.max_payload_bytes:
        raise too_large(settings)
    decoder_for(request.content_type)
    check_content_encoding(request.content_encoding)
    accept = negotiate_accept(request.accept, settings.default_accept)
    libraries = custom_attributes.requested_libraries(request.custom_attributes, tuple(model.weights))
    requested = requested_outputs(request.custom_attributes)
    check_outputs(requested, model.problem_type, source=ATTRIBUTE_SOURCE)
    outputs = requested or settings.inference_output
    body = decode_content(read_body(request.stream, settings), request.content_encoding,
                          settings.max_payload_bytes)
    options = options or request_options(model, settings)
    prediction = predict_fn(input_fn(body, request.content_type, options), model, libraries, outputs)
    return output_fn(prediction, accept, batch=settings.batch)


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

