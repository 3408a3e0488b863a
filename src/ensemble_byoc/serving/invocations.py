"""One /invocations request, from its headers and body to an answer: the core both entry paths share."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.errors import EnsembleError
from ensemble_byoc.serving.codecs.inputs import DecodeOptions
from ensemble_byoc.serving.codecs.media_types import negotiate_accept
from ensemble_byoc.serving.codecs.request_codecs import Decoder, check_content_encoding, decoder_for, inflate
from ensemble_byoc.serving.custom_attributes import Requested, read_header
from ensemble_byoc.serving.explaining import check_rows_to_explain
from ensemble_byoc.serving.handlers import decode_input, decode_options, output_fn, predict_fn
from ensemble_byoc.serving.request_body import read_body, too_large
from ensemble_byoc.serving.settings import ServeSettings

logger = logging.getLogger(__name__)


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

