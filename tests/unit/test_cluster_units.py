"""cluster_units.train_unit: what a Dask worker runs for one unit, called here in a plain thread as a worker
would."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from ensemble_byoc.errors import UserError
from ensemble_byoc.models import load_spec
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.units import TrainingUnit, make_folds

pytest.importorskip("distributed")

PARAMS = BoosterParams(learning_rate=0.3, max_depth=3, num_round=20, early_stopping_rounds=5, seed=0)


def small_data() -> Dataset:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 3))
    return Dataset(X=X, y=X[:, 0] + rng.normal(scale=0.1, size=120), feature_names=("a", "b", "c"),
                   target_name="y")


def in_a_new_thread(function: object, *args: object) -> object:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(function(*args))  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    return outcome[0]


def test_a_worker_thread_refuses_an_unknown_lightgbm_parameter_even_when_another_thread_imported_lightgbm(
) -> None:
    import lightgbm  # noqa: F401 - imported by this (main) thread first, as on the first host

    from ensemble_byoc.training.multihost.cluster_units import train_unit

    data = small_data()
    fold = make_folds(data.n_rows, 3, 0)[0]
    outcome = in_a_new_thread(train_unit, TrainingUnit("lightgbm", 0), data, fold, PARAMS,
                              {"no_such_param_on_a_worker": 1}, 1, "regression", "rmse", None)
    assert isinstance(outcome, UserError), outcome
    assert "lightgbm__no_such_param_on_a_worker" in str(outcome)


@pytest.mark.parametrize("library", ["catboost", "lightgbm", "xgboost"])
def test_a_unit_comes_back_as_native_model_bytes_that_predict_its_out_of_fold_rows(library: str) -> None:
    from ensemble_byoc.training.multihost.cluster_units import train_unit

    data = small_data()
    fold = make_folds(data.n_rows, 3, 0)[1]
    payload = in_a_new_thread(train_unit, TrainingUnit(library, 1), data, fold, PARAMS, {}, 1, "regression",
                              "rmse", None)
    assert isinstance(payload, dict), payload
    assert isinstance(payload["model"], bytes) and not payload["hit_deadline"]
    spec = load_spec(library)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{spec.file_suffix}"
        path.write_bytes(payload["model"])
        model = spec.load(path, 1)
        np.testing.assert_allclose(model.predict(data.X[fold.valid_rows]), payload["oof"], rtol=1e-6)
