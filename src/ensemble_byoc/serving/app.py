"""The app gunicorn serves around an already loaded model: /ping, /invocations, /execution-parameters.

``create_app`` returns a Flask app whose WSGI callable is ``routes.ModelRoutes``: /ping and /invocations
are answered there, without Flask's request machinery; Flask answers the rest (/execution-parameters,
unknown paths) and turns its errors into the same JSON errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.contract.logs import configure_logging
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import EnsembleError
from ensemble_byoc.serving.classification import check_outputs
from ensemble_byoc.serving.handlers import model_fn
from ensemble_byoc.serving.invocations import error_answer
from ensemble_byoc.serving.routes import ModelRoutes
from ensemble_byoc.serving.settings import ServeSettings

logger = logging.getLogger(__name__)


def create_app(model: Ensemble, settings: ServeSettings) -> Flask:
    """Build the app around ``model``; nothing in it loads or reads the environment."""
    app = flask_app(settings)
    app.wsgi_app = ModelRoutes(app.wsgi_app, model, settings)  # type: ignore[method-assign]
    return app


def flask_app(settings: ServeSettings) -> Flask:
    """The Flask app behind the routes answered from WSGI: /execution-parameters and JSON errors."""
    app = Flask("ensemble_byoc")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes

    @app.get("/execution-parameters")
    def execution_parameters() -> Response:
        return jsonify(
            MaxConcurrentTransforms=settings.workers,
            BatchStrategy="MULTI_RECORD",
            MaxPayloadInMB=settings.max_payload_mb,
        )

    @app.errorhandler(Exception)
    def error(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # 404, 405, ... of Flask's routing
            return jsonify(error=type(exc).__name__, message=exc.description), exc.code or 500  # type: ignore[return-value]
        status, body = error_answer(exc, f"{request.method} {request.path}")
        return Response(body, status=status, content_type="application/json")

    return app


def app_from_environment(environ: Mapping[str, str]) -> Flask:
    """Resolve settings and paths, load the model, and build the app; a broken model stops start-up."""
    settings = ServeSettings.from_env(environ)
    configure_logging(settings.log_level)
    paths = SageMakerPaths.from_env(environ)
    try:
        model = model_fn(paths.model_dir)  # one thread in the master: no thread pool to fork (see below)
    except EnsembleError as exc:
        logger.critical("The model in %s cannot be served: %s", paths.model_dir, exc)
        raise
    try:
        check_outputs(settings.inference_output, model.problem_type)
    except EnsembleError as exc:
        logger.critical("The serving settings do not fit the model in %s: %s", paths.model_dir, exc)
        raise
    logger.info(
        "Model loaded from %s: %s; %d features. Library calls per prediction: %d.",
        paths.model_dir,
        ", ".join(f"{library} {_describe(len(models))}" for library, models in model.members.items()),
        model.n_features,
        sum(len(models) for models in model.members.values()),
    )
    logger.info("Serving settings: %s", settings.describe())
    _threads_after_fork(model, settings.library_threads)
    return create_app(model, settings)


def _threads_after_fork(model: Ensemble, n_threads: int) -> None:
    """Each forked worker predicts on its share of the cores; the master that loads the model, never more
    than one thread. A library thread pool (OpenMP's, CatBoost's) started before ``fork`` does not exist in
    the child, whose first parallel call would then wait for it forever."""
    if n_threads > 1:
        os.register_at_fork(after_in_child=lambda: model.use_threads(n_threads))


def _describe(n_models: int) -> str:
    return "(folds merged into one model)" if n_models == 1 else f"({n_models} fold models, unmerged)"

