"""No unit trains on more threads than the cores the process may use: read back from each library's own
settings of the fitted models (not a timing)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression

from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training


def library_threads(library: str, booster: object) -> int:
    """The thread count the library itself holds for a fitted model."""
    if library == "lightgbm":
        return int(booster.params["num_threads"])  # type: ignore[attr-defined]
    if library == "xgboost":
        return int(json.loads(booster.save_config())["learner"]["generic_param"]["nthread"])  # type: ignore[attr-defined]
    return int(booster.get_params()["thread_count"])  # type: ignore[attr-defined]


@pytest.fixture(params=["every usable core", "one core"])
def cores(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process's CPU affinity for the test: as it is, or one core (as a container limited to one)."""
    before = os.sched_getaffinity(0)
    if request.param == "one core":
        os.sched_setaffinity(0, {min(before)})
    try:
        yield available_cpus()
    finally:
        os.sched_setaffinity(0, before)


def test_every_unit_trains_on_at_most_the_usable_cores(opt_ml: OptMl, cores: int) -> None:
    X, y = make_regression(n_rows=30_000)  # enough rows for three threads (one per 10,000)
    opt_ml.add_training_csv(X, y)

    result = run_training(SageMakerPaths(opt_ml.base), TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS),
                          input_data_config={"train": {}}, n_threads=available_cpus())

    threads = {(unit.unit.library, unit.unit.fold): library_threads(unit.unit.library, unit.model.booster_)
               for unit in result.units}
    assert set(threads) == {(library, fold) for library in ("catboost", "lightgbm", "xgboost")
                            for fold in range(3)}
    assert all(1 <= count <= cores for count in threads.values()), threads
    assert max(threads.values()) == min(cores, 3)
