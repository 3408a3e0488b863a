"""The units of a job, fold by fold (the second phase of ``job.run_training``): each unit resumed from its
checkpoint or asked of the runner, checkpointed, and the blend refitted and reported after every fold."""

from __future__ import annotations

import logging
from typing import TextIO

import numpy as np

from ensemble_byoc.bundle.ensemble import blend
from ensemble_byoc.contract.logs import CV_METRIC_PREFIX, METRIC_PREFIX
from ensemble_byoc.errors import PlatformError, TrainingStoppedError
from ensemble_byoc.training.blending import BlendResult, fit_blend
from ensemble_byoc.training.metric_lines import emit_metric, ensemble_metric_name, library_metric_name
from ensemble_byoc.training.plan import JobState, UnitKey
from ensemble_byoc.training.scores import get_metric, metrics_for
from ensemble_byoc.training.stopping import expected_seconds, fold_starts
from ensemble_byoc.training.units import UnitResult

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job


def run_units(job: JobState, stream: TextIO | None) -> BlendResult:
    """Every planned unit in fold order, until the folds end or ``time_limit`` has no room for the next
    one; the blend of the last fold. A stop request or a platform failure checkpoints the finished units
    (a cluster's too) and fails the job."""
    job.runner.submit([w for key, w in job.work.items() if key not in job.resumed], job.budget)
    try:
        for fold in job.folds:
            if fold.index > 0 and not _next_fold_fits(job, fold.index):
                break
            for member in job.members:
                result = _unit_result(job, (fold.index, member.name))
                job.results.append(result)
                job.oof[member.name][fold.valid_rows] = result.oof_prediction
            job.covered[fold.valid_rows] = True
            blended = blend_and_report(job, stream)
    except (TrainingStoppedError, PlatformError):
        if job.store:
            _keep_finished(job)
        raise
    finally:
        job.runner.cancel()
    return blended


def _unit_result(job: JobState, key: UnitKey) -> UnitResult:
    """Unit ``key``, from its checkpoint or from the runner (then checkpointed unless cut short)."""
    fold, name = key
    if job.stop.requested:
        raise job.stopped()
    result = job.resumed.get(key)
    if result is not None:
        logger.info("unit %d of %d: %s fold %d: resumed from checkpoint (best_iteration=%d %s=%.6f)",
                    len(job.results) + 1, job.total, name, fold, result.best_iteration, job.metric.name,
                    result.score)
        return result
    try:
        outcome = job.runner.run(job.work[key], job.budget.unit_deadline(job.total - len(job.results),
                                                                         _later_seconds(job, key)))
    except PlatformError as exc:
        msg = f"{exc}; {job.kept()}."
        raise PlatformError(msg) from exc
    except TrainingStoppedError:
        raise job.stopped() from None
    if job.stop.requested:
        raise job.stopped()
    result = outcome.result
    logger.info("unit %d of %d: %s fold %d: best_iteration=%d %s=%.6f seconds=%.2f%s%s",
                len(job.results) + 1, job.total, name, fold, result.best_iteration, job.metric.name,
                result.score, result.seconds, " (cut short by time_limit)" if outcome.hit_deadline else "",
                f" on {outcome.host}" if outcome.host else "")
    if outcome.hit_deadline:
        job.cut_units += 1
    elif job.store:
        job.store.save(result, job.fingerprints[key])
    return result


def _later_seconds(job: JobState, key: UnitKey) -> float | None:
    """What the planned units after ``key`` are expected to take (``stopping.expected_seconds``)."""
    if job.budget.limit is None:
        return None
    fold, name = key
    return expected_seconds([(r.unit.name, r.seconds) for r in job.results], [m.name for m in job.members],
                            name, job.config.k_fold - fold - 1, job.budget.remaining())


def _next_fold_fits(job: JobState, fold: int) -> bool:
    """Whether another fold is expected to finish inside ``time_limit``; logs what is dropped if not."""
    budget = job.budget
    if budget.limit is None:
        return True
    fold_seconds = sum(r.seconds for r in job.results) / fold
    left = budget.remaining()
    if fold_seconds <= left:
        return True
    if fold_starts(fold_seconds, left):
        logger.info("time_limit %g s: %.1f s left for training and a fold takes about %.1f s: fold %d "
                    "starts, its units cut to fit.", budget.limit, left, fold_seconds, fold)
        return True
    k_fold = job.config.k_fold
    dropped = (k_fold - fold) * len(job.members)
    logger.warning(
        "time_limit %g s: %.1f s left for training and a fold takes about %.1f s, so folds %d-%d "
        "(%d of %d units) are dropped; the ensemble keeps %d fold models per library.",
        budget.limit, max(left, 0.0), fold_seconds, fold, k_fold - 1, dropped, job.total, fold,
    )
    return False


def _keep_finished(job: JobState) -> None:
    """Checkpoint the units a cluster finished ahead of the fold being reported, before the job fails."""
    assert job.store is not None
    for work, outcome in job.runner.finished():
        if not outcome.hit_deadline:
            job.store.save(outcome.result, job.fingerprints[(work.unit.fold, work.unit.name)])


def blend_and_report(job: JobState, stream: TextIO | None) -> BlendResult:
    """Fit the blend on the rows held out so far and print each library's and the blend's scores (again,
    for the plan served, when ``presets=best`` trained two).

    Every metric of the task gets a line; the blend optimises ``eval_metric``, whose ensemble line is the
    blend's (honest) score. The last ensemble line of a job is therefore the final blend's score. With
    hold-out rows the lines are named ``cv-<metric>`` (``validation-`` is then the hold-out score's).
    """
    task = job.task
    seen = {library: prediction[job.covered] for library, prediction in job.oof.items()}
    target = job.data.y[job.covered]
    blended = fit_blend(job.config.blend, seen, target, get_metric(task.problem_type, task.eval_metric),
                        seed=job.config.seed)
    ensemble_prediction = blend(seen, blended.weights)
    prefix = CV_METRIC_PREFIX if job.holdout is not None else METRIC_PREFIX
    for name in metrics_for(task.problem_type):
        metric = get_metric(task.problem_type, name)
        for library, prediction in seen.items():
            _emit_finite(library_metric_name(name, library, prefix), metric.score(target, prediction), stream)
        value = blended.score if name == task.eval_metric else metric.score(target, ensemble_prediction)
        _emit_finite(ensemble_metric_name(name, prefix), value, stream)
    return blended


def _emit_finite(name: str, value: float, stream: TextIO | None) -> None:
    if np.isfinite(value):
        emit_metric(name, value, stream)
