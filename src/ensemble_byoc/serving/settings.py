"""Serving settings, read once from the environment with SageMaker's own variable names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.errors import PlatformError
from ensemble_byoc.serving.classification import OUTPUT_VARIABLE, parse_outputs
from ensemble_byoc.serving.codecs.media_types import RESPONSE_TYPES

PORT = "SAGEMAKER_BIND_TO_PORT"
WORKERS = "SAGEMAKER_MODEL_SERVER_WORKERS"
TIMEOUT = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
MAX_PAYLOAD = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH = "SAGEMAKER_BATCH"
LOG_LEVEL = "LOG_LEVEL"
MAX_REQUESTS = "ENSEMBLE_BYOC_MAX_REQUESTS"
MAX_REQUESTS_JITTER = "ENSEMBLE_BYOC_MAX_REQUESTS_JITTER"
EXPLAIN = "ENSEMBLE_BYOC_EXPLAIN"
EXPLAIN_MAX_ROWS = "ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS"
EXPLAIN_CHOICES = ("shap", "none")
"""What ``explain=`` (the custom attribute) and ``ENSEMBLE_BYOC_EXPLAIN`` take: SHAP values, or none."""

SAGEMAKER_MAX_PAYLOAD_MB = 100
"""The largest payload SageMaker itself sends (batch transform's MaxPayloadInMB); real time allows 6."""

_MIB = 1024 * 1024
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class ServeSettings:
    port: int = 8080
    workers: int = 1
    timeout: int = 60
    default_accept: str = "text/csv"
    max_payload_mb: int = 6
    batch: bool = False
    log_level: str = "INFO"
    inference_output: tuple[str, ...] = ()
    """Classification fields answered by default (``SAGEMAKER_INFERENCE_OUTPUT``); empty: predicted label
    and its probability."""
    max_requests: int = 10_000
    """A worker is replaced after this many requests (0: never), so memory a request grew is returned."""
    max_requests_jitter: int = 1_000
    """Each worker's ``max_requests`` is raised by a random 0 to this many, so workers do not all restart
    at once."""
    explain: bool = False
    """Every answer carries SHAP explanations unless a request says ``explain=none``
    (``ENSEMBLE_BYOC_EXPLAIN=shap``); off by default."""
    explain_max_rows: int = 1_000
    """A request asking to explain more rows than this is refused (413) before any work."""
    cpus: int = 1
    """The cores this process may run on (its CPU affinity), shared by the workers."""

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * _MIB

    @property
    def library_threads(self) -> int:
        """Threads each worker's libraries predict with: the cores divided among the workers, at least 1.

        With the default of one worker per core, one thread each; fewer workers than cores (one worker
        for large batch transform requests, say) give each worker's libraries the cores left idle."""
        return max(1, self.cpus // self.workers)

    @property
    def access_log(self) -> bool:
        """Access lines are written at INFO and below (never for /ping)."""
        return _LOG_LEVELS.index(self.log_level) <= _LOG_LEVELS.index("INFO")

    def describe(self) -> str:
        """One log line with every setting and the variable that sets it."""
        return (
            f"port {self.port} ({PORT}), {self.workers} workers ({WORKERS}), "
            f"timeout {self.timeout} s ({TIMEOUT}), "
            f"default Accept {self.default_accept} ({DEFAULT_ACCEPT}), max payload {self.max_payload_mb} MiB "
            f"({MAX_PAYLOAD}), batch transform {'on' if self.batch else 'off'} ({BATCH}), "
            f"log level {self.log_level} ({LOG_LEVEL}), "
            f"worker replaced after {self.max_requests or 'unlimited'} requests ({MAX_REQUESTS}) "
            f"+ up to {self.max_requests_jitter} ({MAX_REQUESTS_JITTER}), "
            f"explanations {'shap' if self.explain else 'none'} by default ({EXPLAIN}), "
            f"at most {self.explain_max_rows} rows explained ({EXPLAIN_MAX_ROWS}), "
            f"{self.library_threads} library thread(s) per worker ({self.cpus} usable cores / workers)"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeSettings:
        """Read the settings; a malformed value stops the server at start with a message naming it."""
        cpus = available_cpus()
        return cls(
            port=_int(environ, PORT, 8080, 1, 65535),
            workers=_int(environ, WORKERS, cpus, 1, 1024),
            timeout=_int(environ, TIMEOUT, 60, 1, 3600),
            default_accept=_default_accept(environ),
            max_payload_mb=_int(environ, MAX_PAYLOAD, 6, 1, SAGEMAKER_MAX_PAYLOAD_MB,
                                rule="SageMaker's own maximum payload is 100 MB"),
            batch=environ.get(BATCH, "").strip().lower() == "true",
            log_level=_log_level(environ),
            inference_output=parse_outputs(environ.get(OUTPUT_VARIABLE)),
            max_requests=_int(environ, MAX_REQUESTS, 10_000, 0, 10_000_000),
            max_requests_jitter=_int(environ, MAX_REQUESTS_JITTER, 1_000, 0, 10_000_000),
            explain=_explain(environ),
            explain_max_rows=_int(environ, EXPLAIN_MAX_ROWS, 1_000, 1, 1_000_000),
            cpus=cpus,
        )


def _default_accept(environ: Mapping[str, str]) -> str:
    raw = environ.get(DEFAULT_ACCEPT, "").strip()
    if not raw:
        return "text/csv"
    media_type = raw.split(";")[0].strip().lower()
    if media_type not in RESPONSE_TYPES:
        msg = f"{DEFAULT_ACCEPT} == {raw!r}, must be one of {', '.join(RESPONSE_TYPES)}."
        raise PlatformError(msg)
    return media_type


def _explain(environ: Mapping[str, str]) -> bool:
    raw = environ.get(EXPLAIN, "").strip()
    choice = raw.lower() or "none"
    if choice not in EXPLAIN_CHOICES:
        msg = f"{EXPLAIN} == {raw!r}, must be one of {', '.join(EXPLAIN_CHOICES)}."
        raise PlatformError(msg)
    return choice == "shap"


def _log_level(environ: Mapping[str, str]) -> str:
    raw = environ.get(LOG_LEVEL, "").strip().upper() or "INFO"
    level = "WARNING" if raw == "WARN" else raw
    if level not in _LOG_LEVELS:
        msg = f"{LOG_LEVEL} == {raw!r}, must be one of {', '.join(_LOG_LEVELS)}."
        raise PlatformError(msg)
    return level


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int, *, rule: str = "") -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name} == {raw!r}, must be an integer."
        raise PlatformError(msg) from None
    if not low <= value <= high:
        why = f" ({rule})" if rule else ""
        msg = f"{name} == {value}, must be between {low} and {high}{why}."
        raise PlatformError(msg)
    return value
