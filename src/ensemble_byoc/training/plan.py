"""A job's plan (the first phase of ``job.run_training``): the task, the folds, every (member, fold) unit,
the units a checkpoint already holds, and the ``JobState`` the later phases share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ensemble_byoc.contract.cpus import training_threads, unit_slots
from ensemble_byoc.contract.memory import address_space_limit
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import TrainingStoppedError
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.checkpoints import CheckpointStore, unit_fingerprint
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.portfolio import Member
from ensemble_byoc.training.runners import TrainingRows, UnitContext, UnitRunner, UnitWork
from ensemble_byoc.training.scores import MULTICLASS, REGRESSION, Metric, get_metric, zero_labels
from ensemble_byoc.training.stopping import StopRequest, TimeBudget
from ensemble_byoc.training.task import Task, resolve_task
from ensemble_byoc.training.units import Fold, TrainingUnit, UnitResult, make_folds

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job

UnitKey = tuple[int, str]
"""A unit's fold index and member name."""


@dataclass
class JobState:
    """What the phases of one job share: settings, data and task, the planned units and their runner,
    checkpoints and budget, and what the units have produced so far (results, out-of-fold predictions
    and the rows they cover)."""

    paths: SageMakerPaths
    config: TrainConfig
    data: Any
    """The job's rows with the label encoded for the task: a ``Dataset``, or ``TrainingRows`` in general."""
    task: Task
    metric: Metric
    folds: list[Fold]
    members: list[Member]
    params: BoosterParams
    n_threads: int
    stop: StopRequest
    budget: TimeBudget
    store: CheckpointStore | None
    runner: UnitRunner
    work: dict[UnitKey, UnitWork]
    fingerprints: dict[UnitKey, str]
    oof: dict[str, np.ndarray]
    covered: np.ndarray
    resumed: dict[UnitKey, UnitResult] = field(default_factory=dict)
    results: list[UnitResult] = field(default_factory=list)
    holdout: Dataset | None = None
    """The validation rows the served ensemble is scored on (``validation_mode`` holdout), else ``None``."""
    cut_units: int = 0
    """Units cut short by their ``time_limit`` share."""
    plans: dict[str, Any] | None = None
    """``presets=best``: each plan's out-of-fold score and which one is served (``training.best_preset``)."""

    @property
    def total(self) -> int:
        """How many units the job plans: every member on every fold."""
        return len(self.members) * self.config.k_fold

    def kept(self) -> str:
        """What of the finished work survives a failure, for its message."""
        return (
            f"finished units are checkpointed in {self.store.units_dir}; rerun with the same checkpoints to "
            "resume"
            if self.store
            else "no checkpoint folder, so a rerun starts over"
        )

    def stopped(self) -> TrainingStoppedError:
        return TrainingStoppedError(
            f"Training stopped by {self.stop.reason} after {len(self.results)} of {self.total} units; "
            f"{self.kept()}."
        )


def plan_job(
    paths: SageMakerPaths,
    config: TrainConfig,
    raw: TrainingRows,
    cpus: int,
    stop: StopRequest,
    budget: TimeBudget,
    runner_factory: Callable[[UnitContext], UnitRunner],
    checkpoint_folder: str = "",
) -> JobState:
    """Resolve the task from the label, draw the folds, make the runner and find the checkpointed units
    (in ``checkpoint_folder`` of the checkpoint directory: a plan of its own keeps its units apart).
    ``cpus`` is what the job may use; each unit gets its share (``contract.cpus.training_threads``)."""
    logger.info("Training data: %d rows, %d features, label %r.", raw.n_rows, len(raw.feature_names),
                raw.target_name)
    task, labels = resolve_task(raw.y, config.problem_type, config.eval_metric, config.objective)
    data = replace(raw, y=labels)  # type: ignore[type-var]  # every loader's rows are a dataclass
    metric = get_metric(task.problem_type, task.eval_metric)
    if task.problem_type == REGRESSION and (zeros := zero_labels(labels)):
        logger.info("mape is computed over the %d rows whose label is not 0 (%d rows with label 0 are left "
                    "out).", data.n_rows - zeros, zeros)
    folds = make_folds(data.n_rows, config.k_fold, config.seed,
                       classes=labels if task.is_classification else None, class_names=task.classes)
    n_threads = training_threads(data.n_rows, cpus)
    slots = 1 if _one_at_a_time(config) else unit_slots(cpus, n_threads)
    members = config.members()
    params = config.booster_params(task, data.n_rows)
    checkpoints = paths.checkpoint_dir
    store = CheckpointStore(checkpoints / checkpoint_folder) if checkpoints.is_dir() else None
    digest = data.digest() if store else ""
    if config.validation_mode != "cv":  # a cv-mode checkpoint is never resumed in another mode
        digest = f"{digest}:{config.validation_mode}"
    width = (data.n_rows, task.n_classes) if task.problem_type == MULTICLASS else (data.n_rows,)
    _log_plan(config, members, n_threads, slots, store)
    runner = runner_factory(UnitContext(data, params, n_threads, task, stop, slots))
    work = {(fold.index, member.name): UnitWork(TrainingUnit(member.library, fold.index, member.name), fold,
                                                member.overrides)
            for fold in folds for member in members}
    fingerprints = {key: unit_fingerprint(digest, config, w.unit, task, w.overrides) if store else ""
                    for key, w in work.items()}
    oof = {member.name: np.full(width, np.nan) for member in members}
    job = JobState(paths, config, data, task, metric, folds, members, params, n_threads, stop, budget, store,
                   runner, work, fingerprints, oof, covered=np.zeros(data.n_rows, dtype=bool))
    job.resumed = _resumed(job)
    return job


def _one_at_a_time(config: TrainConfig) -> bool:
    """Units wait for each other under ``time_limit`` (each one's share is set when it starts) and under
    an address-space limit (each thread side by side reserves a stack and a heap arena of its own, enough
    to make an OpenMP runtime's thread creation abort the process near the limit)."""
    return bool(config.time_limit) or address_space_limit() is not None


def _log_plan(
    config: TrainConfig, members: list[Member], n_threads: int, slots: int, store: CheckpointStore | None
) -> None:
    logger.info("Plan: %d units (%s x %d folds), %d thread(s) each, %s%s.",
                len(members) * config.k_fold, ", ".join(member.name for member in members),
                config.k_fold, n_threads, "one at a time" if slots == 1 else f"up to {slots} side by side",
                f", time_limit {config.time_limit:g} s" if config.time_limit else "")
    if store:
        logger.info("Checkpoints: finished units are kept in %s; units found there are resumed.",
                    store.units_dir)


def _resumed(job: JobState) -> dict[UnitKey, UnitResult]:
    """The units whose checkpoints match this job (a mismatched or damaged one is logged and retrained)."""
    store = job.store
    if store is None:
        return {}
    return {key: found for key, w in job.work.items()
            if (found := store.load(w.unit, job.fingerprints[key], w.fold, job.data, job.n_threads,
                                    job.metric, task=job.task))}
