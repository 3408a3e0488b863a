"""A training job end to end: plan (``plan``) -> run the units fold by fold (``fold_loop``) -> finish
(``finish``: the served models, the model directory and the reports)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from ensemble_byoc.contract.disk_space import DiskUsage
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.best_preset import train_best_of_two
from ensemble_byoc.training.blending import BlendResult
from ensemble_byoc.training.channels import HOLDOUT, load_holdout_channel, load_training_data
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.finish import TrainingResult, finish_job
from ensemble_byoc.training.fold_loop import run_units
from ensemble_byoc.training.holdout import holdout_rows
from ensemble_byoc.training.plan import JobState, plan_job
from ensemble_byoc.training.runners import DataLoader, LocalUnitRunner, UnitContext, UnitRunner
from ensemble_byoc.training.stopping import StopRequest, TimeBudget

__all__ = ["TrainingResult", "run_training"]


def run_training(
    paths: SageMakerPaths,
    config: TrainConfig,
    *,
    input_data_config: Mapping[str, Any],
    n_threads: int,
    metric_stream: TextIO | None = None,
    stop: StopRequest | None = None,
    runner_factory: Callable[[UnitContext], UnitRunner] | None = None,
    loader: DataLoader = load_training_data,
    disk_usage: DiskUsage = shutil.disk_usage,
) -> TrainingResult:
    """Train every (library, fold) unit, report out-of-fold scores, and save the model and reports.

    Units run fold by fold. With a checkpoint folder, finished units are saved there and reused by a
    rerun. With ``time_limit``, each unit may use what the units after it are not expected to need (never
    less than an even share), a save reserve is kept back (``TimeBudget.reserve``), a fold starts when most
    of its time is left (``stopping.fold_starts``) and the folds after are dropped, so the job ends inside
    its budget with the folds it finished. A ``stop`` request
    (SIGTERM) ends the job after the current boosting round with ``TrainingStoppedError``.
    ``n_threads`` is the number of usable cores; small data sets train on fewer (``training_threads``).
    ``runner_factory`` makes what runs the units (a Dask cluster in a multi-host job); by default they
    run here, one at a time. Either way the results are gathered, reported and blended fold by fold.
    ``loader`` reads the channels (a sharded job leaves the rows on the hosts that loaded them).
    The model is saved before the reports; free space for both is checked first (``disk_usage``).
    With ``validation_mode`` holdout the validation rows stay out of training and score the saved model.
    With ``presets=best`` the default plan trains first and is served unless the best plan, trained in the
    time left, finishes and scores better out of fold (``training.best_preset``).
    """
    stop = stop if stop is not None else StopRequest()
    budget = TimeBudget(config.time_limit)
    raw = loader(paths, config, input_data_config)
    budget.rows = raw.n_rows
    holdout = None
    if config.validation_mode == HOLDOUT:
        holdout = load_holdout_channel(paths, config, input_data_config)

    def run_plan(plan: TrainConfig, checkpoint_folder: str) -> tuple[JobState, BlendResult]:
        job = plan_job(paths, plan, raw, n_threads, stop, budget, runner_factory or LocalUnitRunner,
                       checkpoint_folder)
        if holdout is not None:
            job.holdout = holdout_rows(holdout, job.data, job.task)
        return job, run_units(job, metric_stream)

    fallback = config.default_plan()
    if fallback is None:
        job, blended = run_plan(config, "")
    else:
        job, blended = train_best_of_two(run_plan, config, fallback, budget, metric_stream)
    return finish_job(job, blended, disk_usage, metric_stream)
