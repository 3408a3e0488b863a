"""Sharded multi-host training (``S3DistributionType=ShardedByS3Key``): the units of a job whose rows stay on
the hosts that loaded them (``sharded_data``).

Imported only by a multi-host job whose channels are sharded. A unit of a library with a Dask interface
(``ModelSpec.fit_dask``: XGBoost, LightGBM) trains on every host's rows at once. CatBoost has no
distributed path in its Python package (its distributed mode lives in its command-line tool and its Spark
package), so a CatBoost unit trains on the largest shard's training rows, on that host, and early-stops on
that shard's held-out rows; its out-of-fold predictions are made on every host, so the blend scores every
member on every held-out row. Units run one at a time, each across the cluster, through the same loop as
any job (``job.run_training``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from operator import getitem
from typing import Any, TypeVar

import dask.array as da
import numpy as np

from ensemble_byoc.contract.cpus import available_cpus, training_threads
from ensemble_byoc.errors import TrainingStoppedError, UserError
from ensemble_byoc.models import load_spec, model_bytes, model_from_bytes
from ensemble_byoc.models.base import BoosterParams, DaskParts, Model
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.multihost.cluster import HOST_STOP, LeaderCluster, WorkerStop
from ensemble_byoc.training.multihost.sharded_data import Shard, ShardedData, named, watched
from ensemble_byoc.training.runners import UnitContext, UnitOutcome, UnitWork
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.stopping import TimeBudget
from ensemble_byoc.training.units import Fold, UnitResult, fit_model

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ShardedUnitRunner:
    """``training.UnitRunner`` for sharded data: one unit at a time, each trained across the hosts."""

    def __init__(self, cluster: LeaderCluster, context: UnitContext) -> None:
        assert cluster.client is not None and isinstance(context.data, ShardedData)
        self.cluster = cluster
        self.client = cluster.client
        self.context = context
        self.data: ShardedData = context.data
        self.metric = get_metric(context.task.problem_type, context.task.eval_metric)
        self.labels = np.asarray(self.data.y, dtype=np.float64)  # class indices for a classifier, by now
        self.shards = [
            replace(shard, future=self.client.submit(
                _with_labels, shard.future, self.labels[shard.offset:shard.offset + shard.rows],
                workers=[shard.address], allow_other_workers=False, pure=False))
            for shard in self.data.shards
        ]
        self._fold: tuple[int, list[dict[str, Any]]] | None = None

    def submit(self, work: Sequence[UnitWork], budget: TimeBudget) -> None:
        del budget  # each unit's share of time_limit is its deadline when it runs
        self._check_parameters(work)
        libraries = sorted({w.unit.library for w in work})
        spread = [name for name in libraries if load_spec(name).fit_dask is not None]
        local = [name for name in libraries if name not in spread]
        plan = []
        if spread:
            plan.append(f"{', '.join(spread)} train across all of them through Dask")
        if local and self.context.task.is_classification:
            plan.append(f"{', '.join(local)} (no distributed Python path) trains on one host's shard, in "
                        "each fold the largest whose training rows hold every class")
        elif local:
            largest = max(self.shards, key=lambda shard: shard.rows)
            plan.append(f"{', '.join(local)} (no distributed Python path) trains on the largest shard, "
                        f"{largest.host}'s {largest.rows} rows")
        if plan:
            logger.info("Sharded training on %d hosts, one unit at a time: %s.",
                        len(self.cluster.layout.hosts), "; ".join(plan))

    def run(self, work: UnitWork, deadline: float | None) -> UnitOutcome:
        parts = self._parts(work.fold)
        spec = load_spec(work.unit.library)
        stop = WorkerStop(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        model = spec.create(self.context.params, work.overrides, self.context.n_threads)
        started = time.perf_counter()
        if spec.fit_dask is not None:
            dask_parts = self._dask_parts(parts, work.fold)
            fit_dask = spec.fit_dask
            model = self._watch(work, lambda: fit_dask(model, self.client, dask_parts, stop))
            where = "all hosts"
        else:
            index = self._one_host_for(work, parts)
            host = self.shards[index]
            blob = self._watch(work, lambda: named(host.host, self.client.submit(
                _fit_on_host, work.unit.library, self.context.params, dict(work.overrides),
                parts[index]["split"], self.data.feature_names, self.data.categorical_indices, stop,
                workers=[host.address], allow_other_workers=False, pure=False).result))
            model = model_from_bytes(work.unit.library, blob, self.context.n_threads)
            where = host.host
        self._check_stop_requests()
        oof = self._predict_valid(work, model, parts)
        seconds = time.perf_counter() - started
        result = UnitResult.scored(work.unit, model, work.fold, oof, self.data.y, self.metric, seconds)
        return UnitOutcome(result, deadline is not None and time.monotonic() >= deadline, where)

    def finished(self) -> list[tuple[UnitWork, UnitOutcome]]:
        return []  # units run one at a time: none finishes unasked

    def cancel(self) -> None:
        self._fold = None

    def _one_host_for(self, work: UnitWork, parts: list[dict[str, Any]]) -> int:
        """The shard a library without a distributed path trains on in this fold: the one with the most
        training rows, among those with held-out rows and, for a classifier, training rows of every class."""
        task = self.context.task
        usable = []
        for index, (part, shard) in enumerate(zip(parts, self.shards, strict=True)):
            labels = self.labels[shard.offset + part["train_rows"]]
            if part["valid"] > 0 and (not task.is_classification or np.unique(labels).size == task.n_classes):
                usable.append((part["train"], -index, index))
        if not usable:
            msg = (
                f"No host's rows hold every class ({', '.join(map(str, task.classes))}) in the training part "
                f"of fold {work.fold.index}; in a sharded job {work.unit.library} trains on one host's rows. "
                f"Spread each class over the channel's files, or leave {work.unit.library} out of 'models'."
            )
            raise UserError(msg)
        return max(usable)[2]

    def _check_parameters(self, work: Sequence[UnitWork]) -> None:
        """Each distributed member's ``<library>__<param>`` overrides, checked here by a two-round fit on a
        few made-up rows: on the hosts, a library's complaint about a parameter it does not know would
        only reach their logs, and the job would train without it."""
        task = self.context.task
        rows = max(20, 2 * task.n_classes)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(rows, len(self.data.feature_names)))
        X[:, list(self.data.categorical_indices)] = 0.0
        y = np.arange(rows) % task.n_classes if task.is_classification else rng.normal(size=rows)
        y = y.astype(np.float64)
        params = replace(self.context.params, num_round=2, early_stopping_rounds=0)
        checked: set[tuple[str, str]] = set()
        for item in work:
            key = (item.unit.library, repr(sorted(item.overrides.items())))
            if not item.overrides or key in checked or load_spec(item.unit.library).fit_dask is None:
                continue
            checked.add(key)
            overrides = {k: v for k, v in item.overrides.items() if k != "num_boost_round"}
            fit_model(item.unit.library, params, overrides, 1, X, y, X, y, self.data.feature_names,
                      self.data.categorical_indices)

    def _check_stop_requests(self) -> None:
        """A stop request that reached another host first (it ended the unit there): the job stops too."""
        reasons = self.client.run(_stop_reason)
        names = {address: host for host, address in self.cluster.worker_addresses().items()}
        for address, reason in sorted(reasons.items()):
            if reason and not self.context.stop.requested:
                self.context.stop.request(f"{reason} on {names.get(address, address)}")
        if self.context.stop.requested:
            msg = f"stopped by {self.context.stop.reason}"
            raise TrainingStoppedError(msg)

    def _parts(self, fold: Fold) -> list[dict[str, Any]]:
        """Each shard's split for ``fold``, made on its host; the previous fold's split is released."""
        if self._fold is not None and self._fold[0] == fold.index:
            return self._fold[1]
        self._fold = None
        train_rows, valid_rows = np.sort(fold.train_rows), np.sort(fold.valid_rows)
        parts = []
        for shard in self.shards:
            train = _local(train_rows, shard)
            valid = _local(valid_rows, shard)
            split = self.client.submit(_split, shard.future, train, valid, workers=[shard.address],
                                       allow_other_workers=False, pure=False)
            pieces = {name: self.client.submit(getitem, split, name, workers=[shard.address],
                                               allow_other_workers=False, pure=False)
                      for name in ("X", "y", "X_valid", "y_valid")}
            parts.append({"split": split, "train": train.size, "valid": valid.size, "train_rows": train,
                          **pieces})
        self._fold = (fold.index, parts)
        return parts

    def _dask_parts(self, parts: list[dict[str, Any]], fold: Fold) -> DaskParts:
        width = len(self.data.feature_names)

        def stacked(name: str, size: str, shape: tuple[int, ...]) -> da.Array:
            blocks = [da.from_delayed(part[name], shape=(part[size], *shape), dtype=np.float64)
                      for part in parts if part[size] > 0]
            stacked_blocks: da.Array = da.concatenate(blocks, axis=0)
            return stacked_blocks

        valid_y = self.data.y[np.sort(fold.valid_rows)]
        sign = -1.0 if self.metric.greater_is_better else 1.0
        return DaskParts(
            X=stacked("X", "train", (width,)),
            y=stacked("y", "train", ()),
            X_valid=stacked("X_valid", "valid", (width,)),
            y_valid=stacked("y_valid", "valid", ()),
            feature_names=self.data.feature_names,
            categorical_features=self.data.categorical_indices,
            score_valid=lambda prediction: sign * self.metric.score(valid_y, prediction),
            workers=tuple(shard.address
                          for part, shard in zip(parts, self.shards, strict=True) if part["train"] > 0),
        )

    def _predict_valid(self, work: UnitWork, model: Model, parts: list[dict[str, Any]]) -> np.ndarray:
        """The model's prediction of the fold's held-out rows, made on the hosts holding them, in row
        order."""
        blob = model_bytes(work.unit.library, model)
        futures = [self.client.submit(_predict_on_host, work.unit.library, blob, part["X_valid"],
                                      workers=[shard.address], allow_other_workers=False, pure=False)
                   for part, shard in zip(parts, self.shards, strict=True) if part["valid"] > 0]
        predictions = self._watch(work, lambda: self.client.gather(futures))
        order = np.argsort(np.argsort(work.fold.valid_rows))  # sorted position of each of the fold's rows
        return np.concatenate(predictions, axis=0)[order]

    def _watch(self, work: UnitWork, call: Callable[[], T]) -> T:
        return watched(self.cluster, self.context.stop, call, f"unit-{work.unit.name}-{work.unit.fold}")


def _local(rows: np.ndarray, shard: Shard) -> np.ndarray:
    """The positions within ``shard`` of the job rows ``rows`` (sorted) that fall in it."""
    start, stop = np.searchsorted(rows, [shard.offset, shard.offset + shard.rows])
    return rows[start:stop] - shard.offset



# Run on the hosts' workers -----------------------------------------------------------------------------


def _with_labels(shard: Dataset, labels: np.ndarray) -> Dataset:
    return replace(shard, y=np.asarray(labels, dtype=np.float64))


def _split(shard: Dataset, train: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    return {"X": shard.X[train], "y": shard.y[train], "X_valid": shard.X[valid], "y_valid": shard.y[valid]}


def _fit_on_host(
    library: str,
    params: BoosterParams,
    overrides: Mapping[str, Any],
    split: Mapping[str, np.ndarray],
    feature_names: tuple[str, ...],
    categorical_features: tuple[int, ...],
    should_stop: Callable[[], bool],
) -> bytes:
    """Train one unit on this host's split and return the model file's bytes (the library's native format)."""
    threads = training_threads(int(split["X"].shape[0]), available_cpus())
    model = fit_model(library, params, overrides, threads, split["X"], split["y"], split["X_valid"],
                      split["y_valid"], feature_names, categorical_features, should_stop)
    return model_bytes(library, model)


def _stop_reason() -> str:
    """Run on every host: why this host was asked to stop (SIGTERM), or ``""``."""
    return HOST_STOP.reason or ""


def _predict_on_host(library: str, blob: bytes, X: np.ndarray) -> np.ndarray:
    return np.asarray(model_from_bytes(library, blob, available_cpus()).predict(X))
