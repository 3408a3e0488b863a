"""A job's last phase (``job.run_training``): the served models (the fold models, or one refit on every
row), the model directory, then the reports."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ensemble_byoc.bundle.artifacts import save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble, blend
from ensemble_byoc.contract.disk_space import DiskUsage
from ensemble_byoc.models.base import Model
from ensemble_byoc.training.blending import BlendResult
from ensemble_byoc.training.holdout import HoldoutScores, score_holdout
from ensemble_byoc.training.plan import JobState
from ensemble_byoc.training.report import REPORT_SECONDS, feature_importance, leaderboard, write_insight
from ensemble_byoc.training.report_files import ReportFiles, report_bytes
from ensemble_byoc.training.report_shap import ShapImportance, shap_importance
from ensemble_byoc.training.stopping import TimeBudget, UnitGuard
from ensemble_byoc.training.units import UnitResult, refit_on_all_rows

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job
_ROWS_PER_BLOCK = 65_536


@dataclass(frozen=True)
class TrainingResult:
    """What a finished job produced, in memory: the fitted ensemble and its out-of-fold scores."""

    ensemble: Ensemble
    manifest: dict[str, Any]
    cv_score: float
    library_scores: dict[str, float]
    units: list[UnitResult]


def finish_job(
    job: JobState, blended: BlendResult, disk_usage: DiskUsage, metric_stream: TextIO | None = None
) -> TrainingResult:
    """Serve the members the blend weighs, save the model (free space for it and the reports checked
    first), print the hold-out scores (``validation_mode`` holdout), then write the reports."""
    scored = {library: prediction[job.covered] for library, prediction in job.oof.items()}
    y = job.data.y[job.covered]
    library_scores = {library: job.metric.score(y, prediction) for library, prediction in scored.items()}
    oof_ensemble = blend(scored, blended.weights)
    served = {lib: weight for lib, weight in blended.weights.items() if weight > 0}
    logger.info("Blend: %s; served: %s.", blended.describe(), ", ".join(served))
    served_models, served_form = _served_models(job, served)
    ensemble = Ensemble(feature_names=job.data.feature_names, members=served_models, weights=served,
                        problem_type=job.task.problem_type, classes=job.task.classes,
                        categories=job.data.categories)
    holdout = _score_holdout(job, ensemble)
    cv_summary = _cv_summary(job, blended, library_scores)
    if holdout is not None:
        cv_summary["holdout"] = holdout.summary(job.task.eval_metric)
    reports = ReportFiles(job.paths.output_data_dir, disk_usage)
    reports.check_space(report_bytes(int(job.covered.sum()),
                                     2 + (len(scored) + 1) * max(job.task.n_classes, 1)))
    manifest = _save_model(job, ensemble, blended.method, served_form, cv_summary, disk_usage)
    if holdout is not None:
        holdout.emit(metric_stream)
    board = leaderboard(library_scores, job.results, blended.weights, blended.score, job.metric.name,
                        job.metric.greater_is_better)
    shap = shap_importance(job.results, job.data, blended.weights, job.config.seed,
                           seconds_left=job.budget.left() - job.budget.reserve)
    with reports:
        _write_reports(reports, job, scored, oof_ensemble, cv_summary, shap)
        write_insight(
            reports,
            task=job.task,
            board=holdout.add_to(board, job.metric.name) if holdout is not None else board,
            importance=feature_importance(job.results, job.data.feature_names, blended.weights),
            shap=shap,
            weights=blended.weights,
            y=y,
            oof_ensemble=oof_ensemble,
            with_report=_report_fits(job.budget),
        )
    logger.info("Cross-validated %s of the ensemble: %.6f (%s).", job.metric.name, blended.score,
                ", ".join(f"{lib} {score:.6f}" for lib, score in library_scores.items()))
    if job.config.time_limit is not None:
        logger.info("time_limit %g s: the job took %.1f s.", job.config.time_limit, job.budget.elapsed())
    return TrainingResult(ensemble, manifest, blended.score, library_scores, job.results)


def _score_holdout(job: JobState, ensemble: Ensemble) -> HoldoutScores | None:
    """The served ensemble and each member scored on the hold-out rows; ``None`` without them."""
    if job.holdout is None:
        return None
    fold_models = {member.name: [r.model for r in job.results if r.unit.name == member.name]
                   for member in job.members}
    return score_holdout(ensemble, fold_models, job.holdout, job.task)


def _served_models(job: JobState, served: Mapping[str, float]) -> tuple[dict[str, list[Model]], str]:
    """The models of each served member and their form: its fold models, or one refit on every row."""
    if job.config.refit_full:
        refitted = _refit_full(job, list(served))
        if refitted is not None:
            return refitted, "refit_full"
    return {name: [r.model for r in job.results if r.unit.name == name] for name in served}, "folds"


def _refit_full(job: JobState, served: list[str]) -> dict[str, list[Model]] | None:
    """One model per served member on all rows, or ``None`` when ``time_limit`` leaves no room (logged)."""
    by_name = {member.name: member for member in job.members}
    k_fold, budget = job.config.k_fold, job.budget
    models: dict[str, list[Model]] = {}
    for member in (by_name[name] for name in served):
        units = [r for r in job.results if r.unit.name == member.name]
        rounds = round(float(np.mean([r.best_iteration for r in units])))
        needed = float(np.mean([r.seconds for r in units])) * k_fold / max(k_fold - 1, 1)
        if needed > budget.remaining():
            logger.warning("refit_full skipped: about %.1f s needed for %s, %.1f s left of time_limit; "
                           "the fold models are served.", needed, member.name, max(budget.remaining(), 0.0))
            return None
        started = time.perf_counter()
        model = refit_on_all_rows(member.library, job.data, job.params, member.overrides, job.n_threads,
                                  rounds, UnitGuard(job.stop, None))
        if job.stop.requested:
            raise job.stopped()
        logger.info("refit_full: %s on all %d rows with %d rounds "
                    "(the folds' mean best iteration) in %.2f s.",
                    member.name, job.data.n_rows, rounds, time.perf_counter() - started)
        models[member.name] = [model]
    logger.info("refit_full: one model per member is served; the reported CV score is the fold models' "
                "(a model trained on every row has no held-out rows left to score it).")
    return models


def _cv_summary(job: JobState, blended: BlendResult, library_scores: Mapping[str, float]) -> dict[str, Any]:
    config = job.config
    summary = {
        "metric": job.metric.name,
        "k_fold": config.k_fold,
        "folds_trained": len(job.results) // len(job.members),
        "seed": config.seed,
        "n_rows": job.data.n_rows,
        "rows_scored": int(job.covered.sum()),
        "score": blended.score,
        "library_scores": library_scores,
        "blend": {"method": blended.method, "weights": blended.weights, "fallback": blended.fallback},
    }
    if job.plans is not None:
        summary["presets_best"] = job.plans
    return summary


def _save_model(
    job: JobState, ensemble: Ensemble, blend_method: str, served_form: str, cv_summary: Mapping[str, Any],
    disk_usage: DiskUsage,
) -> dict[str, Any]:
    """The model directory: the served models and a manifest that records how they were made."""
    data = job.data
    return save_bundle(
        job.paths.model_dir,
        ensemble,
        blend_method=blend_method,
        file_stem="full" if served_form == "refit_full" else "fold",
        extra={
            "served_form": served_form,
            "problem_type": job.task.problem_type,
            "task": job.task.to_dict(),
            "target": data.target_name,
            "categories": {name: list(levels) for name, levels in data.categories.items()},
            "cv": cv_summary,
            "config": job.config.to_dict(),
        },
        disk_usage=disk_usage,
    )


def _report_fits(budget: TimeBudget) -> bool:
    if budget.left() - budget.reserve >= REPORT_SECONDS:
        return True
    logger.warning("report.html skipped: %.1f s left of time_limit; the JSON reports are written.",
                   budget.left())
    return False


def _write_reports(
    files: ReportFiles,
    job: JobState,
    scored: Mapping[str, np.ndarray],
    oof_ensemble: np.ndarray,
    cv_summary: Mapping[str, Any],
    shap: ShapImportance,
) -> None:
    """Out-of-fold predictions of the scored rows (CSV) and per-unit scores and timings (JSON, with the
    mean |SHAP| importance's rows, members and seconds), each written atomically. Classification rows
    show the label as given and, per library, the probability of the second class (binary) or of each
    class (multiclass, one column per class)."""
    data, task = job.data, job.task
    rows = np.flatnonzero(job.covered)
    columns = {**scored, "ensemble": oof_ensemble}
    header = ["row", data.target_name]
    for name, values in columns.items():
        header += [f"{name}[{c}]" for c in task.classes] if values.ndim == 2 else [name]

    def cells() -> Iterator[tuple[Any, ...]]:
        for start in range(0, len(rows), _ROWS_PER_BLOCK):  # a block of rows as text at a time
            block = slice(start, start + _ROWS_PER_BLOCK)
            labels = data.y[rows[block]]
            texts = [[task.classes[int(v)] for v in labels] if task.is_classification else _reprs(labels)]
            for values in columns.values():
                part = values[block]
                texts += [_reprs(column) for column in part.T] if part.ndim == 2 else [_reprs(part)]
            yield from zip(rows[block].tolist(), *texts, strict=True)

    files.write_rows("oof_predictions.csv", header, cells())
    report = {**cv_summary, "units": [r.summary() for r in job.results], "shap_importance": shap.summary()}
    files.write_text("cv_results.json", json.dumps(report, indent=2) + "\n")


def _reprs(values: np.ndarray) -> list[str]:
    """Each value's shortest round-trip text, as ``repr(float(v))`` writes it."""
    return list(map(repr, values.astype(np.float64).tolist()))
