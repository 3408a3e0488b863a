"""No unit trains on more threads than the cores the process may use: read back from each library's own
settings of the fitted models (not a timing)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training
from ensemble_byoc.training.stopping import StopRequest


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


class ThreadsAsking(StopRequest):
    """A stop request that is never made, noting which thread asks each time a unit checks it (after every
    boosting round)."""

    def __init__(self) -> None:
        super().__init__()
        self.askers: list[str] = []

    @property
    def requested(self) -> bool:
        self.askers.append(threading.current_thread().name)
        return False


def test_small_data_trains_units_side_by_side_into_the_same_models_as_one_at_a_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, y = make_regression(n_rows=600)  # one thread per unit: two units side by side on two cores
    config = TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "early_stopping_rounds": "0"})
    oof, predictions, askers = {}, {}, {}
    for cores in (1, 2):
        tree = OptMl(tmp_path / f"cores-{cores}")
        tree.add_training_csv(X, y)
        stop = ThreadsAsking()
        with caplog.at_level(logging.INFO, logger="ensemble_byoc.training.job"):
            run_training(SageMakerPaths(tree.base), config, input_data_config={"train": {}}, n_threads=cores,
                         stop=stop)
        oof[cores] = (tree.output_data / "oof_predictions.csv").read_bytes()
        ensemble, _ = load_bundle(tree.model_dir, n_threads=1)
        predictions[cores] = ensemble.predict(X)
        askers[cores] = [name for name in stop.askers if name.startswith("unit")]

    assert "9 units (catboost, lightgbm, xgboost x 3 folds), 1 thread(s) each, one at a time" in caplog.text
    assert "1 thread(s) each, up to 2 side by side" in caplog.text
    assert askers[1] == []
    assert len(set(askers[2])) == 2
    switches = sum(before != after for before, after in zip(askers[2], askers[2][1:], strict=False))
    assert switches > 9, "the two threads' units took turns instead of running at once"
    assert oof[1] == oof[2]  # every unit's out-of-fold predictions, to the last digit written
    np.testing.assert_array_equal(predictions[1], predictions[2])


def test_a_time_limit_keeps_units_one_at_a_time(opt_ml: OptMl, caplog: pytest.LogCaptureFixture) -> None:
    X, y = make_regression(n_rows=600)
    opt_ml.add_training_csv(X, y)
    config = TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, "time_limit": "600"})

    with caplog.at_level(logging.INFO, logger="ensemble_byoc.training.job"):
        run_training(SageMakerPaths(opt_ml.base), config, input_data_config={"train": {}}, n_threads=2)

    assert "1 thread(s) each, one at a time, time_limit 600 s" in caplog.text
