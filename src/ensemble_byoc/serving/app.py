"""The Flask app around an already loaded model: /ping, /invocations, /execution-parameters."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ensemble_byoc.ensemble import Ensemble
from ensemble_byoc.errors import EnsembleError, PayloadTooLargeError
from ensemble_byoc.logs import configure_logging
from ensemble_byoc.paths import SageMakerPaths
from ensemble_byoc.serving import custom_attributes
from ensemble_byoc.serving.handlers import input_fn, model_fn, output_fn, predict_fn
from ensemble_byoc.serving.inputs import DecodeOptions
from ensemble_byoc.serving.media_types import negotiate_accept
from ensemble_byoc.serving.request_codecs import check_content_encoding, decode_content, decoder_for
from ensemble_byoc.serving.settings import MAX_PAYLOAD, ServeSettings

logger = logging.getLogger(__name__)
_READ_CHUNK = 1 << 20


def create_app(model: Ensemble, settings: ServeSettings) -> Flask:
    """Build the app around ``model``; nothing in it loads or reads the environment."""
    app = Flask("ensemble_byoc")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200)

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        return jsonify(
            MaxConcurrentTransforms=settings.workers,
            BatchStrategy="MULTI_RECORD",
            MaxPayloadInMB=settings.max_payload_mb,
        )

    @app.post("/invocations")
    def invocations() -> Response:
        body, content_type = invoke(model, settings, request.headers, request.content_length,
                                    lambda: read_body(request.environ["wsgi.input"], settings))
        return Response(body, status=200, content_type=content_type)

    @app.after_request
    def echo_custom_attributes(response: Response) -> Response:
        value = request.headers.get(custom_attributes.HEADER)
        if value is not None:
            response.headers[custom_attributes.HEADER] = value
        return response

    @app.errorhandler(EnsembleError)
    def ensemble_error(exc: EnsembleError) -> tuple[Response, int]:
        if exc.status_code >= 500:
            logger.error("%s: %s", type(exc).__name__, exc)
        return jsonify(error=type(exc).__name__, message=str(exc)), exc.status_code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        if isinstance(exc, RequestEntityTooLarge):
            return ensemble_error(_too_large(settings))
        return jsonify(error=type(exc).__name__, message=exc.description), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> tuple[Response, int]:
        logger.exception("Unexpected error while answering %s %s", request.method, request.path)
        return jsonify(error="InternalError", message="The server failed to answer this request."), 500

    return app


def invoke(model: Ensemble, settings: ServeSettings, headers: Mapping[str, str], content_length: int | None,
           read_body: Callable[[], bytes]) -> tuple[bytes, str]:
    """One /invocations request: its answer body and Content-Type.

    Everything that needs no body is checked first, so a refused request costs no work: the declared
    size (413), Content-Type and Content-Encoding (415), Accept (406) and the custom attributes (400).
    Then the body is read (413 beyond the limit, also once inflated), decoded (400) and predicted.
    """
    if content_length is not None and content_length > settings.max_payload_bytes:
        raise _too_large(settings)
    content_type = headers.get("Content-Type")
    content_encoding = headers.get("Content-Encoding")
    decoder_for(content_type)
    check_content_encoding(content_encoding)
    accept = negotiate_accept(headers.get("Accept"), settings.default_accept)
    libraries = custom_attributes.requested_libraries(headers.get(custom_attributes.HEADER), tuple(model.weights))
    body = decode_content(read_body(), content_encoding, settings.max_payload_bytes)
    options = DecodeOptions(keep_blank_lines=settings.batch, max_bytes=settings.max_payload_bytes)
    prediction = predict_fn(input_fn(body, content_type, options), model, libraries)
    return output_fn(prediction, accept, batch=settings.batch)


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
            raise _too_large(settings)


def _too_large(settings: ServeSettings) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than {settings.max_payload_mb} MiB ({MAX_PAYLOAD}); "
        "split it into smaller requests."
    )


def app_from_environment(environ: Mapping[str, str]) -> Flask:
    """Resolve settings and paths, load the model, and build the app; a broken model stops start-up."""
    settings = ServeSettings.from_env(environ)
    configure_logging(settings.log_level)
    paths = SageMakerPaths.from_env(environ)
    try:
        model = model_fn(paths.model_dir)
    except EnsembleError as exc:
        logger.critical("The model in %s cannot be served: %s", paths.model_dir, exc)
        raise
    logger.info(
        "Model loaded from %s: %s; %d features. Library calls per prediction: %d.",
        paths.model_dir,
        ", ".join(f"{library} {_describe(len(models))}" for library, models in model.members.items()),
        model.n_features,
        sum(len(models) for models in model.members.values()),
    )
    logger.info("Serving settings: %s", settings.describe())
    return create_app(model, settings)


def _describe(n_models: int) -> str:
    return "(folds merged into one model)" if n_models == 1 else f"({n_models} fold models, unmerged)"
