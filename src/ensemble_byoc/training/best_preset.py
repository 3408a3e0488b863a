"""``presets=best`` never serves worse than the default would have: the default plan (the default preset's
settings with the same hyperparameters given) trains first, then the best plan in the time left. The best
plan is served only when it finished every unit (no fold dropped, no unit cut short by ``time_limit``)
and scores better out of fold; otherwise the default plan is."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ensemble_byoc.training.blending import BlendResult
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.fold_loop import blend_and_report
from ensemble_byoc.training.plan import JobState
from ensemble_byoc.training.stopping import TimeBudget

logger = logging.getLogger("ensemble_byoc.training.job")  # every phase of the job logs as the job

DEFAULT_PLAN_FOLDER = "default-plan"
"""Where the default plan's unit checkpoints go, apart from the best plan's (same member and fold names)."""

PlanRunner = Callable[[TrainConfig, str], tuple[JobState, BlendResult]]
"""Trains one plan's units (its settings, its checkpoint folder) and returns the job and its last blend."""


@dataclass(frozen=True)
class PlanOutcome:
    """What one plan reached: its out-of-fold score, whether it finished, what it cost."""

    name: str
    score: float
    units_finished: int
    units_planned: int
    cut_units: int
    seconds: float

    @classmethod
    def of(cls, name: str, job: JobState, blended: BlendResult) -> PlanOutcome:
        return cls(name, blended.score, len(job.results), job.total, job.cut_units,
                   sum(r.seconds for r in job.results))

    @property
    def complete(self) -> bool:
        return self.units_finished == self.units_planned and self.cut_units == 0

    def summary(self) -> dict[str, Any]:
        return {"plan": self.name, "score": self.score, "complete": self.complete,
                "units_finished": self.units_finished, "units_planned": self.units_planned,
                "units_cut_by_time_limit": self.cut_units, "unit_seconds": round(self.seconds, 3)}


def choose(default: PlanOutcome, best: PlanOutcome | None, greater_is_better: bool) -> tuple[str, str]:
    """The plan to serve and why: the best plan only if it finished every unit and beats the default's
    out-of-fold score (a tie keeps the default, the smaller model)."""
    if best is None:
        return "default", "the best plan did not run: no time left for it"
    if not best.complete:
        return "default", (f"the best plan did not finish ({best.units_finished} of {best.units_planned} "
                           f"units, {best.cut_units} cut short by time_limit)")
    better = best.score > default.score if greater_is_better else best.score < default.score
    if better:
        return "best", "the best plan scores better out of fold"
    return "default", "the best plan does not score better out of fold"


def train_best_of_two(
    run_plan: PlanRunner,
    config: TrainConfig,
    fallback: TrainConfig,
    budget: TimeBudget,
    stream: TextIO | None,
) -> tuple[JobState, BlendResult]:
    """Train the default plan (``fallback``), then the best plan (``config``) if the time left allows at
    least what the default plan took; serve the one ``choose`` picks, whose metric lines are printed last."""
    logger.info("presets=best: training the default plan first (%s), then the best plan (%s); the best plan "
                "is served only if it finishes every unit and scores better out of fold.",
                _describe(fallback), _describe(config))
    default_job, default_blend = run_plan(fallback, DEFAULT_PLAN_FOLDER)
    default = PlanOutcome.of("default", default_job, default_blend)
    best_run: tuple[JobState, BlendResult] | None = None
    if default.complete and budget.remaining() >= default.seconds:
        best_run = run_plan(config, "")
    elif default.complete:
        logger.warning("presets=best: %.1f s left of time_limit, less than the default plan's %.1f s of "
                       "units: the best plan is not trained.", max(budget.remaining(), 0.0), default.seconds)
    else:
        logger.warning("presets=best: the default plan did not finish inside time_limit (%d of %d units): "
                       "the best plan is not trained.", default.units_finished, default.units_planned)
    best = PlanOutcome.of("best", *best_run) if best_run is not None else None
    served, reason = choose(default, best, default_job.metric.greater_is_better)
    job, blended = best_run if served == "best" and best_run is not None else (default_job, default_blend)
    logger.info("presets=best: serving the %s plan (%s %.6f against %s): %s.", served, job.metric.name,
                blended.score, ", ".join(f"{o.name} {o.score:.6f}" for o in (default, best) if o), reason)
    if served == "default" and best_run is not None:
        blended = blend_and_report(job, stream)  # the served plan's scores are the job's last metric lines
    job.plans = {"served": served, "reason": reason,
                 "plans": [o.summary() for o in (default, best) if o is not None]}
    return job, blended


def _describe(config: TrainConfig) -> str:
    return (f"k_fold {config.k_fold}, eta {config.eta:g}, up to {config.num_round} rounds, early stopping "
            f"after {config.early_stopping_rounds}, portfolio of {config.portfolio_size}")
