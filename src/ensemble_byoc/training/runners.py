"""What runs a job's units: the contract a runner plugs into, and the single-host runner.

The job (``job.run_training``) asks a ``UnitRunner`` for each unit's ``UnitOutcome`` in fold order; the
multi-host runners (``multihost.cluster_units``, ``multihost.sharded``) implement the same contract, and
a ``DataLoader`` that leaves the rows on the hosts (``multihost.sharded_data``) hands the job
``TrainingRows`` instead of a ``Dataset``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import TrainingStoppedError
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.stopping import StopRequest, TimeBudget, UnitGuard
from ensemble_byoc.training.task import Task
from ensemble_byoc.training.units import Fold, TrainingUnit, UnitResult, fit_unit


@dataclass(frozen=True)
class UnitWork:
    """One unit to train: which member, on which fold, with the member's own overrides."""

    unit: TrainingUnit
    fold: Fold
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class UnitOutcome:
    result: UnitResult
    hit_deadline: bool
    """The unit was cut short by its ``time_limit`` share (it is then not checkpointed)."""
    host: str = ""
    """The host that trained it, in a multi-host job."""


class TrainingRows(Protocol):
    """What the fold loop needs of a job's data: ``Dataset`` in memory, or ``sharded_data.ShardedData``
    whose rows stay on the hosts that loaded them."""

    @property
    def y(self) -> np.ndarray: ...
    @property
    def feature_names(self) -> tuple[str, ...]: ...
    @property
    def target_name(self) -> str: ...
    @property
    def categories(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def n_rows(self) -> int: ...
    def digest(self) -> str: ...


DataLoader = Callable[[SageMakerPaths, TrainConfig, Mapping[str, Any]], TrainingRows]


@dataclass(frozen=True)
class UnitContext:
    """What every unit of a job shares: the data, the settings, the threads per unit and the stop request."""

    data: Any
    """A ``Dataset`` for the runners that hold the rows; ``TrainingRows`` in general."""
    params: BoosterParams
    n_threads: int
    task: Task
    stop: StopRequest
    slots: int = 1
    """How many units this host trains side by side (``contract.cpus.unit_slots``; 1 under ``time_limit``)."""


class UnitRunner(Protocol):
    """Runs the units of a job: in this process (``LocalUnitRunner``), or on a cluster's workers
    (``ensemble_byoc.training.multihost.cluster``)."""

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        """Announce every unit the job will ask for, in order (a runner with room for several starts them
        all at once)."""

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        """The outcome of one submitted unit; ``deadline`` is the clock value a unit started now should
        end by."""

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        """Units that finished but were not asked for yet (kept as checkpoints when a job fails)."""

    def cancel(self) -> None:
        """Drop the units not asked for (folds dropped by ``time_limit``, a failed job)."""


POLL_SECONDS = 0.5
"""How often a runner waiting for a unit (or a host) looks at the stop request and the hosts."""

FETCH_SECONDS = 120.0
"""How long a finished unit's result has to arrive (a Dask result travels from the host that ran it)."""

WAIT_TIMEOUTS = (TimeoutError, futures.TimeoutError, asyncio.TimeoutError)
"""What a wait with a timeout raises: three classes before Python 3.11 (one since), the first two of
which a thread pool's and Dask's futures raise."""

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """A result on its way: a Dask future, or a ``concurrent.futures`` one (a pool's or a helper thread's)."""

    def result(self, timeout: float | None = None) -> T_co: ...

    def done(self) -> bool: ...


def wait_for_unit(pending: Pending[T], stop: StopRequest, check: Callable[[], None] | None = None) -> T:
    """The result of a unit running elsewhere, asked for every ``POLL_SECONDS`` while it runs. Between the
    asks, ``check()`` (the cluster's host check) and the stop request (SIGTERM: stop waiting, and the units
    still running stop after their current round).

    Whether the unit has finished is asked before each ask, never after a timeout: a wait that runs out
    as the unit ends (or while its result travels from its host) only asks again, and a finished unit's
    failure, a timeout error of its own included, is passed on after ``check()``: a unit lost with its
    host fails as that host's failure."""
    while True:
        finished = pending.done()
        try:
            return pending.result(timeout=FETCH_SECONDS if finished else POLL_SECONDS)
        except Exception as exc:
            if check is not None:
                check()
            if finished or not isinstance(exc, WAIT_TIMEOUTS):
                raise
            if stop.requested:
                msg = f"stopped by {stop.reason}"
                raise TrainingStoppedError(msg) from None


class LocalUnitRunner:
    """The single-host runner: units side by side, ``context.slots`` at a time in threads of this process
    (small data, whose units leave cores idle), else one at a time as each is asked for.

    Side by side, every unit is submitted at once, started in the order submitted and gathered in the
    order asked; each model is the one the unit trains alone (same rows, seed and threads).
    """

    def __init__(self, context: UnitContext) -> None:
        self.context = context
        self.metric = get_metric(context.task.problem_type, context.task.eval_metric)
        self.pool: ThreadPoolExecutor | None = None
        self.pending: dict[tuple[int, str], tuple[UnitWork, Future[UnitOutcome]]] = {}
        self.cancelled = StopRequest()
        """Set by ``cancel``: the units still running stop after their current round."""
        self.stopped: set[tuple[int, str]] = set()
        """Units side by side that a stop request or ``cancel`` ended early (never kept)."""

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        del budget  # never side by side under time_limit (``plan_job`` gives the context one slot)
        if self.context.slots < 2 or len(work) < 2:
            return  # each unit starts when it is asked for
        self.pool = ThreadPoolExecutor(self.context.slots, thread_name_prefix="unit")
        for item in work:
            self.pending[_key(item)] = (item, self.pool.submit(self._fit_side_by_side, item))

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        submitted = self.pending.pop(_key(work), None)
        if submitted is None:
            guard = UnitGuard(self.context.stop, deadline)
            return UnitOutcome(self._fit(work, guard), guard.hit_deadline)
        return wait_for_unit(submitted[1], self.context.stop)

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        return [(work, future.result()) for key, (work, future) in self.pending.items()
                if future.done() and not future.cancelled() and future.exception() is None
                and key not in self.stopped]

    def cancel(self) -> None:
        if self.pool is not None:
            self.cancelled.request("the job's end")
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def _fit(self, work: UnitWork, guard: Callable[[], bool]) -> UnitResult:
        return fit_unit(work.unit, self.context.data, work.fold, self.context.params, work.overrides,
                        self.context.n_threads, guard, self.metric)

    def _fit_side_by_side(self, work: UnitWork) -> UnitOutcome:
        """One unit in a pool thread; its guard also answers ``cancel``, and marks the unit if it fires."""
        stops = (self.context.stop, self.cancelled)

        def guard() -> bool:
            if any(stop.requested for stop in stops):
                self.stopped.add(_key(work))
                return True
            return False

        return UnitOutcome(self._fit(work, guard), hit_deadline=False)


def _key(work: UnitWork) -> tuple[int, str]:
    return work.unit.fold, work.unit.name
