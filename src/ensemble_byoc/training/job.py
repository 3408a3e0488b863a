"""A training job end to end: channels -> k-fold units -> blend -> model directory and reports."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TextIO

import numpy as np

from ensemble_byoc.bundle.artifacts import save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble, blend
from ensemble_byoc.contract.cpus import training_threads
from ensemble_byoc.contract.disk_space import DiskUsage
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import PlatformError, TrainingStoppedError, UserError
from ensemble_byoc.models.base import BoosterParams, Model
from ensemble_byoc.training.blending import BlendResult, fit_blend
from ensemble_byoc.training.checkpoints import CheckpointStore, unit_fingerprint
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import (
    Dataset,
    channel_format,
    check_input_mode,
    concat_datasets,
    list_data_files,
    load_channel,
)
from ensemble_byoc.training.metric_lines import emit_metric, ensemble_metric_name, library_metric_name
from ensemble_byoc.training.portfolio import Member
from ensemble_byoc.training.report import REPORT_SECONDS, feature_importance, leaderboard, write_insight
from ensemble_byoc.training.report_files import ReportFiles, report_bytes
from ensemble_byoc.training.scores import MULTICLASS, REGRESSION, get_metric, metrics_for
from ensemble_byoc.training.stopping import StopRequest, TimeBudget, UnitGuard
from ensemble_byoc.training.task import Task, resolve_task
from ensemble_byoc.training.units import (
    Fold,
    TrainingUnit,
    UnitResult,
    fit_unit,
    make_folds,
    refit_on_all_rows,
)

logger = logging.getLogger(__name__)

TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"


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
    """What the fold loop needs of a job's data: ``Dataset`` in memory, or ``sharded.ShardedData`` whose
    rows stay on the hosts that loaded them."""

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


@dataclass(frozen=True)
class TrainingResult:
    """What a finished job produced, in memory: the fitted ensemble and its out-of-fold scores."""

    ensemble: Ensemble
    manifest: dict[str, Any]
    cv_score: float
    library_scores: dict[str, float]
    units: list[UnitResult]


def load_training_data(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any]
) -> Dataset:
    """The ``train`` channel, joined by the ``validation`` channel's rows when that channel has data.

    With k-fold cross-validation every row is held out once, so validation rows join the pool rather
    than being scored a second time.
    """
    for name in sorted(set(input_data_config) - {TRAIN_CHANNEL, VALIDATION_CHANNEL}):
        logger.warning("Channel %r is not used by this image; only 'train' and 'validation' are read.", name)
    for name in (TRAIN_CHANNEL, VALIDATION_CHANNEL):
        check_input_mode(input_data_config, name, paths.data_dir)
    numeric_label = config.problem_type == REGRESSION
    train = load_channel(
        paths.channel(TRAIN_CHANNEL),
        channel=TRAIN_CHANNEL,
        file_format=channel_format(input_data_config, TRAIN_CHANNEL),
        target=config.target,
        numeric_label=numeric_label,
        label_check=config.label_check,
    )
    validation_dir = paths.channel(VALIDATION_CHANNEL)
    declared = VALIDATION_CHANNEL in input_data_config
    if not declared and not (validation_dir.is_dir() and list_data_files(validation_dir)):
        return train
    validation = load_channel(
        validation_dir,
        channel=VALIDATION_CHANNEL,
        file_format=channel_format(input_data_config, VALIDATION_CHANNEL),
        target=config.target,
        numeric_label=numeric_label,
        label_check=config.label_check,
    )
    return join_channels(train, validation)


def join_channels(train: Dataset, validation: Dataset) -> Dataset:
    """The training rows followed by the validation rows, which must have the same columns."""
    if validation.feature_names != train.feature_names or validation.target_name != train.target_name:
        raise UserError(
            f"Channels 'train' and 'validation' have different columns: "
            f"{[train.target_name, *train.feature_names]} vs "
            f"{[validation.target_name, *validation.feature_names]}."
        )
    logger.info("Validation channel: %d rows join the %d training rows for cross-validation.",
                validation.n_rows, train.n_rows)
    return concat_datasets(train, validation)


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
    rerun. With ``time_limit``, each unit gets an even share of the time left, and folds that no longer
    fit are dropped, so the job ends inside its budget with the folds it finished. A ``stop`` request
    (SIGTERM) ends the job after the current boosting round with ``TrainingStoppedError``.
    ``n_threads`` is the number of usable cores; small data sets train on fewer (``training_threads``).
    ``runner_factory`` makes what runs the units (a Dask cluster in a multi-host job); by default they
    run here, one at a time. Either way the results are gathered, reported and blended fold by fold.
    ``loader`` reads the channels (a sharded job leaves the rows on the hosts that loaded them).
    The model is saved before the reports; free space for both is checked first (``disk_usage``).
    """
    stop = stop if stop is not None else StopRequest()
    budget = TimeBudget(config.time_limit)
    raw = loader(paths, config, input_data_config)
    logger.info("Training data: %d rows, %d features, label %r.", raw.n_rows, len(raw.feature_names),
                raw.target_name)
    task, labels = resolve_task(raw.y, config.problem_type, config.eval_metric)
    data = replace(raw, y=labels)
    metric = get_metric(task.problem_type, task.eval_metric)
    folds = make_folds(data.n_rows, config.k_fold, config.seed,
                       classes=labels if task.is_classification else None, class_names=task.classes)
    n_threads = training_threads(data.n_rows, n_threads)
    members = config.members()
    total = len(members) * config.k_fold
    params = config.booster_params(task)
    store = CheckpointStore(paths.checkpoint_dir) if paths.checkpoint_dir.is_dir() else None
    digest = data.digest() if store else ""
    width = (data.n_rows, task.n_classes) if task.problem_type == MULTICLASS else (data.n_rows,)
    oof = {member.name: np.full(width, np.nan) for member in members}
    covered = np.zeros(data.n_rows, dtype=bool)
    results: list[UnitResult] = []
    logger.info("Plan: %d units (%s x %d folds), %d thread(s) each, one at a time%s.", total,
                ", ".join(member.name for member in members),
                config.k_fold, n_threads,
                f", time_limit {config.time_limit:g} s" if config.time_limit else "")
    if store:
        logger.info("Checkpoints: finished units are kept in %s; units found there are resumed.",
                    store.units_dir)
    runner = (runner_factory or LocalUnitRunner)(UnitContext(data, params, n_threads, task, stop))
    work = {(fold.index, member.name): UnitWork(TrainingUnit(member.library, fold.index, member.name), fold,
                                                member.overrides)
            for fold in folds for member in members}
    fingerprints = {key: unit_fingerprint(digest, config, w.unit, task, w.overrides) if store else ""
                    for key, w in work.items()}
    resumed = {key: found for key, w in work.items()
               if store and (found := store.load(w.unit, fingerprints[key], w.fold, data, n_threads, metric,
                                                 task=task))}
    runner.submit([w for key, w in work.items() if key not in resumed], budget)
    try:
        for fold in folds:
            if fold.index > 0 and not _next_fold_fits(budget, results, fold.index, total, config.k_fold,
                                                      len(members)):
                break
            for member in members:
                key = (fold.index, member.name)
                if stop.requested:
                    raise _stopped(stop, results, total, store)
                result = resumed.get(key)
                if result is not None:
                    logger.info("unit %d of %d: %s fold %d: "
                                "resumed from checkpoint (best_iteration=%d %s=%.6f)",
                                len(results) + 1, total, member.name, fold.index, result.best_iteration,
                                metric.name, result.score)
                else:
                    try:
                        outcome = runner.run(work[key], budget.unit_deadline(total - len(results)))
                    except PlatformError as exc:
                        raise PlatformError(f"{exc}; {_kept(store)}.") from exc
                    except TrainingStoppedError:
                        raise _stopped(stop, results, total, store) from None
                    if stop.requested:
                        raise _stopped(stop, results, total, store)
                    result = outcome.result
                    logger.info("unit %d of %d: %s fold %d: best_iteration=%d %s=%.6f seconds=%.2f%s%s",
                                len(results) + 1, total, member.name, fold.index, result.best_iteration,
                                metric.name, result.score, result.seconds,
                                " (cut short by time_limit)" if outcome.hit_deadline else "",
                                f" on {outcome.host}" if outcome.host else "")
                    if store and not outcome.hit_deadline:
                        store.save(result, fingerprints[key])
                results.append(result)
                oof[member.name][fold.valid_rows] = result.oof_prediction
            covered[fold.valid_rows] = True
            blended = _blend_and_report(config, task, data.y, oof, covered, metric_stream)
    except (TrainingStoppedError, PlatformError):
        if store:
            _keep_finished(store, runner, fingerprints)
        raise
    finally:
        runner.cancel()

    folds_trained = len(results) // len(members)
    scored = {library: prediction[covered] for library, prediction in oof.items()}
    library_scores = {library: metric.score(data.y[covered], prediction)
                      for library, prediction in scored.items()}
    oof_ensemble = blend(scored, blended.weights)
    cv_score = blended.score
    served = {lib: weight for lib, weight in blended.weights.items() if weight > 0}
    logger.info("Blend: %s; served: %s.", blended.describe(), ", ".join(served))
    served_models = {name: [r.model for r in results if r.unit.name == name] for name in served}
    served_form = "folds"
    if config.refit_full:
        by_name = {member.name: member for member in members}
        refitted = _refit_full(config, data, params, results, [by_name[n] for n in served], n_threads, budget,
                               stop, total, store)
        if refitted is not None:
            served_models, served_form = refitted, "refit_full"
    ensemble = Ensemble(feature_names=data.feature_names, members=served_models, weights=served,
                        problem_type=task.problem_type, classes=task.classes, categories=data.categories)
    cv_summary = {
        "metric": metric.name,
        "k_fold": config.k_fold,
        "folds_trained": folds_trained,
        "seed": config.seed,
        "n_rows": data.n_rows,
        "rows_scored": int(covered.sum()),
        "score": cv_score,
        "library_scores": library_scores,
        "blend": {"method": blended.method, "weights": blended.weights, "fallback": blended.fallback},
    }
    reports = ReportFiles(paths.output_data_dir, disk_usage)
    reports.check_space(report_bytes(int(covered.sum()), 2 + (len(scored) + 1) * max(task.n_classes, 1)))
    manifest = save_bundle(
        paths.model_dir,
        ensemble,
        blend_method=blended.method,
        file_stem="full" if served_form == "refit_full" else "fold",
        extra={
            "served_form": served_form,
            "problem_type": task.problem_type,
            "task": task.to_dict(),
            "target": data.target_name,
            "categories": {name: list(levels) for name, levels in data.categories.items()},
            "cv": cv_summary,
            "config": config.to_dict(),
        },
        disk_usage=disk_usage,
    )
    with reports:
        _write_reports(reports, data, task, covered, scored, oof_ensemble, results, cv_summary)
        write_insight(
            reports,
            task=task,
            board=leaderboard(library_scores, results, blended.weights, cv_score, metric.name,
                              metric.greater_is_better),
            importance=feature_importance(results, data.feature_names, blended.weights),
            weights=blended.weights,
            y=data.y[covered],
            oof_ensemble=oof_ensemble,
            with_report=_report_fits(budget),
        )
    logger.info("Cross-validated %s of the ensemble: %.6f (%s).", metric.name, cv_score,
                ", ".join(f"{lib} {score:.6f}" for lib, score in library_scores.items()))
    if config.time_limit is not None:
        logger.info("time_limit %g s: the job took %.1f s.", config.time_limit, budget.elapsed())
    return TrainingResult(ensemble, manifest, cv_score, library_scores, results)


def _refit_full(
    config: TrainConfig,
    data: Dataset,
    params: BoosterParams,
    results: list[UnitResult],
    served: list[Member],
    n_threads: int,
    budget: TimeBudget,
    stop: StopRequest,
    total: int,
    store: CheckpointStore | None,
) -> dict[str, list[Model]] | None:
    """One model per served member on all rows, or ``None`` when ``time_limit`` leaves no room (logged)."""
    models: dict[str, list[Model]] = {}
    for member in served:
        units = [r for r in results if r.unit.name == member.name]
        rounds = round(float(np.mean([r.best_iteration for r in units])))
        needed = float(np.mean([r.seconds for r in units])) * config.k_fold / max(config.k_fold - 1, 1)
        if needed > budget.remaining():
            logger.warning("refit_full skipped: about %.1f s needed for %s, %.1f s left of time_limit; "
                           "the fold models are served.", needed, member.name, max(budget.remaining(), 0.0))
            return None
        started = time.perf_counter()
        model = refit_on_all_rows(member.library, data, params, member.overrides, n_threads, rounds,
                                  UnitGuard(stop, None))
        if stop.requested:
            raise _stopped(stop, results, total, store)
        logger.info("refit_full: %s on all %d rows with %d rounds "
                    "(the folds' mean best iteration) in %.2f s.",
                    member.name, data.n_rows, rounds, time.perf_counter() - started)
        models[member.name] = [model]
    logger.info("refit_full: one model per member is served; the reported CV score is the fold models' "
                "(a model trained on every row has no held-out rows left to score it).")
    return models


def _report_fits(budget: TimeBudget) -> bool:
    if budget.left() - budget.reserve >= REPORT_SECONDS:
        return True
    logger.warning("report.html skipped: %.1f s left of time_limit; the JSON reports are written.",
                   budget.left())
    return False


def _next_fold_fits(
    budget: TimeBudget, results: list[UnitResult], fold: int, total: int, k_fold: int, n_libraries: int
) -> bool:
    """Whether another fold is expected to finish inside ``time_limit``; logs what is dropped if not."""
    if budget.limit is None:
        return True
    fold_seconds = sum(r.seconds for r in results) / fold
    left = budget.remaining()
    if fold_seconds <= left:
        return True
    dropped = (k_fold - fold) * n_libraries
    logger.warning(
        "time_limit %g s: %.1f s left for training and a fold takes about %.1f s, so folds %d-%d "
        "(%d of %d units) are dropped; the ensemble keeps %d fold models per library.",
        budget.limit, max(left, 0.0), fold_seconds, fold, k_fold - 1, dropped, total, fold,
    )
    return False


def _kept(store: CheckpointStore | None) -> str:
    return (
        f"finished units are checkpointed in {store.units_dir}; rerun with the same checkpoints to resume"
        if store
        else "no checkpoint folder, so a rerun starts over"
    )


def _keep_finished(
    store: CheckpointStore, runner: UnitRunner, fingerprints: Mapping[tuple[int, str], str]
) -> None:
    """Checkpoint the units a cluster finished ahead of the fold being reported, before the job fails."""
    for work, outcome in runner.finished():
        if not outcome.hit_deadline:
            store.save(outcome.result, fingerprints[(work.unit.fold, work.unit.name)])


def _stopped(
    stop: StopRequest, results: list[UnitResult], total: int, store: CheckpointStore | None
) -> TrainingStoppedError:
    return TrainingStoppedError(
        f"Training stopped by {stop.reason} after {len(results)} of {total} units; {_kept(store)}."
    )


def _blend_and_report(
    config: TrainConfig,
    task: Task,
    y: np.ndarray,
    oof: Mapping[str, np.ndarray],
    covered: np.ndarray,
    stream: TextIO | None,
) -> BlendResult:
    """Fit the blend on the rows held out so far and print each library's and the blend's scores.

    Every metric of the task gets a line; the blend optimises ``eval_metric``, whose ensemble line is the
    blend's (honest) score. The last ensemble line of a job is therefore the final blend's score.
    """
    seen = {library: prediction[covered] for library, prediction in oof.items()}
    target = y[covered]
    blended = fit_blend(config.blend, seen, target, get_metric(task.problem_type, task.eval_metric),
                        seed=config.seed)
    ensemble_prediction = blend(seen, blended.weights)
    for name in metrics_for(task.problem_type):
        metric = get_metric(task.problem_type, name)
        for library, prediction in seen.items():
            _emit_finite(library_metric_name(name, library), metric.score(target, prediction), stream)
        value = blended.score if name == task.eval_metric else metric.score(target, ensemble_prediction)
        _emit_finite(ensemble_metric_name(name), value, stream)
    return blended


def _emit_finite(name: str, value: float, stream: TextIO | None) -> None:
    if np.isfinite(value):
        emit_metric(name, value, stream)


def _write_reports(
    files: ReportFiles,
    data: TrainingRows,
    task: Task,
    covered: np.ndarray,
    scored: Mapping[str, np.ndarray],
    oof_ensemble: np.ndarray,
    results: list[UnitResult],
    cv_summary: Mapping[str, Any],
) -> None:
    """Out-of-fold predictions of the scored rows (CSV) and per-unit scores and timings (JSON), each
    written atomically. Classification rows show the label as given and, per library, the probability
    of the second class (binary) or of each class (multiclass, one column per class)."""
    rows = np.flatnonzero(covered)
    columns = {**scored, "ensemble": oof_ensemble}
    header = ["row", data.target_name]
    for name, values in columns.items():
        header += [f"{name}[{c}]" for c in task.classes] if values.ndim == 2 else [name]

    def cells() -> Iterator[list[Any]]:
        for i, row in enumerate(rows):
            label = task.classes[int(data.y[row])] if task.is_classification else repr(float(data.y[row]))
            line: list[Any] = [int(row), label]
            for values in columns.values():
                line += [repr(float(v)) for v in np.atleast_1d(values[i])]
            yield line

    files.write_rows("oof_predictions.csv", header, cells())
    report = {**cv_summary, "units": [r.summary() for r in results]}
    files.write_text("cv_results.json", json.dumps(report, indent=2) + "\n")
