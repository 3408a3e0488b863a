"""What runs a job's units: the contract a runner plugs into, and the single-host runner.

The job (``job.run_training``) asks a ``UnitRunner`` for each unit's ``UnitOutcome`` in fold order; the
multi-host runners (``multihost.cluster_units``, ``multihost.sharded``) implement the same contract, and
a ``DataLoader`` that leaves the rows on the hosts (``multihost.sharded_data``) hands the job
``TrainingRows`` instead of a ``Dataset``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ensemble_byoc.contract.paths import SageMakerPaths
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


class UnitRunner(Protocol):
    """Runs the units of a job: here one after another, or on a cluster's workers
    (``ensemble_byoc.training.multihost.cluster``)."""

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        """Announce every unit the job will ask for, in order (a cluster starts them all at once)."""

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        """The outcome of one submitted unit; ``deadline`` is the clock value a unit started now should
        end by."""

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        """Units that finished but were not asked for yet (kept as checkpoints when a job fails)."""

    def cancel(self) -> None:
        """Drop the units not asked for (folds dropped by ``time_limit``, a failed job)."""


class LocalUnitRunner:
    """One unit at a time in this process, with all of its threads: the single-host job."""

    def __init__(self, context: UnitContext) -> None:
        self.context = context
        self.metric = get_metric(context.task.problem_type, context.task.eval_metric)

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        del work, budget  # each unit starts when it is asked for

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        guard = UnitGuard(self.context.stop, deadline)
        result = fit_unit(work.unit, self.context.data, work.fold, self.context.params, work.overrides,
                          self.context.n_threads, guard, self.metric)
        return UnitOutcome(result, guard.hit_deadline)

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        return []

    def cancel(self) -> None:
        pass
