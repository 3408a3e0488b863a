"""A request's body: read within the payload limit, or, for a refused request, read and dropped once the
answer is written, so that the client gets to read it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ensemble_byoc.errors import PayloadTooLargeError
from ensemble_byoc.serving.settings import MAX_PAYLOAD, ServeSettings

_READ_CHUNK = 1 << 20
DRAIN_LIMIT = 64 << 20
"""The most of a refused request's body read (and dropped) after its answer."""
DRAIN_SECONDS = 10.0
"""The longest a worker waits for the rest of a refused request's body (a client that stalls)."""


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


class DrainAfterAnswer:
    """The WSGI body of a refused request's answer: once the server has written it (and calls ``close``),
    the rest of the request's body is read and dropped (``discard_unread``).

    A request can be refused before its body is read (413 on its Content-Length, 415, 406, 400 on a
    header, 404 on a model name). Closing the connection with the body still arriving makes the kernel
    reset it, and a client still sending gets a broken pipe instead of the answer.
    """

    def __init__(self, body: bytes, environ: dict[str, Any]) -> None:
        self.body = body
        self.environ = environ

    def __iter__(self) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        discard_unread(self.environ)


def discard_unread(environ: dict[str, Any]) -> None:
    """Read and drop what is left of the request's body: in chunks, never kept, at most ``DRAIN_LIMIT``
    bytes and, under gunicorn, ``DRAIN_SECONDS`` (a stalled client stops it). A body declared larger than
    the limit is not read: that client gets the reset."""
    length = declared_length(environ.get("CONTENT_LENGTH"))
    stream = environ.get("wsgi.input")
    if stream is None or (length is not None and length > DRAIN_LIMIT):
        return
    socket, deadline = environ.get("gunicorn.socket"), time.monotonic() + DRAIN_SECONDS
    left = DRAIN_LIMIT
    try:
        while left > 0:
            if socket is not None:
                socket.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = stream.read(min(_READ_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:  # noqa: BLE001 - a stalled, malformed or cut body: the answer is already written
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
