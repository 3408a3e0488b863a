"""The two routes SageMaker calls all the time, ``/ping`` and ``/invocations``, answered straight from WSGI.

``ModelRoutes`` is the WSGI callable gunicorn runs. It answers these two paths itself and passes every
other request (``/execution-parameters``, unknown paths) to the Flask app behind it. Flask's request
machinery (request context, routing, response object, after-request hooks) costs about 130 µs a request
on the benchmark machine, an eighth of a one-row answer, and these routes need none of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.serving import custom_attributes
from ensemble_byoc.serving.invocations import Request, error_answer, invoke, request_options
from ensemble_byoc.serving.request_body import DrainAfterAnswer, declared_length
from ensemble_byoc.serving.settings import ServeSettings

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_ATTRIBUTES = "HTTP_" + custom_attributes.HEADER.upper().replace("-", "_")
_JSON = "application/json"
_METHODS = {"/ping": ("GET", "HEAD"), "/invocations": ("POST",)}


class ModelRoutes:
    """``GET /ping``: 200, nothing loaded or checked (the model was loaded before the server started).
    ``POST /invocations``: ``invocations.invoke``; every failure is a JSON error with its status."""

    def __init__(self, app: WsgiApp, model: Ensemble, settings: ServeSettings) -> None:
        self.app = app
        self.model = model
        self.settings = settings
        self.options = request_options(model, settings)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        allowed = _METHODS.get(path)  # type: ignore[arg-type]
        if allowed is None:
            return self.app(environ, start_response)
        if method not in allowed:
            body = json.dumps({"error": "MethodNotAllowed",
                               "message": f"{path} answers {', '.join(allowed)}."})
            start_response("405 Method Not Allowed", [("Content-Type", _JSON), ("Allow", ", ".join(allowed)),
                                                      ("Content-Length", str(len(body)))])
            return [body.encode("utf-8")]
        if path == "/ping":
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return self.invocations(environ, start_response)

    def invocations(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        attributes = environ.get(_ATTRIBUTES)
        try:
            body, content_type = invoke(self.model, self.settings, Request(
                content_type=environ.get("CONTENT_TYPE") or None,
                content_encoding=environ.get("HTTP_CONTENT_ENCODING"),
                accept=environ.get("HTTP_ACCEPT"),
                custom_attributes=attributes,
                content_length=declared_length(environ.get("CONTENT_LENGTH")),
                stream=environ["wsgi.input"],
            ), self.options)
            status = 200
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON answer; ours keep their status
            status, body = error_answer(exc, "POST /invocations")
            content_type = _JSON
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if attributes is not None:
            headers.append((custom_attributes.HEADER, attributes))  # SageMaker hands it back to the caller
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body] if status == 200 else DrainAfterAnswer(body, environ)

