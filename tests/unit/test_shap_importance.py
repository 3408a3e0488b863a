"""The report's mean |SHAP| importance: the blend of the fold models' SHAP values on a bounded, seeded sample
of the out-of-fold rows, next to the gain shares in ``feature_importance.json``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, make_regression

from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.bundle.explain import explain
from ensemble_byoc.contract.paths import SageMakerPaths
from ensemble_byoc.models import model_bytes, model_from_bytes, registered
from ensemble_byoc.models.base import FoldRows, Model, ModelSpec
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.job import TrainingResult, run_training
from ensemble_byoc.training.report_shap import SHAP_KEY, SHAP_ROWS, shap_importance

FEATURES = tuple(f"f{i}" for i in range(5))


class LeastSquaresModel(Model):
    """A fourth library without tree SHAP: ordinary least squares in numpy, its model file a JSON list."""

    name = "lstsq"

    def _own_params(self) -> dict[str, Any]:
        return {}

    def _train(self, rows: FoldRows, should_stop: Callable[[], bool] | None) -> tuple[list[float], int]:
        design = np.column_stack([np.ones(len(rows.y)), np.asarray(rows.X, dtype=np.float64)])
        solution, *_ = np.linalg.lstsq(design, np.asarray(rows.y, dtype=np.float64), rcond=None)
        return [float(v) for v in solution], 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        solution = np.asarray(self.fitted("predict"))
        return np.asarray(solution[0] + np.asarray(X, dtype=np.float64) @ solution[1:], dtype=np.float64)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.fitted("save")), encoding="utf-8")

    def feature_importance(self) -> np.ndarray:
        return np.abs(np.asarray(self.fitted("feature_importance"), dtype=np.float64)[1:])

    @classmethod
    def load(cls, path: Path, n_threads: int) -> LeastSquaresModel:
        return cls.from_booster(json.loads(path.read_text(encoding="utf-8")), n_threads, 1)


def train(tree: OptMl, X: np.ndarray, y: np.ndarray, **hyperparameters: str) -> TrainingResult:
    tree.add_training_csv(X, y)
    config = TrainConfig.from_hyperparameters({**FAST_HYPERPARAMETERS, **hyperparameters})
    return run_training(SageMakerPaths(tree.base), config, input_data_config={}, n_threads=1,
                        metric_stream=io.StringIO())


def output(tree: OptMl, name: str) -> Any:
    return json.loads((tree.output_data / name).read_text(encoding="utf-8"))


def test_the_feature_that_drives_the_label_gets_the_largest_mean_abs_shap_beside_the_unchanged_gain_shares(
    tmp_path: Path,
) -> None:
    tree = OptMl(tmp_path / "opt_ml")
    train(tree, *make_regression(n_rows=300))
    importance = output(tree, "feature_importance.json")
    assert set(importance) == {"catboost", "lightgbm", "xgboost", "ensemble", SHAP_KEY}
    assert all(list(values) == list(FEATURES) for values in importance.values())  # every entry: per feature
    for key in ("catboost", "lightgbm", "xgboost", "ensemble"):  # the gain shares, as before
        assert sum(importance[key].values()) == pytest.approx(1.0)
    shap = importance[SHAP_KEY]
    assert max(shap, key=shap.get) == "f0"  # y = 3 x0 - 2 x1 x2 + sin(x3) + noise
    cost = output(tree, "cv_results.json")["shap_importance"]
    weighed = [name for name, weight in output(tree, "blend_weights.json").items() if weight > 0]
    assert cost["rows"] == 300 and cost["members"] == weighed and cost["left_out"] == {}
    assert cost["seconds"] > 0
    page = (tree.output_data / "report.html").read_text(encoding="utf-8")
    assert f"mean |SHAP| importance over 300 out-of-fold rows of {', '.join(weighed)} in " in page
    assert "share of total mean |SHAP|" in page and page.count("<svg") == 4  # beside the gain bars


def test_a_multiclass_importance_sums_each_features_blended_margin_values_over_the_classes(
    tmp_path: Path,
) -> None:
    X, _ = make_regression(n_rows=240)
    y = np.select([X[:, 0] > 0.5, X[:, 0] < -0.5], [2.0, 0.0], 1.0)
    tree = OptMl(tmp_path / "opt_ml")
    result = train(tree, X, y, problem_type="multiclass", blend="mean")
    shap = output(tree, "feature_importance.json")[SHAP_KEY]
    weights = result.ensemble.weights
    expected = np.zeros(5)
    for fold in range(3):  # every row, explained by the fold models that held it out (240 rows < the bound)
        units = [r for r in result.units if r.unit.fold == fold and weights.get(r.unit.name, 0.0) > 0]
        fold_ensemble = Ensemble(FEATURES, {r.unit.name: [r.model] for r in units}, weights, "multiclass",
                                 result.ensemble.classes)
        expected += np.abs(explain(fold_ensemble, X[units[0].valid_rows]).values).sum(axis=(0, 1))
    np.testing.assert_allclose(list(shap.values()), expected / 240, rtol=1e-9)
    assert max(shap, key=shap.get) == "f0"


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingResult, Dataset, OptMl]:
    X, y = make_regression(n_rows=SHAP_ROWS + 500)
    tree = OptMl(tmp_path_factory.mktemp("larger") / "opt_ml")
    result = train(tree, X, y, models="xgboost", k_fold="2", num_round="20")
    return result, Dataset(X, y, FEATURES, "label"), tree


def test_the_rows_explained_are_a_seeded_sample_of_at_most_the_bound(
    larger: tuple[TrainingResult, Dataset, OptMl],
) -> None:
    result, data, tree = larger
    assert output(tree, "cv_results.json")["shap_importance"]["rows"] == SHAP_ROWS < data.n_rows
    small = shap_importance(result.units, data, {"xgboost": 1.0}, seed=5, max_rows=40)
    assert small.rows == 40
    again = shap_importance(result.units, data, {"xgboost": 1.0}, seed=5, max_rows=40)
    assert again.values == small.values  # the same seed, the same rows
    assert shap_importance(result.units, data, {"xgboost": 1.0}, seed=6, max_rows=40).values != small.values


def test_fold_models_sent_back_as_native_files_as_in_a_multi_host_job_give_the_same_importance(
    larger: tuple[TrainingResult, Dataset, OptMl],
) -> None:
    result, data, _ = larger
    native = [replace(r, model=model_from_bytes(r.unit.library, model_bytes(r.unit.library, r.model), 1))
              for r in result.units]
    here = shap_importance(result.units, data, {"xgboost": 1.0}, seed=0, max_rows=100)
    assert shap_importance(native, data, {"xgboost": 1.0}, seed=0, max_rows=100).values == here.values


def test_too_little_of_time_limit_left_skips_the_importance_and_says_so(
    larger: tuple[TrainingResult, Dataset, OptMl], caplog: pytest.LogCaptureFixture
) -> None:
    result, data, _ = larger
    with caplog.at_level(logging.INFO, logger="ensemble_byoc.training.job"):
        skipped = shap_importance(result.units, data, {"xgboost": 1.0}, seed=0, seconds_left=1.5)
    assert skipped.values is None and skipped.rows == 0
    assert "mean |SHAP| importance not computed; 1.5 s left of time_limit." in caplog.text


def test_a_library_without_tree_shap_is_left_out_of_the_importance_with_a_note_and_the_job_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, _ = make_regression(n_rows=300)
    y = 3.0 * X[:, 0] + 2.0 * np.sign(X[:, 1])  # a line and a step: the blend of the two libraries wins
    tree = OptMl(tmp_path / "opt_ml")
    with registered(ModelSpec(LeastSquaresModel, ".json", library_version=lambda: "1.0")), \
            caplog.at_level(logging.INFO, logger="ensemble_byoc.training.job"):
        train(tree, X, y, models="lstsq,lightgbm", blend="weighted")
    assert output(tree, "blend_weights.json")["lstsq"] > 0  # the blend weighs it: its SHAP was asked for
    importance = output(tree, "feature_importance.json")
    assert set(importance) == {"lstsq", "lightgbm", "ensemble", SHAP_KEY}
    cost = output(tree, "cv_results.json")["shap_importance"]
    assert cost["members"] == ["lightgbm"] and list(cost["left_out"]) == ["lstsq"]
    assert ("lstsq left out: lstsq models cannot explain their predictions (this adapter has no tree SHAP)"
            in caplog.text)
    assert max(importance[SHAP_KEY], key=importance[SHAP_KEY].get) == "f0"
