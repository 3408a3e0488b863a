"""A multi-host job's entry: each host joins the Dask cluster; the first one runs the job on it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.contract.logs import defuse_handlers
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import PlatformError, UserError
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training
from ensemble_byoc.training.multihost import cluster, sharded_data
from ensemble_byoc.training.multihost import sharded as sharding
from ensemble_byoc.training.multihost.layout import HostLayout


def train_on_hosts(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any],
    resource_config: Mapping[str, Any], environ: Mapping[str, str],
) -> bool:
    """A multi-host job on Dask; True on the first host, which trained and wrote the model, False
    elsewhere."""
    layout = HostLayout.from_resource_config(resource_config, environ)
    if layout is None:
        msg = "resourceconfig.json lists fewer than two hosts, or no current_host."
        raise PlatformError(msg)
    defuse_handlers("distributed")  # Dask logs task errors through its own handler

    sharded = sharded_channels(input_data_config, holdout=config.validation_mode == "holdout")
    if sharded and config.refit_full:
        msg = (
            "refit_full is not available with ShardedByS3Key channels: no host holds every row to refit on; "
            "leave refit_full off (the fold models are served) or use S3DistributionType=FullyReplicated."
        )
        raise UserError(msg)
    cluster.HOST_STOP.install_signal_handler()
    if not layout.is_leader:
        cluster.run_worker(layout, paths)
        return False
    with cluster.LeaderCluster(layout, paths) as leader:
        if sharded:
            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=cluster.HOST_STOP, runner_factory=partial(sharding.ShardedUnitRunner, leader),
                         loader=partial(sharded_data.load_sharded_data, leader))
        else:
            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=cluster.HOST_STOP, runner_factory=leader.runner)
    return True


def sharded_channels(input_data_config: Mapping[str, Any], *, holdout: bool = False) -> bool:
    """Whether the channels are sharded (``ShardedByS3Key``); all of them must agree, or it is a
    ``UserError``. With ``holdout`` (``validation_mode`` holdout) only ``train`` may be sharded: the first
    host scores the final ensemble on every validation row."""
    kinds = {name: str(channel.get("S3DistributionType") or "FullyReplicated")
             for name, channel in sorted(input_data_config.items()) if name in ("train", "validation")}
    if holdout:
        if kinds.get("validation", "").lower() == "shardedbys3key":
            msg = ("Sharded multi-host jobs accept holdout only with a FullyReplicated validation channel: "
                   "channel 'validation' is ShardedByS3Key, so no host holds every validation row to score "
                   "the ensemble on; set its S3DistributionType to FullyReplicated or validation_mode to cv.")
            raise UserError(msg)
        return kinds.get("train", "").lower() == "shardedbys3key"
    sharded = {name for name, kind in kinds.items() if kind.lower() == "shardedbys3key"}
    if sharded and sharded != set(kinds):
        raise UserError(
            "Channels " + ", ".join(f"{name!r} ({kind})" for name, kind in kinds.items())
            + " mix S3DistributionType values; in a multi-host job 'train' and 'validation' must both be "
            "ShardedByS3Key (each host trains on its own files) or both FullyReplicated."
        )
    return bool(sharded)
