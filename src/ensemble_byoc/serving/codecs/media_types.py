"""Media types: the names this server speaks, header parsing, and Accept negotiation."""

from __future__ import annotations

from collections.abc import Iterable

from ensemble_byoc.errors import NotAcceptableError

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"
NPY = "application/x-npy"
PARQUET = "application/x-parquet"

RESPONSE_TYPES = (CSV, JSON, JSON_LINES)
"""Content-Types an answer may have, chosen by Accept."""


def parse_media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """``"text/csv; charset=UTF-8"`` -> ``("text/csv", {"charset": "utf-8"})``."""
    if not header:
        return "", {}
    main, *params = header.split(";")
    parsed = {}
    for param in params:
        key, _, value = param.partition("=")
        if key.strip():
            parsed[key.strip().lower()] = value.strip().strip('"').lower()
    return main.strip().lower(), parsed


def negotiate_accept(accept: str | None, default: str, offered: Iterable[str] = RESPONSE_TYPES) -> str:
    """The response type for an Accept header.

    Entries are tried by falling quality (``q``; equal qualities keep their order) and ``q=0`` entries
    are skipped. A missing or empty Accept, or ``*/*``, gives ``default``; ``text/*`` gives ``default``
    when it is a text type, else the first offered text type.

    Raises:
        NotAcceptableError: no entry names an offered type.
    """
    offered = tuple(offered)
    if not accept or not accept.strip():
        return default
    entries = []
    for position, entry in enumerate(accept.split(",")):
        media_type, params = parse_media_type(entry)
        quality = _quality(params.get("q"))
        if media_type and quality > 0:
            entries.append((-quality, position, media_type))
    for _, _, media_type in sorted(entries):
        if media_type in offered:
            return media_type
        if media_type == "*/*" or media_type == "*":
            return default
        if media_type.endswith("/*"):
            family = media_type[:-1]
            if default.startswith(family):
                return default
            for candidate in offered:
                if candidate.startswith(family):
                    return candidate
    msg = f"Accept {accept!r} names no supported type; ask for one of {', '.join(offered)}."
    raise NotAcceptableError(msg)


def _quality(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        quality = float(value)
    except ValueError:
        return 0.0  # an unreadable q makes the entry unusable, not the request
    return quality if 0.0 <= quality <= 1.0 else 0.0
