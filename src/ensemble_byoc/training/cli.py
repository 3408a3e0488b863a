"""The training entry point: the only place that turns errors into ``output/failure`` and an exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

from ensemble_byoc.contract.allocator import apply_allocator_setting, input_size
from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.contract.load_time import LoadTimeSetting
from ensemble_byoc.contract.logs import configure_logging
from ensemble_byoc.contract.openmp import apply_openmp_wait
from ensemble_byoc.contract.paths import BASE_DIR_VARIABLE, SageMakerPaths, is_multi_host, read_json_config
from ensemble_byoc.errors import EnsembleError, TrainingStoppedError, UserError
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.hyperparameter_values import decode_value
from ensemble_byoc.training.job import run_training
from ensemble_byoc.training.stopping import StopRequest

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


def train_main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
               openmp: LoadTimeSetting | None = None, allocator: LoadTimeSetting | None = None) -> int:
    """Run a training job as SageMaker starts one; return the process exit code.

    ``openmp``, ``allocator``: the OpenMP wait and CatBoost's allocator setting ``container/train`` set
    before the libraries loaded; else they are set here (too late for a library already loaded: logged).
    """
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
        (openmp or apply_openmp_wait(os.environ)).log(logger)
        (allocator or apply_allocator_setting(os.environ, input_size(paths.data_dir))).log(logger)
        hyperparameters = read_json_config(paths.hyperparameters_file, default={})
        level = decode_value(hyperparameters.get("sagemaker_container_log_level", ""))
        if isinstance(level, int):
            logging.getLogger("ensemble_byoc").setLevel(level)
        resource_config = read_json_config(paths.resource_config_file, default={})
        input_data_config = read_json_config(paths.input_data_config_file, default={})
        config = TrainConfig.from_hyperparameters(hyperparameters)
        if is_multi_host(resource_config):
            from ensemble_byoc.training.multihost import entry  # Dask is imported only by multi-host jobs

            if not entry.train_on_hosts(paths, config, input_data_config, resource_config, env):
                return 0
        else:
            stop = StopRequest()
            stop.install_signal_handler()
            run_training(paths, config, input_data_config=input_data_config, n_threads=available_cpus(),
                         stop=stop)
    except (UserError, TrainingStoppedError) as exc:
        return _fail(paths, f"{exc.kind}: {exc}")
    except EnsembleError as exc:
        logger.exception("The job failed")
        return _fail(paths, f"{exc.kind}: {exc}")
    except Exception as exc:  # noqa: BLE001 - the one place every failure becomes a failure file
        logger.exception("The job failed")
        return _fail(paths, f"AlgorithmError: {type(exc).__name__}: {exc}")
    logger.info(SUCCESS_LINE)
    return 0


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
        logger.error("Could not write %s: %s", paths.failure_file, exc)  # noqa: TRY400 - the reason is enough
    return 1


def main() -> None:
    sys.exit(train_main(sys.argv[1:]))
