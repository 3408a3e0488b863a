"""``container/train`` and ``container/serve`` set the OpenMP wait before any library loads its OpenMP
runtime: read back from what each libgomp itself printed when it loaded (``OMP_DISPLAY_ENV=VERBOSE``), so
these tests fail if a library import is moved above the setting."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import (
    TRAIN_SCRIPT,
    OptMl,
    TrainedTree,
    exit_code_of_refused_start,
    make_regression,
    serving,
    start_server,
)

PRODUCT_DEFAULT = ("OpenMP wait: GOMP_SPINCOUNT=1000 (the product's default; ENSEMBLE_BYOC_OMP_SPIN "
                   "changes it)")


def spin_counts_libgomp_read(log: str) -> list[str]:
    """``GOMP_SPINCOUNT`` as every libgomp loaded into the process printed it, one per runtime."""
    return re.findall(r"^\s*GOMP_SPINCOUNT = '(\d+)'$", log, re.MULTILINE)


def run_train_with(opt_ml: OptMl, **env: str) -> subprocess.CompletedProcess[str]:
    """The real ``container/train`` on 200 rows, with ``env`` as the only OpenMP settings."""
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    inherited = {k: v for k, v in opt_ml.env().items()
                 if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "ENSEMBLE_BYOC_OMP_SPIN")}
    return subprocess.run([sys.executable, str(TRAIN_SCRIPT), "train"], env={**inherited, **env},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(("env", "spin", "said"), [
    ({}, "1000", PRODUCT_DEFAULT),
    ({"ENSEMBLE_BYOC_OMP_SPIN": "20000"}, "20000",
     "OpenMP wait: GOMP_SPINCOUNT=20000 (from ENSEMBLE_BYOC_OMP_SPIN)"),
    ({"GOMP_SPINCOUNT": "5000"}, "5000", "OpenMP wait: GOMP_SPINCOUNT=5000, set by the user and left as set"),
])
def test_every_openmp_runtime_a_training_job_loads_reads_the_wait_the_log_names(
    opt_ml: OptMl, env: dict[str, str], spin: str, said: str
) -> None:
    result = run_train_with(opt_ml, OMP_DISPLAY_ENV="VERBOSE", **env)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr

    spins = spin_counts_libgomp_read(log)
    assert spins, "no libgomp was loaded, or it printed nothing"
    assert set(spins) == {spin}, log[-3000:]
    assert log.count("OpenMP wait:") == 1
    assert said in log
    assert "libgomp was loaded before it was set" not in log


def test_a_malformed_spin_setting_fails_the_training_job_naming_it(opt_ml: OptMl) -> None:
    result = run_train_with(opt_ml, ENSEMBLE_BYOC_OMP_SPIN="libary")

    assert result.returncode == 1
    assert opt_ml.failure_file.read_text().startswith(
        "PlatformError: ENSEMBLE_BYOC_OMP_SPIN == 'libary', must be a spin count")
    assert "(did you mean 'library'?)" in opt_ml.failure_file.read_text()
    assert opt_ml.model_files() == []


@pytest.mark.parametrize("multi_model", ["false", "true"])
def test_the_server_sets_the_wait_before_the_libraries_load_and_logs_it_once(
    trained_tree_for_serving: TrainedTree, multi_model: str
) -> None:
    with serving(trained_tree_for_serving.tree, OMP_DISPLAY_ENV="VERBOSE",
                 SAGEMAKER_MULTI_MODEL=multi_model) as server:
        log = server.log()

    spins = spin_counts_libgomp_read(log)
    assert spins, "no libgomp was loaded, or it printed nothing"
    assert set(spins) == {"1000"}, log[-3000:]
    assert log.count("OpenMP wait:") == 1
    assert PRODUCT_DEFAULT in log


def test_a_malformed_spin_setting_stops_the_server_naming_it(trained_tree_for_serving: TrainedTree) -> None:
    server = start_server(trained_tree_for_serving.tree, ENSEMBLE_BYOC_OMP_SPIN="fast")
    code = exit_code_of_refused_start(server)

    assert code != 0
    assert "ENSEMBLE_BYOC_OMP_SPIN == 'fast', must be a spin count" in server.log()
