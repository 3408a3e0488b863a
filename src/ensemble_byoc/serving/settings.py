"""Serving settings, read once from the environment with SageMaker's own variable names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ensemble_byoc.errors import PlatformError
from ensemble_byoc.host import available_cpus

PORT = "SAGEMAKER_BIND_TO_PORT"
WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
MAX_PAYLOAD = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH = "SAGEMAKER_BATCH"
LOG_LEVEL = "LOG_LEVEL"

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    port: int = 8080
    workers: int = 1
    timeout: int = 60
    default_accept: str = "text/csv"
    max_payload_mb: int = 6
    batch: bool = False
    log_level: str = "INFO"

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * _MIB

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeSettings:
        """Read the settings; a malformed value stops the server at start with a message naming it."""
        return cls(
            port=_int(environ, PORT, 8080, 1, 65535),
            workers=_int(environ, WORKERS, available_cpus(), 1, 1024),
            timeout=_int(environ, TIMEOUT, 60, 1, 3600),
            default_accept=environ.get(DEFAULT_ACCEPT, "").strip() or "text/csv",
            max_payload_mb=_int(environ, MAX_PAYLOAD, 6, 1, 100_000),
            batch=environ.get(BATCH, "").strip().lower() == "true",
            log_level=environ.get(LOG_LEVEL, "").strip().upper() or "INFO",
        )


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise PlatformError(f"{name} == {raw!r}, must be an integer.") from None
    if not low <= value <= high:
        raise PlatformError(f"{name} == {value}, must be between {low} and {high}.")
    return value
