"""The training entry point: the only place that turns errors into ``output/failure`` and an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from ensemble_byoc.config import TrainConfig, decode_value
from ensemble_byoc.data import read_json_config
from ensemble_byoc.errors import EnsembleError, TrainingStoppedError, UserError
from ensemble_byoc.host import HostLayout, available_cpus
from ensemble_byoc.logs import configure_logging, defuse_handlers
from ensemble_byoc.paths import BASE_DIR_VARIABLE, SageMakerPaths
from ensemble_byoc.stopping import StopRequest
from ensemble_byoc.training import run_training

logger = logging.getLogger("ensemble_byoc.train")

SUCCESS_LINE = "Reporting training SUCCESS"
FAILURE_LINE = "Reporting training FAILURE"
_FAILURE_LIMIT = 1024
"""Bytes of ``output/failure`` that SageMaker shows as the job's ``FailureReason``."""


USAGE = f"""usage: container/train [train]

Trains the ensemble as a SageMaker training job does: reads input/config/*.json and input/data/<channel>/
under /opt/ml, or under ${BASE_DIR_VARIABLE} when it is set, and writes model/ and output/ there.
Exit code 0 on success; 1 with output/failure saying why. Locally, without Docker:

  {BASE_DIR_VARIABLE}=/path/to/opt_ml container/train
"""


def train_main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a training job as SageMaker starts one; return the process exit code."""
    if {"-h", "--help"} & set(argv or ()):
        sys.stdout.write(USAGE)
        return 0
    env = os.environ if environ is None else environ
    paths = SageMakerPaths.from_env(env)
    if not env.get(BASE_DIR_VARIABLE, "").strip() and not paths.base_dir.is_dir():
        sys.stderr.write(
            f"container/train: there is no {paths.base_dir} here and {BASE_DIR_VARIABLE} is not set; "
            f"set {BASE_DIR_VARIABLE} to a folder laid out like /opt/ml (input/config, input/data/train).\n"
        )
        return 2
    configure_logging(env.get("LOG_LEVEL", "INFO"), whole_process=True)
    paths.failure_file.unlink(missing_ok=True)
    try:
        hyperparameters = read_json_config(paths.hyperparameters_file, default={})
        level = decode_value(hyperparameters.get("sagemaker_container_log_level", ""))
        if isinstance(level, int):
            logging.getLogger("ensemble_byoc").setLevel(level)
        resource_config = read_json_config(paths.resource_config_file, default={})
        input_data_config = read_json_config(paths.input_data_config_file, default={})
        config = TrainConfig.from_hyperparameters(hyperparameters)
        layout = HostLayout.from_resource_config(resource_config, env)
        if layout is None:
            stop = StopRequest()
            stop.install_signal_handler()
            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=stop)
        elif not _train_on_hosts(paths, config, input_data_config, layout):
            return 0
    except (UserError, TrainingStoppedError) as exc:
        return _fail(paths, f"{exc.kind}: {exc}")
    except EnsembleError as exc:
        logger.error("%s", traceback.format_exc())
        return _fail(paths, f"{exc.kind}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the one place every failure becomes a failure file
        logger.error("%s", traceback.format_exc())
        return _fail(paths, f"AlgorithmError: {type(exc).__name__}: {exc}")
    logger.info(SUCCESS_LINE)
    return 0


def _train_on_hosts(
    paths: SageMakerPaths, config: TrainConfig, input_data_config: Mapping[str, Any], layout: HostLayout
) -> bool:
    """A multi-host job on Dask; True on the first host, which trained and wrote the model, False
    elsewhere."""
    from ensemble_byoc import cluster  # Dask is imported only by multi-host jobs

    defuse_handlers("distributed")  # Dask logs task errors through its own handler

    sharded = _sharded_channels(input_data_config)
    if sharded and config.refit_full:
        raise UserError(
            "refit_full is not available with ShardedByS3Key channels: no host holds every row to refit on; "
            "leave refit_full off (the fold models are served) or use S3DistributionType=FullyReplicated."
        )
    cluster.HOST_STOP.install_signal_handler()
    if not layout.is_leader:
        cluster.run_worker(layout, paths)
        return False
    with cluster.LeaderCluster(layout, paths) as leader:
        if sharded:
            from ensemble_byoc import sharded as sharding

            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=cluster.HOST_STOP, runner_factory=partial(sharding.ShardedUnitRunner, leader),
                         loader=partial(sharding.load_sharded_data, leader))
        else:
            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=cluster.HOST_STOP, runner_factory=leader.runner)
    return True


def _sharded_channels(input_data_config: Mapping[str, Any]) -> bool:
    """Whether the channels are sharded (``ShardedByS3Key``); all of them must agree, or it is a
    ``UserError``."""
    kinds = {name: str(channel.get("S3DistributionType") or "FullyReplicated")
             for name, channel in sorted(input_data_config.items()) if name in ("train", "validation")}
    sharded = {name for name, kind in kinds.items() if kind.lower() == "shardedbys3key"}
    if sharded and sharded != set(kinds):
        raise UserError(
            "Channels " + ", ".join(f"{name!r} ({kind})" for name, kind in kinds.items())
            + " mix S3DistributionType values; in a multi-host job 'train' and 'validation' must both be "
            "ShardedByS3Key (each host trains on its own files) or both FullyReplicated."
        )
    return bool(sharded)


def failure_reason(reason: str) -> str:
    """``reason`` on one line, cut to fit ``_FAILURE_LIMIT`` bytes of UTF-8 with its newline (SageMaker
    keeps that many of the file), never inside a character."""
    encoded = " ".join(reason.split()).encode("utf-8", errors="replace")[:_FAILURE_LIMIT - 1]
    return encoded.decode("utf-8", errors="ignore")  # drops only a character cut at the end


def _fail(paths: SageMakerPaths, reason: str) -> int:
    """Write the failure file (first line = the reason, as SageMaker's FailureReason) and log it."""
    first_line = failure_reason(reason)
    logger.error("%s: %s", FAILURE_LINE, first_line)
    try:
        paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(first_line + "\n", encoding="utf-8")
    except OSError as exc:
        logger.error("Could not write %s: %s", paths.failure_file, exc)
    return 1


def main() -> None:
    sys.exit(train_main(sys.argv[1:]))
