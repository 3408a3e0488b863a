"""Multi-host training jobs on Dask: the first host runs the scheduler and a worker, every other host a
worker.

Imported only when ``resourceconfig.json`` lists more than one host, so a single-host job never imports
Dask. Each host runs one Dask worker with a thread per core and one *unit slot* (a Dask resource), so it
trains one cross-validation unit (``units.fit_unit``) at a time with all of the host's training threads,
as on one host. With replicated channels (``cluster_units``) the first host (the *leader*) scatters the
data to every worker once, submits every unit at once, and gathers the outcomes in fold order through the
same loop as a single-host job (``job.run_training``), so the metric lines, the blend and the artifacts
are the same. With sharded channels, ``sharded`` runs the units on the same cluster. A unit's model comes
back in its library's native format, never as a pickled object. Every connection is TLS with
certificates derived from the job's secret (``tls``), or plain TCP, with a warning, in a job without one.

A worker that leaves (its host died, or lost the network) or a host that never joins ends the job with a
``PlatformError`` naming the host; finished units are checkpointed first when the job has checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

import dask
from distributed import Client, Scheduler, Worker, WorkerPlugin, get_worker
from distributed.core import Status
from distributed.security import Security
from distributed.utils import get_ip_interface

from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import PlatformError
from ensemble_byoc.training.multihost.layout import HostLayout
from ensemble_byoc.training.multihost.tls import cluster_security
from ensemble_byoc.training.runners import POLL_SECONDS, Pending, UnitContext, wait_for_unit
from ensemble_byoc.training.stopping import StopRequest

if TYPE_CHECKING:
    from ensemble_byoc.training.multihost.cluster_units import ClusterUnitRunner

logger = logging.getLogger(__name__)
T = TypeVar("T")

HOST_STOP = StopRequest()
"""This process's stop request: the units its worker runs stop after their current boosting round once it
is set (SIGTERM, or the job ending while a unit still runs)."""


def _scheme(security: Security | None) -> str:
    return "tls" if security is not None else "tcp"


_CLOSING = (Status.closing, Status.closed, Status.closing_gracefully, Status.failed)

UNIT_SLOT: dict[str, float] = {"unit": 1}
"""Each host's worker has one unit slot, so a host trains one cross-validation unit at a time with all of
its threads; the worker's own threads (one per core) serve the libraries' Dask training tasks."""


class HostFiles(WorkerPlugin):
    """The /opt/ml tree of the host a worker runs on, for tasks that read that host's own channels."""

    name = "ensemble-byoc-host-files"

    def __init__(self, paths: SageMakerPaths) -> None:
        self.paths = paths


def host_paths() -> SageMakerPaths:
    """Inside a task: the /opt/ml tree of the host running it."""
    plugin = get_worker().plugins[HostFiles.name]
    assert isinstance(plugin, HostFiles)
    return plugin.paths


class WorkerStop:
    """``should_stop`` for a unit trained on another host: that host's stop request, or its share of
    ``time_limit`` (counted from the first question, on that host's own clock)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline: float | None = None
        self.hit_deadline = False

    def __call__(self) -> bool:
        if HOST_STOP.requested:
            return True
        if self.seconds is None:
            return False
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        self.hit_deadline = now >= self.deadline
        return self.hit_deadline


def _worker(address: str, host: str, layout: HostLayout, paths: SageMakerPaths, security: Security | None,
            **options: Any) -> Worker:
    return Worker(address, host=host, port=layout.worker_port, nthreads=available_cpus(), resources=UNIT_SLOT,
                  name=layout.current_host, memory_limit=0, dashboard=False, dashboard_address=f"{host}:0",
                  plugins=(HostFiles(paths),), protocol=_scheme(security), security=security, **options)


def _quiet_dask_logs() -> None:
    """Dask's own INFO lines (every connection, the close-down's stream errors) would drown the job's log."""
    logging.getLogger("distributed").setLevel(logging.WARNING)


def listen_address(layout: HostLayout) -> str:
    """This host's address for the cluster: the test mapping, the job's network interface, else its name."""
    if layout.current_host not in layout.test_addresses and layout.network_interface_name:
        try:
            return str(get_ip_interface(layout.network_interface_name))
        except (ValueError, KeyError) as exc:
            logger.warning("Network interface %s has no address (%s); resolving host name %s instead.",
                           layout.network_interface_name, exc, layout.current_host)
    return layout.address_of(layout.current_host)


def run_worker(layout: HostLayout, paths: SageMakerPaths) -> int:
    """A non-first host: serve units until the scheduler goes away (the job ended), then return 0."""
    with cluster_security(layout.cluster_secret, layout.current_host) as security:
        _serve_as_worker(layout, paths, security)
    HOST_STOP.request("the end of the job")
    logger.info("Host %s: the scheduler on %s closed; this host's part of the job is done.",
                layout.current_host, layout.leader)
    return 0


def _serve_as_worker(layout: HostLayout, paths: SageMakerPaths, security: Security | None) -> None:
    scheduler = f"{_scheme(security)}://{layout.address_of(layout.leader)}:{layout.scheduler_port}"
    host = listen_address(layout)
    logger.info("Host %s of %s: Dask worker on %s:%d for the scheduler %s on %s.", layout.current_host,
                list(layout.hosts), host, layout.worker_port, scheduler, layout.leader)

    async def serve() -> None:
        worker = _worker(scheduler, host, layout, paths, security, death_timeout=layout.join_timeout)
        try:
            await worker
        except (OSError, asyncio.TimeoutError) as exc:
            msg = (
                f"Host {layout.current_host} could not join the Dask scheduler on {layout.leader} "
                f"({scheduler}) "
                f"within {layout.join_timeout:g} s: {exc}"
            )
            raise PlatformError(msg) from exc
        while worker.status not in _CLOSING:
            await asyncio.sleep(POLL_SECONDS)
        HOST_STOP.request("the end of the job")  # a unit still running stops after its boosting round
        await worker.finished()

    _quiet_dask_logs()
    with dask.config.set(layout.dask_settings()):
        asyncio.run(serve())


class LeaderCluster:
    """The first host's scheduler and worker (on a background event loop) and the client that drives them."""

    def __init__(self, layout: HostLayout, paths: SageMakerPaths) -> None:
        self.layout = layout
        self.paths = paths
        self.client: Client | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dask-leader", daemon=True)
        self._scheduler: Scheduler | None = None
        self._worker: Worker | None = None
        self._config = dask.config.set(layout.dask_settings())
        self._security_files = cluster_security(layout.cluster_secret, layout.current_host)
        self._security: Security | None = None

    def __enter__(self) -> LeaderCluster:
        _quiet_dask_logs()
        self._config.__enter__()
        self._security = self._security_files.__enter__()
        self._thread.start()
        host = listen_address(self.layout)
        try:
            self._call(self._start(host), timeout=120)
            self.client = Client(self._scheduler_address(host), timeout="60s", set_as_default=False,
                                 security=self._security)
            self._wait_for_hosts()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the client, the scheduler (which tells every worker to close) and this host's worker.

        Each step is bounded and a step that fails is logged, not raised, so the job's own outcome (its
        model, or the failure being reported) is what the process ends with, inside SageMaker's 120 s
        between SIGTERM and SIGKILL.
        """
        HOST_STOP.request("the end of the job")
        client, scheduler, worker = self.client, self._scheduler, self._worker
        steps: list[tuple[str, Any]] = []
        if client is not None:
            steps.append(("the client", lambda: client.close(timeout=10)))
        if scheduler is not None:
            steps.append(("the scheduler", lambda: self._call(scheduler.close(), timeout=30)))
        if worker is not None:
            steps.append(("this host's worker", lambda: self._call(worker.close(timeout=10), timeout=20)))
        for what, close in steps:
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the job's outcome
                logger.warning("Closing %s of the Dask cluster failed: %s: %s", what, type(exc).__name__, exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._security_files.__exit__(None, None, None)
        self._config.__exit__(None, None, None)

    def _scheduler_address(self, host: str) -> str:
        return f"{_scheme(self._security)}://{host}:{self.layout.scheduler_port}"

    async def _start(self, host: str) -> None:
        self._scheduler = Scheduler(host=host, port=self.layout.scheduler_port, dashboard=False,
                                    dashboard_address=f"{host}:0", protocol=_scheme(self._security),
                                    security=self._security)
        await self._scheduler
        self._worker = _worker(self._scheduler.address, host, self.layout, self.paths, self._security)
        await self._worker
        logger.info("Host %s: Dask scheduler on %s; waiting up to %g s for the workers of %s.",
                    self.layout.current_host, self._scheduler.address, self.layout.join_timeout,
                    ", ".join(self.layout.hosts[1:]))

    def _call(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _wait_for_hosts(self) -> None:
        deadline = time.monotonic() + self.layout.join_timeout
        while set(self.layout.hosts) - self.hosts_present():
            if time.monotonic() >= deadline:
                missing = sorted(set(self.layout.hosts) - self.hosts_present())
                msg = (
                    f"Host(s) {', '.join(missing)} did not join the Dask cluster on {self.layout.leader} "
                    f"within {self.layout.join_timeout:g} s."
                )
                raise PlatformError(msg)
            time.sleep(POLL_SECONDS)
        logger.info("All %d hosts joined the Dask cluster: %s.", len(self.layout.hosts),
                    ", ".join(self.layout.hosts))

    def _workers(self) -> dict[str, Any]:
        """The scheduler's workers now, asked of the scheduler itself.

        Not ``Client.scheduler_info()``: it returns the client's cached summary, which the client's own
        background refresh (every 2 s) overwrites with one that lists no worker at all; read at the
        wrong moment, every host seemed to have left the cluster.
        """
        assert self.client is not None and self.client.scheduler is not None
        identity = self.client.sync(self.client.scheduler.identity, n_workers=-1)
        return dict(identity["workers"])

    def hosts_present(self) -> set[str]:
        return {str(worker.get("name")) for worker in self._workers().values()}

    def worker_addresses(self) -> dict[str, str]:
        """Each host's worker address, by host name."""
        return {str(info.get("name")): address for address, info in self._workers().items()}

    def check_hosts(self) -> None:
        """A ``PlatformError`` naming the hosts whose workers left the cluster, if any did."""
        gone = sorted(set(self.layout.hosts) - self.hosts_present())
        if gone:
            msg = (
                f"Host {', '.join(gone)} left the Dask cluster during training (its worker died or lost "
                f"the network)"
            )
            raise PlatformError(msg)

    def wait(self, pending: Pending[T], stop: StopRequest) -> T:
        """``pending``'s result, every host checked to be still there between the asks and before a
        failure is passed on (a task lost with its host's worker fails as that host's failure)."""
        return wait_for_unit(pending, stop, check=self.check_hosts)

    def runner(self, context: UnitContext) -> ClusterUnitRunner:
        from ensemble_byoc.training.multihost.cluster_units import ClusterUnitRunner

        return ClusterUnitRunner(self, context)
