"""gunicorn's logger, with a lean access line and none for /ping (SageMaker calls it every few seconds)."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

PING_PATH = "/ping"


class QuietPingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Named by ``logger_class`` in ``gunicorn_conf``.

    Each request but /ping gets one line: client address, request line, status, response bytes and
    microseconds. gunicorn's own ``access`` builds a dictionary of every header and environment variable
    for its format string on each request; this writes the same fields directly.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if req.path == PING_PATH or not self.access_log_enabled:
            return
        micros = request_time.seconds * 1_000_000 + request_time.microseconds
        self.access_log.info(
            '%s "%s %s HTTP/%s.%s" %s %s %dus',
            environ.get("REMOTE_ADDR", "-"), req.method, req.uri, req.version[0], req.version[1],
            resp.status_code, getattr(resp, "sent", "-"), micros,
        )
