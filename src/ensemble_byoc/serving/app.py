"""The Flask app around an already loaded model: /ping, /invocations, /execution-parameters."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ensemble_byoc.ensemble import Ensemble
from ensemble_byoc.errors import EnsembleError, PayloadTooLargeError
from ensemble_byoc.logs import configure_logging
from ensemble_byoc.paths import SageMakerPaths
from ensemble_byoc.serving.codecs import decoder_for, negotiate_accept
from ensemble_byoc.serving.handlers import input_fn, model_fn, output_fn, predict_fn
from ensemble_byoc.serving.settings import MAX_PAYLOAD, ServeSettings

logger = logging.getLogger(__name__)


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
        if request.content_length is not None and request.content_length > settings.max_payload_bytes:
            raise _too_large(settings)
        content_type = request.headers.get("Content-Type")
        decoder_for(content_type)  # 415 before any work
        accept = negotiate_accept(request.headers.get("Accept"), settings.default_accept)  # 406 before any work
        batch = input_fn(request.get_data(cache=False), content_type)
        prediction = predict_fn(batch, model)
        body, response_type = output_fn(prediction, accept)
        return Response(body, status=200, content_type=response_type)

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
        "Model loaded from %s: %s, %d features.",
        paths.model_dir,
        ", ".join(f"{lib} x{len(models)}" for lib, models in model.members.items()),
        model.n_features,
    )
    return create_app(model, settings)
