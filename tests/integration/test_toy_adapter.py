"""A fourth library is one small file: a toy adapter written here, built from ``models.base``'s helpers and
registered from outside the package, trains through the real job beside LightGBM, and its model directory
loads and predicts."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression

from ensemble_byoc.bundle.artifacts import load_bundle
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.errors import PlatformError, UserError
from ensemble_byoc.models import available_libraries, registered
from ensemble_byoc.models.base import BoosterParams, FoldRows, Model, ModelSpec
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import TrainingResult, run_training

# -- the toy library: ridge regression in numpy, its model file a JSON object -------------------------------


class RidgeModel(Model):
    name = "ridge"
    shared_names = {"reg_lambda": "alpha"}  # the shared ``reg_lambda`` is this library's ``alpha``

    def _own_params(self) -> dict[str, Any]:
        return {"alpha": 1.0}

    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[dict[str, Any], int]:
        params = self.library_params()
        self.refuse_unknown_parameters(set(params) - {"alpha"})
        X, y = np.asarray(rows.X, dtype=np.float64), np.asarray(rows.y, dtype=np.float64)
        centred = X - X.mean(axis=0)
        gram = centred.T @ centred + float(params["alpha"]) * np.eye(X.shape[1])
        coef = np.linalg.solve(gram, centred.T @ (y - y.mean()))
        ridge = {"coef": coef.tolist(), "intercept": float(y.mean() - X.mean(axis=0) @ coef),
                 "gains": (np.abs(coef) * X.std(axis=0)).tolist()}
        return ridge, 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        ridge = self.fitted("predict")
        prediction = np.asarray(X, dtype=np.float64) @ np.asarray(ridge["coef"]) + ridge["intercept"]
        return np.asarray(prediction, dtype=np.float64)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.fitted("save")), encoding="utf-8")

    def feature_importance(self) -> np.ndarray:
        return np.asarray(self.fitted("feature_importance")["gains"], dtype=np.float64)

    @classmethod
    def load(cls, path: Path, n_threads: int) -> RidgeModel:
        return cls.from_booster(json.loads(path.read_text(encoding="utf-8")), n_threads, 1)


SPEC = ModelSpec(RidgeModel, ".json", library_version=lambda: "1.0")

# -- the tests --------------------------------------------------------------------------------------------

HYPERPARAMETERS = {**FAST_HYPERPARAMETERS, "models": "ridge,lightgbm", "ridge__alpha": "5"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[OptMl, TrainingResult]:
    tree = OptMl(tmp_path_factory.mktemp("toy") / "opt_ml")
    X, y = make_regression()
    tree.add_training_csv(X, y)
    with registered(SPEC):
        result = run_training(SageMakerPaths(tree.base), TrainConfig.from_hyperparameters(HYPERPARAMETERS),
                              input_data_config={}, n_threads=1, metric_stream=io.StringIO())
    return tree, result


def test_the_toy_library_trains_through_the_job_beside_lightgbm_and_its_model_directory_predicts(
    trained: tuple[OptMl, TrainingResult]
) -> None:
    tree, result = trained
    assert set(result.library_scores) == {"ridge", "lightgbm"}
    manifest = json.loads((tree.model_dir / "manifest.json").read_text())
    assert manifest["blend"]["weights"]["ridge"] > 0  # the blend keeps it: it helps LightGBM
    entry = manifest["libraries"]["ridge"]
    assert entry["version"] == "1.0"
    assert [fold["file"] for fold in entry["folds"]] == [f"ridge/fold-{i}.json" for i in range(3)]

    with registered(SPEC):
        ensemble, _ = load_bundle(tree.model_dir, n_threads=1)
    X, _ = make_regression(n_rows=20, seed=99)
    folds = [json.loads((tree.model_dir / fold["file"]).read_text()) for fold in entry["folds"]]
    by_hand = np.mean([X @ np.asarray(fold["coef"]) + fold["intercept"] for fold in folds], axis=0)
    np.testing.assert_allclose(ensemble.predict_members(X)["ridge"], by_hand, rtol=1e-12)
    np.testing.assert_array_equal(ensemble.predict(X), result.ensemble.predict(X))


def test_the_toy_library_maps_the_shared_hyperparameters_takes_its_own_and_refuses_unknown_ones() -> None:
    X, y = make_regression()
    params = TrainConfig.from_hyperparameters(FAST_HYPERPARAMETERS).booster_params()

    def coef(params: BoosterParams, overrides: dict[str, Any]) -> np.ndarray:
        model = RidgeModel(params, overrides, 1).fit(X, y, X_valid=X, y_valid=y, feature_names=tuple("abcde"))
        return np.asarray(model.fitted("test")["coef"])

    assert coef(params, {})[0] == pytest.approx(3.0, abs=0.2)
    assert np.abs(coef(replace(params, reg_lambda=1e9), {})).max() < 1e-3
    assert np.abs(coef(params, {"alpha": 1e9})).max() < 1e-3
    with pytest.raises(UserError, match=r"ridge does not know the parameter\(s\) ridge__depth;"):
        coef(params, {"depth": 2})


def test_outside_the_registration_the_toy_library_is_unknown_as_before(
    trained: tuple[OptMl, TrainingResult]
) -> None:
    tree, _ = trained
    assert available_libraries() == ("catboost", "lightgbm", "xgboost")
    with pytest.raises(PlatformError, match=r"names library 'ridge', which this image does not have\."):
        load_bundle(tree.model_dir, n_threads=1)
    with pytest.raises(UserError, match=r"unknown library 'ridge'"):
        TrainConfig.from_hyperparameters(HYPERPARAMETERS)


@pytest.mark.parametrize("name", ["xgboost", "ridge-2", "ridge__x", "Ridge", ""])
def test_a_registration_that_would_shadow_a_library_or_break_member_names_is_refused(name: str) -> None:
    clash = type("Clash", (RidgeModel,), {"name": name})
    with pytest.raises(ValueError, match=f"Cannot register library {name!r}"), registered(
        ModelSpec(clash, ".json", library_version=lambda: "1.0")
    ):
        pass
    assert available_libraries() == ("catboost", "lightgbm", "xgboost")
