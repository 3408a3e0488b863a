"""Replicated multi-host training (``FullyReplicated`` channels): every unit submitted at once to the hosts'
workers, each trained whole on one host (``train_unit``), gathered on the first host in fold order.

Imported only by a multi-host job, through ``cluster.LeaderCluster.runner``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from distributed import Future, get_worker

from ensemble_byoc.errors import TrainingStoppedError
from ensemble_byoc.models import model_bytes, model_from_bytes
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.multihost.cluster import HOST_STOP, UNIT_SLOT, LeaderCluster
from ensemble_byoc.training.runners import UnitContext, UnitOutcome, UnitWork
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.stopping import TimeBudget, UnitGuard
from ensemble_byoc.training.units import Fold, TrainingUnit, UnitResult, fit_unit

logger = logging.getLogger(__name__)


class ClusterUnitRunner:
    """``training.UnitRunner`` on the cluster: every unit submitted at once, gathered in the order asked."""

    def __init__(self, cluster: LeaderCluster, context: UnitContext) -> None:
        assert cluster.client is not None
        self.cluster = cluster
        self.client = cluster.client
        self.context = context
        self.futures: dict[tuple[int, str], tuple[UnitWork, Future[Any]]] = {}
        self.collected: set[tuple[int, str]] = set()
        self.data = self.client.scatter(context.data, broadcast=True, hash=False)

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        hosts = len(self.cluster.layout.hosts)
        seconds = None if budget.limit is None else max(budget.remaining(), 0.0) * hosts / max(len(work), 1)
        task = self.context.task
        for order, item in enumerate(work):
            future = self.client.submit(
                train_unit, item.unit, self.data, item.fold, self.context.params, dict(item.overrides),
                self.context.n_threads, task.problem_type, task.eval_metric, seconds,
                key=f"unit-{item.unit.name}-fold-{item.unit.fold}", pure=False, priority=len(work) - order,
                resources=UNIT_SLOT,
            )
            self.futures[(item.unit.fold, item.unit.name)] = (item, future)
        logger.info("Submitted %d units to the %d hosts' workers (%s).", len(work), hosts,
                    ", ".join(self.cluster.layout.hosts))

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        del deadline  # each unit's time_limit share was set when it was submitted
        key = (work.unit.fold, work.unit.name)
        _, future = self.futures[key]
        payload = self.cluster.wait(future, self.context.stop)
        self.collected.add(key)
        if payload["stop_reason"]:  # the unit's host was asked to stop (first): the job stops too
            self.context.stop.request(f"{payload['stop_reason']} on {payload['host']}")
            msg = f"stopped by {self.context.stop.reason}"
            raise TrainingStoppedError(msg)
        return self._outcome(work, payload)

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        done = []
        for key, (work, future) in self.futures.items():
            if key not in self.collected and future.status == "finished":
                payload = future.result()
                if not payload["stop_reason"]:  # a unit cut short by a stop request is not kept
                    done.append((work, self._outcome(work, payload)))
        return done

    def cancel(self) -> None:
        pending = [future for key, (_, future) in self.futures.items()
                   if key not in self.collected and future.status == "pending"]
        if pending:
            self.client.cancel(pending)

    def _outcome(self, work: UnitWork, payload: dict[str, Any]) -> UnitOutcome:
        model = model_from_bytes(work.unit.library, payload["model"], self.context.n_threads)
        metric = get_metric(self.context.task.problem_type, self.context.task.eval_metric)
        result = UnitResult.scored(work.unit, model, work.fold, payload["oof"], self.context.data.y, metric,
                                   float(payload["seconds"]), int(payload["best_iteration"]))
        return UnitOutcome(result, bool(payload["hit_deadline"]), str(payload["host"]))


def train_unit(
    unit: TrainingUnit,
    data: Dataset,
    fold: Fold,
    params: BoosterParams,
    overrides: dict[str, Any],
    n_threads: int,
    problem_type: str,
    eval_metric: str,
    seconds: float | None,
) -> dict[str, Any]:
    """Run on a worker: train one unit and return what the leader needs, the model in its native format."""
    guard = UnitGuard(HOST_STOP, None if seconds is None else time.monotonic() + seconds)
    result = fit_unit(unit, data, fold, params, overrides, n_threads, guard,
                      get_metric(problem_type, eval_metric))
    return {
        "model": model_bytes(unit.library, result.model),
        "oof": np.asarray(result.oof_prediction),
        "best_iteration": result.best_iteration,
        "seconds": result.seconds,
        "hit_deadline": guard.hit_deadline,
        "host": _worker_name(),
        "stop_reason": HOST_STOP.reason or "",
    }


def _worker_name() -> str:
    try:
        return str(get_worker().name)
    except ValueError:  # called outside a Dask worker
        return ""

