"""A multi-host job's hosts, as ``resourceconfig.json`` lists them, and the settings they meet by."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ensemble_byoc.errors import PlatformError

SCHEDULER_PORT = 8786
"""The Dask scheduler's port on the first host of a multi-host job."""
WORKER_PORT = 8788
"""Each host's Dask worker listens on this port of its own address."""
JOIN_TIMEOUT_SECONDS = 600.0
"""How long the first host waits for every host's worker, and a worker for the scheduler."""
SCHEDULER_PORT_VARIABLE = "ENSEMBLE_BYOC_SCHEDULER_PORT"
WORKER_PORT_VARIABLE = "ENSEMBLE_BYOC_WORKER_PORT"
JOIN_TIMEOUT_VARIABLE = "ENSEMBLE_BYOC_JOIN_TIMEOUT"
WORKER_TTL_SECONDS = 60
"""A worker silent for this long (a host gone from the network without closing its connections) is
removed by the scheduler, which fails the job naming the host; a dead process is noticed at once."""
WORKER_TTL_VARIABLE = "ENSEMBLE_BYOC_WORKER_TTL"
CLUSTER_SECRET_VARIABLE = "ENSEMBLE_BYOC_CLUSTER_SECRET"
"""The job's secret, from which every host derives the same TLS certificates for the Dask cluster (the
launcher sets it in the job's environment when the job has more than one instance)."""
MIN_SECRET_CHARACTERS = 16
HOST_ADDRESSES_VARIABLE = "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES"
"""Tests only: a JSON object mapping host names to addresses (``{"algo-1": "127.0.0.2"}``), so that several
hosts run on one machine; on SageMaker it is unset and host names resolve through DNS."""


@dataclass(frozen=True)
class HostLayout:
    """A multi-host job's hosts as ``resourceconfig.json`` lists them, and how they find each other."""

    hosts: tuple[str, ...]
    """Sorted: the first one runs the scheduler and writes the model."""
    current_host: str
    network_interface_name: str | None
    scheduler_port: int
    worker_port: int
    join_timeout: float
    worker_ttl: int
    test_addresses: Mapping[str, str]
    cluster_secret: str | None = field(default=None, repr=False)
    """``None``: the cluster runs without TLS (and every host warns)."""

    @property
    def leader(self) -> str:
        return self.hosts[0]

    @property
    def is_leader(self) -> bool:
        return self.current_host == self.leader

    @classmethod
    def from_resource_config(
        cls, resource_config: Mapping[str, Any], environ: Mapping[str, str]
    ) -> HostLayout | None:
        """The layout of a job with more than one host; ``None`` for a single-host job (no cluster)."""
        hosts = tuple(sorted(resource_config.get("hosts") or []))
        current = resource_config.get("current_host")
        if len(hosts) < 2 or current is None:
            return None
        if current not in hosts:
            msg = f"resourceconfig.json: current_host {current!r} is not one of its hosts {list(hosts)}."
            raise PlatformError(msg)
        raw_addresses = environ.get(HOST_ADDRESSES_VARIABLE, "").strip()
        try:
            addresses = (
                {str(k): str(v) for k, v in json.loads(raw_addresses).items()} if raw_addresses else {}
            )
        except (ValueError, AttributeError) as exc:
            msg = f"{HOST_ADDRESSES_VARIABLE} is not a JSON object of host names: {exc}"
            raise PlatformError(msg) from exc
        return cls(
            hosts=hosts,
            current_host=str(current),
            network_interface_name=resource_config.get("network_interface_name") or None,
            scheduler_port=_int_setting(environ, SCHEDULER_PORT_VARIABLE, SCHEDULER_PORT),
            worker_port=_int_setting(environ, WORKER_PORT_VARIABLE, WORKER_PORT),
            join_timeout=float(_int_setting(environ, JOIN_TIMEOUT_VARIABLE, int(JOIN_TIMEOUT_SECONDS))),
            worker_ttl=_int_setting(environ, WORKER_TTL_VARIABLE, WORKER_TTL_SECONDS),
            test_addresses=addresses,
            cluster_secret=_secret(environ),
        )

    def dask_settings(self) -> dict[str, Any]:
        """The Dask configuration every host of the job runs with."""
        return {
            "distributed.scheduler.worker-ttl": f"{self.worker_ttl}s",
            "distributed.scheduler.allowed-failures": 0,
            "distributed.worker.daemon": False,
            "distributed.comm.timeouts.connect": "30s",
            # Each node's small HTTP server (plain HTTP, even with TLS) serves nothing: no status, no metrics.
            "distributed.scheduler.http.routes": [],
            "distributed.worker.http.routes": [],
        }

    def address_of(self, host: str, attempts: int = 30, delay: float = 2.0) -> str:
        """The IP address of ``host``, resolved with retries (a host's DNS name may appear a little late)."""
        if host in self.test_addresses:
            return self.test_addresses[host]
        for attempt in range(attempts):
            try:
                return socket.gethostbyname(host)
            except OSError as exc:
                if attempt == attempts - 1:
                    msg = (
                        f"Host {host} could not be resolved after {attempts} attempts "
                        f"(network interface {self.network_interface_name or 'default'}): {exc}"
                    )
                    raise PlatformError(msg) from exc
                time.sleep(delay)
        msg = "unreachable"
        raise AssertionError(msg)


def _int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        msg = f"{name} == {raw!r} is not a whole number."
        raise PlatformError(msg) from exc
    if value <= 0:
        msg = f"{name} == {value} must be > 0."
        raise PlatformError(msg)
    return value


def _secret(environ: Mapping[str, str]) -> str | None:
    secret = environ.get(CLUSTER_SECRET_VARIABLE, "").strip()
    if not secret:
        return None
    if len(secret) < MIN_SECRET_CHARACTERS:  # never echo the secret itself
        msg = (
            f"{CLUSTER_SECRET_VARIABLE} holds {len(secret)} characters; it must hold at least "
            f"{MIN_SECRET_CHARACTERS} (the launcher makes 43 random ones), or be unset."
        )
        raise PlatformError(msg)
    return secret
