"""Sharded multi-host training (``S3DistributionType=ShardedByS3Key``): each host keeps its own rows.

Imported only by a multi-host job whose channels are sharded. Every host loads the files SageMaker gave it
into its own Dask worker, and the rows never move: the first host (the leader) gathers only what it needs
to fold, score and blend, namely each shard's label column, column names and category levels. The rows of
all shards, in host order, are the job's rows; folds are drawn over them exactly as on one host.

A unit of a library with a Dask interface (``ModelSpec.fit_dask``: XGBoost, LightGBM) trains on every
host's rows at once. CatBoost has no distributed path in its Python package (its distributed mode lives in
its command-line tool and its Spark package), so a CatBoost unit trains on the largest shard's training
rows, on that host, and early-stops on that shard's held-out rows; its out-of-fold predictions are made on
every host, so the blend scores every member on every held-out row. Units run one at a time, each across
the cluster, through the same loop as any job (``training.run_training``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from operator import getitem
from typing import Any, TypeVar

import dask.array as da
import numpy as np
from distributed import Future

from ensemble_byoc.contract.cpus import available_cpus, training_threads
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import EnsembleError, TrainingStoppedError, UserError
from ensemble_byoc.models import load_spec, model_bytes, model_from_bytes
from ensemble_byoc.models.base import BoosterParams, DaskParts, Model
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import (
    Dataset,
    channel_format,
    check_input_mode,
    list_data_files,
    load_channel,
    merged_categories,
    recode_categories,
)
from ensemble_byoc.training.job import (
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    UnitContext,
    UnitOutcome,
    UnitWork,
    join_channels,
)
from ensemble_byoc.training.multihost.cluster import (
    HOST_STOP,
    POLL_SECONDS,
    LeaderCluster,
    WorkerStop,
    host_paths,
)
from ensemble_byoc.training.scores import REGRESSION, get_metric
from ensemble_byoc.training.stopping import StopRequest, TimeBudget
from ensemble_byoc.training.units import Fold, UnitResult

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """One host's rows: where they live, and where they start in the job's row order."""

    host: str
    address: str
    rows: int
    offset: int
    future: Future


@dataclass(frozen=True)
class ShardedData:
    """The leader's view of a sharded job's data: every label, the columns, and the shards holding the
    rows."""

    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    categories: Mapping[str, tuple[str, ...]]
    shards: tuple[Shard, ...]
    shard_digests: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def categorical_indices(self) -> tuple[int, ...]:
        return tuple(self.feature_names.index(name) for name in self.categories)

    def digest(self) -> str:
        """The shards' digests in host order: the same files on the same hosts give the same digest."""
        return hashlib.sha256("".join(self.shard_digests).encode()).hexdigest()


def load_sharded_data(
    cluster: LeaderCluster, paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any]
) -> ShardedData:
    """Every host loads its shard into its own worker; the leader checks that the shards agree."""
    del paths  # each host reads its own /opt/ml
    assert cluster.client is not None
    client = cluster.client
    cluster.check_hosts()
    addresses = cluster.worker_addresses()
    hosts = list(cluster.layout.hosts)
    loaded = {host: client.submit(_load_shard, config, dict(input_data_config), workers=[addresses[host]],
                                  allow_other_workers=False, pure=False, key=f"shard-{host}")
              for host in hosts}
    described = {host: client.submit(_summary, future, workers=[addresses[host]], allow_other_workers=False,
                                     pure=False) for host, future in loaded.items()}
    summaries = _watched(cluster, HOST_STOP, lambda: {host: _named(host, future.result)
                                                      for host, future in described.items()}, "loading")
    present = [host for host in hosts if summaries[host] is not None]
    if not present:
        raise UserError(f"Channel {TRAIN_CHANNEL!r} is empty on every host ({', '.join(hosts)}).")
    for host in hosts:
        if summaries[host] is None:
            logger.warning("Host %s received no files of channel %r (more hosts than files?); "
                           "its worker takes part in training with no rows of its own.", host, TRAIN_CHANNEL)
    first = summaries[present[0]]
    for host in present[1:]:
        other = summaries[host]
        if (other["target"], other["features"]) != (first["target"], first["features"]):
            raise UserError(
                "The shards have different columns: "
                f"host {present[0]} has {[first['target'], *first['features']]}, "
                f"host {host} has {[other['target'], *other['features']]}."
            )
    categories = merged_categories([summaries[host]["categories"] for host in present], first["features"])
    shards, offset = [], 0
    for host in present:
        future = loaded[host]
        if categories:
            future = client.submit(_recode, future, categories, workers=[addresses[host]], pure=False)
            try:
                _settled(host, future)
            except UserError as exc:  # a column of numbers here that holds text on another host
                lacking = [name for name in categories if name not in summaries[host]["categories"]]
                text_hosts = [other for other in present
                              if set(lacking) & set(summaries[other]["categories"])]
                raise UserError(f"{exc} It holds text on host {', '.join(text_hosts)}.") from exc
        rows = int(summaries[host]["rows"])
        shards.append(Shard(host, addresses[host], rows, offset, future))
        offset += rows
    logger.info("Sharded data: %d rows in all (%s), %d features.", offset,
                ", ".join(f"{shard.host} {shard.rows}" for shard in shards), len(first["features"]))
    return ShardedData(
        y=np.concatenate([summaries[host]["y"] for host in present]),
        feature_names=tuple(first["features"]),
        target_name=str(first["target"]),
        categories=categories,
        shards=tuple(shards),
        shard_digests=tuple(str(summaries[host]["digest"]) for host in present),
    )


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
            blob = self._watch(work, lambda: _named(host.host, self.client.submit(
                _fit_on_host, work.unit.library, self.context.params, dict(work.overrides),
                parts[index]["split"], self.data.feature_names, self.data.categorical_indices, stop,
                workers=[host.address], allow_other_workers=False, pure=False).result))
            model = model_from_bytes(work.unit.library, blob, self.context.n_threads)
            where = host.host
        self._check_stop_requests()
        oof = self._predict_valid(work, model, parts)
        seconds = time.perf_counter() - started
        result = UnitResult(
            unit=work.unit,
            model=model,
            valid_rows=work.fold.valid_rows,
            oof_prediction=oof,
            best_iteration=model.best_iteration_,
            score=self.metric.score(self.data.y[work.fold.valid_rows], oof),
            seconds=seconds,
        )
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
            raise UserError(
                f"No host's rows hold every class ({', '.join(map(str, task.classes))}) in the training part "
                f"of fold {work.fold.index}; in a sharded job {work.unit.library} trains on one host's rows. "
                f"Spread each class over the channel's files, or leave {work.unit.library} out of 'models'."
            )
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
            load_spec(item.unit.library).create(params, overrides, 1).fit(
                X, y, X_valid=X, y_valid=y, feature_names=self.data.feature_names,
                categorical_features=self.data.categorical_indices)

    def _check_stop_requests(self) -> None:
        """A stop request that reached another host first (it ended the unit there): the job stops too."""
        reasons = self.client.run(_stop_reason)
        names = {address: host for host, address in self.cluster.worker_addresses().items()}
        for address, reason in sorted(reasons.items()):
            if reason and not self.context.stop.requested:
                self.context.stop.request(f"{reason} on {names.get(address, address)}")
        if self.context.stop.requested:
            raise TrainingStoppedError(f"stopped by {self.context.stop.reason}")

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
            return da.concatenate(blocks, axis=0)

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
        return _watched(self.cluster, self.context.stop, call, f"unit-{work.unit.name}-{work.unit.fold}")


def _watched(cluster: LeaderCluster, stop: StopRequest, call: Callable[[], T], name: str) -> T:
    """``call()`` in a helper thread, while this one checks every host is still there and no stop came."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL_SECONDS)
        cluster.check_hosts()
        if stop.requested and thread.is_alive():
            raise TrainingStoppedError(f"stopped by {stop.reason}")
    if "error" in outcome:
        cluster.check_hosts()  # a task lost with its host is a host failure, named as such
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _named(host: str, call: Callable[[], T]) -> T:
    """``call()``, with the host named in the message of a failure raised on that host."""
    try:
        return call()
    except EnsembleError as exc:
        raise type(exc)(f"Host {host}: {exc}") from exc


def _settled(host: str, future: Future) -> None:
    """Wait for a task that keeps its result on its host; raise its failure (the result stays there)."""
    if future.exception() is not None:  # waits for the task; fetches its error only, never its result
        _named(host, future.result)


def _local(rows: np.ndarray, shard: Shard) -> np.ndarray:
    """The positions within ``shard`` of the job rows ``rows`` (sorted) that fall in it."""
    start, stop = np.searchsorted(rows, [shard.offset, shard.offset + shard.rows])
    return rows[start:stop] - shard.offset


# Run on the hosts' workers -----------------------------------------------------------------------------


def _load_shard(config: TrainConfig, input_data_config: Mapping[str, Any]) -> Dataset | None:
    """This host's rows of the ``train`` and ``validation`` channels, each read only where this host received
    files of it (SageMaker may give a host none); ``None`` when it received no file at all."""
    paths = host_paths()
    parts = []
    for name in (TRAIN_CHANNEL, VALIDATION_CHANNEL):
        check_input_mode(input_data_config, name, paths.data_dir)
        directory = paths.channel(name)
        if directory.is_dir() and list_data_files(directory):
            file_format = channel_format(input_data_config, name)
            parts.append(load_channel(directory, channel=name, file_format=file_format, target=config.target,
                                      numeric_label=config.problem_type == REGRESSION,
                                      label_check=config.label_check))
    if not parts:
        return None
    return join_channels(*parts) if len(parts) == 2 else parts[0]


def _summary(shard: Dataset | None) -> dict[str, Any] | None:
    if shard is None:
        return None
    return {"rows": shard.n_rows, "features": list(shard.feature_names), "target": shard.target_name,
            "categories": {name: list(levels) for name, levels in shard.categories.items()},
            "y": shard.y, "digest": shard.digest()}


def _recode(shard: Dataset, categories: Mapping[str, tuple[str, ...]]) -> Dataset:
    return recode_categories(shard, categories)


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
    should_stop: WorkerStop,
) -> bytes:
    """Train one unit on this host's split and return the model file's bytes (the library's native format)."""
    spec = load_spec(library)
    threads = training_threads(int(split["X"].shape[0]), available_cpus())
    model = spec.create(params, overrides, threads).fit(
        split["X"], split["y"], X_valid=split["X_valid"], y_valid=split["y_valid"],
        feature_names=feature_names, should_stop=should_stop, categorical_features=categorical_features,
    )
    return model_bytes(library, model)


def _stop_reason() -> str:
    """Run on every host: why this host was asked to stop (SIGTERM), or ``""``."""
    return HOST_STOP.reason or ""


def _predict_on_host(library: str, blob: bytes, X: np.ndarray) -> np.ndarray:
    return np.asarray(model_from_bytes(library, blob, available_cpus()).predict(X))
