"""Multi-model serving (``SAGEMAKER_MULTI_MODEL=true``): SageMaker's model API, answered straight from WSGI.

``POST /models`` loads, ``GET /models`` lists, ``GET /models/{name}`` describes, ``DELETE /models/{name}``
unloads, ``POST /models/{name}/invoke`` answers as ``/invocations`` does, ``GET /ping`` is 200. Every
other path goes to the Flask app behind (``/execution-parameters``, JSON 404s).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from flask import Flask

from ensemble_byoc.contract.logs import configure_logging
from ensemble_byoc.errors import ModelNotFoundError, UserError
from ensemble_byoc.serving.app import flask_app
from ensemble_byoc.serving.invocations import error_answer
from ensemble_byoc.serving.model_loading import (
    MultiModelSettings,
    WorkerModels,
    check_directory,
    describe,
    estimated_bytes,
)
from ensemble_byoc.serving.model_registry import (
    ModelRegistry,
    already_loaded,
    check_budget,
)
from ensemble_byoc.serving.request_body import DrainAfterAnswer
from ensemble_byoc.serving.routes import WsgiApp
from ensemble_byoc.serving.settings import ServeSettings

logger = logging.getLogger(__name__)

TARGET_MODEL = "HTTP_X_AMZN_SAGEMAKER_TARGET_MODEL"
MAX_LOAD_BODY = 64 * 1024
MAX_PAGE = 1000
_JSON = "application/json"
_PREFIX = "/models/"
_INVOKE = "/invoke"
StartResponse = Callable[..., Any]


class MultiModelRoutes:
    """The WSGI callable gunicorn runs in multi-model mode; one per worker after the fork."""

    def __init__(self, app: WsgiApp, registry: ModelRegistry, settings: ServeSettings,
                 mme: MultiModelSettings) -> None:
        self.app = app
        self.registry = registry
        self.settings = settings
        self.mme = mme
        self.models = WorkerModels(app, registry, settings)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/ping":
            if method in ("GET", "HEAD"):
                return _answer(start_response, 200, b"", None)
            return _not_allowed(start_response, path, ("GET", "HEAD"))
        if path != "/models" and not path.startswith(_PREFIX):
            return self.app(environ, start_response)
        try:
            self.models.drop_unregistered()
            return self._dispatch(path, method, environ, start_response)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer; ours keep their status
            status, body = error_answer(exc, f"{method} {path}")
            _answer(start_response, status, body, _JSON)
            return DrainAfterAnswer(body, environ)

    def _dispatch(self, path: str, method: str, environ: dict[str, Any],
                  start_response: StartResponse) -> Iterable[bytes]:
        if path == "/models":
            if method == "POST":
                return _json(start_response, self.load(environ))
            if method == "GET":
                return _json(start_response, self.page(environ.get("QUERY_STRING", "")))
            return _not_allowed(start_response, path, ("GET", "POST"))
        name = path[len(_PREFIX):]
        if method == "POST" and name.endswith(_INVOKE):
            return self.invoke(name[: -len(_INVOKE)], environ, start_response)
        if method == "GET":
            return _json(start_response, describe(self.registry.get(name)))
        if method == "DELETE":
            entry = self.registry.remove(name)
            self.models.drop_unregistered()
            logger.info("Model %r unloaded (%s).", name, entry.url)
            return _json(start_response, {"message": f"Model {name!r} unloaded."})
        allowed = ("POST",) if name.endswith(_INVOKE) else ("GET", "DELETE")
        return _not_allowed(start_response, path, allowed)

    def load(self, environ: dict[str, Any]) -> dict[str, Any]:
        """Check the name is free and the model fits, load and verify it here, then register it."""
        name, url = load_request(environ)
        loaded = self.registry.entries()
        if name in loaded:
            raise already_loaded(name, loaded[name].url)
        workers = self.settings.workers
        sizes = [entry.memory_bytes for entry in loaded.values()]
        check_budget(name, estimated_bytes(check_directory(name, url)), sizes, self.mme.budget_bytes, workers)
        entry, routes = self.models.load(name, url)
        self.registry.add(entry, self.mme.budget_bytes, workers)
        self.models.keep(entry, routes)
        logger.info("Model %r loaded from %s: counted %.2f MiB per worker, resident memory grew %.2f MiB.",
                    name, url, entry.memory_bytes / 2**20, entry.measured_bytes / 2**20)
        return {"message": f"Model {name!r} loaded.", **describe(entry)}

    def page(self, query: str) -> dict[str, Any]:
        """The loaded models by name, ``limit`` at a time from after ``next_page_token`` (the last name of
        the page before)."""
        params = parse_qs(query, keep_blank_values=True)
        limit = page_limit(params.get("limit", [""])[-1])
        after = params.get("next_page_token", [""])[-1]
        entries = self.registry.entries()
        names = sorted(name for name in entries if name > after)
        page = names[:limit]
        answer: dict[str, Any] = {"models": [{"modelName": n, "modelUrl": entries[n].url} for n in page]}
        if len(names) > limit:
            answer["nextPageToken"] = page[-1]
        return answer

    def invoke(self, name: str, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get(TARGET_MODEL)
        if target is not None:
            logger.info("Invoking model %r (target model %r).", name, target)
        if not name:
            msg = "No model named in the path; call POST /models/{name}/invoke."
            raise ModelNotFoundError(msg)
        return self.models.routes_for(name).invocations(environ, start_response)


def load_request(environ: Mapping[str, Any]) -> tuple[str, str]:
    """``model_name`` and ``url`` from a POST /models body (400 when it is not that JSON object)."""
    body = environ["wsgi.input"].read(MAX_LOAD_BODY + 1)
    if len(body) > MAX_LOAD_BODY:
        msg = f"The POST /models body is larger than {MAX_LOAD_BODY} bytes; send {{\"model_name\", \"url\"}}."
        raise UserError(msg)
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        request = None
    if not isinstance(request, dict):
        msg = 'The POST /models body must be a JSON object {"model_name": "...", "url": "..."}.'
        raise UserError(msg)
    fields = []
    for field in ("model_name", "url"):
        value = request.get(field)
        if not isinstance(value, str) or not value.strip():
            msg = f"POST /models: {field} == {value!r}, must be a non-empty string."
            raise UserError(msg)
        fields.append(value)
    return fields[0], fields[1]


def page_limit(raw: str) -> int:
    if not raw:
        return MAX_PAGE
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        msg = f"GET /models: limit == {raw!r}, must be an integer from 1 to {MAX_PAGE}."
        raise UserError(msg)
    return int(raw)


def _json(start_response: StartResponse, answer: Mapping[str, Any]) -> Iterable[bytes]:
    return _answer(start_response, 200, json.dumps(answer).encode("utf-8"), _JSON)


def _not_allowed(start_response: StartResponse, path: str, allowed: tuple[str, ...]) -> Iterable[bytes]:
    body = json.dumps({"error": "MethodNotAllowed", "message": f"{path} answers {', '.join(allowed)}."})
    return _answer(start_response, 405, body.encode("utf-8"), _JSON, allowed)


def _answer(start_response: StartResponse, status: int, body: bytes, content_type: str | None,
            allowed: tuple[str, ...] = ()) -> Iterable[bytes]:
    headers = [("Content-Length", str(len(body)))]
    if content_type:
        headers.append(("Content-Type", content_type))
    if allowed:
        headers.append(("Allow", ", ".join(allowed)))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def preload_libraries() -> None:
    """Import every model library in the gunicorn master, so that workers forked later share it instead
    of each importing it on its first load (scikit-learn, which serving never uses, marked absent first)."""
    sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]
    from ensemble_byoc.models import available_libraries, load_spec  # noqa: PLC0415

    for library in available_libraries():
        load_spec(library)


def multi_model_app() -> Flask:
    """gunicorn's application in multi-model mode (``container/serve`` names it when
    ``SAGEMAKER_MULTI_MODEL=true``): no model at start; an empty registry made before the workers fork."""
    settings = ServeSettings.from_env(os.environ)
    configure_logging(settings.log_level)
    mme = MultiModelSettings.from_env(os.environ)
    preload_libraries()
    registry = ModelRegistry.create()
    app = flask_app(settings)
    app.wsgi_app = MultiModelRoutes(app.wsgi_app, registry, settings, mme)  # type: ignore[method-assign]
    logger.info("Multi-model serving: models registered in %s; memory budget %.1f MiB (%s); %s",
                registry.directory, mme.budget_bytes / 2**20, mme.budget_source, settings.describe())
    return app
