"""A sharded job's data (``S3DistributionType=ShardedByS3Key``): each host keeps its own rows.

Every host loads the files SageMaker gave it into its own Dask worker, and the rows never move: the first
host (the leader) gathers only what it needs to fold, score and blend, namely each shard's label column,
column names and category levels. The rows of all shards, in host order, are the job's rows; folds are
drawn over them exactly as on one host. ``sharded.ShardedUnitRunner`` trains on them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from distributed import Client, Future

from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import EnsembleError, UserError
from ensemble_byoc.training.channels import (
    HOLDOUT,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    has_data_files,
    join_channels,
    read_channel,
)
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset, check_input_mode, merged_categories, recode_categories
from ensemble_byoc.training.multihost.cluster import HOST_STOP, LeaderCluster, host_paths
from ensemble_byoc.training.stopping import StopRequest

logger = logging.getLogger("ensemble_byoc.training.multihost.sharded")  # one name for a sharded job's lines

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """One host's rows: where they live, and where they start in the job's row order."""

    host: str
    address: str
    rows: int
    offset: int
    future: Future[Any]


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
    summaries = watched(cluster, HOST_STOP, lambda: {host: named(host, future.result)
                                                     for host, future in described.items()}, "loading")
    present = _hosts_with_rows(hosts, summaries)
    found = {host: summary for host in present if (summary := summaries[host]) is not None}
    first = found[present[0]]
    categories = merged_categories([found[host]["categories"] for host in present], first["features"])
    shards = _shards(client, addresses, present, loaded, summaries, categories)
    logger.info("Sharded data: %d rows in all (%s), %d features.", sum(shard.rows for shard in shards),
                ", ".join(f"{shard.host} {shard.rows}" for shard in shards), len(first["features"]))
    return ShardedData(
        y=np.concatenate([found[host]["y"] for host in present]),
        feature_names=tuple(first["features"]),
        target_name=str(first["target"]),
        categories=categories,
        shards=tuple(shards),
        shard_digests=tuple(str(found[host]["digest"]) for host in present),
    )


def _hosts_with_rows(hosts: list[str], summaries: Mapping[str, Any]) -> list[str]:
    """The hosts that received rows (the others are logged), once their shards' columns are found to agree."""
    present = [host for host in hosts if summaries[host] is not None]
    if not present:
        msg = f"Channel {TRAIN_CHANNEL!r} is empty on every host ({', '.join(hosts)})."
        raise UserError(msg)
    for host in hosts:
        if summaries[host] is None:
            logger.warning("Host %s received no files of channel %r (more hosts than files?); "
                           "its worker takes part in training with no rows of its own.", host, TRAIN_CHANNEL)
    first = summaries[present[0]]
    for host in present[1:]:
        other = summaries[host]
        if (other["target"], other["features"]) != (first["target"], first["features"]):
            msg = (
                "The shards have different columns: "
                f"host {present[0]} has {[first['target'], *first['features']]}, "
                f"host {host} has {[other['target'], *other['features']]}."
            )
            raise UserError(msg)
    return present


def _shards(
    client: Client, addresses: Mapping[str, str], present: list[str], loaded: Mapping[str, Future[Any]],
    summaries: Mapping[str, Any], categories: Mapping[str, tuple[str, ...]],
) -> list[Shard]:
    """Each host's shard in host order, its text columns recoded (on its host) to the merged levels."""
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
                msg = f"{exc} It holds text on host {', '.join(text_hosts)}."
                raise UserError(msg) from exc
        rows = int(summaries[host]["rows"])
        shards.append(Shard(host, addresses[host], rows, offset, future))
        offset += rows
    return shards


def watched(cluster: LeaderCluster, stop: StopRequest, call: Callable[[], T], name: str) -> T:
    """``call()`` in a helper thread, while this one checks every host is still there and no stop came
    (``LeaderCluster.wait``): a call that waits on the hosts never outlives one of them."""
    outcome: futures.Future[T] = futures.Future()

    def target() -> None:
        try:
            outcome.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return cluster.wait(outcome, stop)


def named(host: str, call: Callable[[], T]) -> T:
    """``call()``, with the host named in the message of a failure raised on that host."""
    try:
        return call()
    except EnsembleError as exc:
        msg = f"Host {host}: {exc}"
        raise type(exc)(msg) from exc


def _settled(host: str, future: Future[Any]) -> None:
    """Wait for a task that keeps its result on its host; raise its failure (the result stays there)."""
    if future.exception() is not None:  # waits for the task; fetches its error only, never its result
        named(host, future.result)


# Run on the hosts' workers -----------------------------------------------------------------------------


def _load_shard(config: TrainConfig, input_data_config: Mapping[str, Any]) -> Dataset | None:
    """This host's rows of the ``train`` and ``validation`` channels (``train`` only with ``validation_mode``
    holdout), each read only where this host received files of it (SageMaker may give a host none);
    ``None`` when it received no file at all."""
    paths = host_paths()
    parts = []
    channels = (TRAIN_CHANNEL,) if config.validation_mode == HOLDOUT else (TRAIN_CHANNEL, VALIDATION_CHANNEL)
    for name in channels:
        check_input_mode(input_data_config, name, paths.data_dir)
        if has_data_files(paths.channel(name)):
            parts.append(read_channel(paths, config, input_data_config, name))
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
