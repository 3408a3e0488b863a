"""Unit checkpoints: whole or absent, reused only for the same data and settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.training.checkpoints import CheckpointStore, unit_fingerprint
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.units import TrainingUnit, fit_unit, make_folds

RMSE = get_metric("regression", "rmse")
CONFIG = TrainConfig.from_hyperparameters({"k_fold": "3", "num_round": "20", "early_stopping_rounds": "5"})


@pytest.fixture(scope="module")
def data() -> Dataset:
    X, y = make_regression(n_rows=120)
    return Dataset(X=X, y=y, feature_names=tuple(f"f{i}" for i in range(5)), target_name="label")


@pytest.mark.parametrize("library", ["catboost", "lightgbm", "xgboost"])
def test_a_saved_unit_loads_with_the_same_predictions(tmp_path: Path, data: Dataset, library: str) -> None:
    fold = make_folds(data.n_rows, 3, 0)[1]
    unit = TrainingUnit(library, 1)
    result = fit_unit(unit, data, fold, CONFIG.booster_params(), {}, 1)
    store = CheckpointStore(tmp_path)
    fingerprint = unit_fingerprint(data.digest(), CONFIG, unit)
    store.save(result, fingerprint)
    loaded = store.load(unit, fingerprint, fold, data, 1, RMSE)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.oof_prediction, result.oof_prediction)
    np.testing.assert_array_equal(loaded.model.predict(data.X), result.model.predict(data.X))
    assert loaded.best_iteration == result.best_iteration
    assert [p.name for p in (tmp_path / "units").iterdir()] == [f"{library}-fold-1"]


def test_fingerprint_changes_with_data_settings_fold_and_library(data: Dataset) -> None:
    digest = data.digest()
    base = unit_fingerprint(digest, CONFIG, TrainingUnit("xgboost", 0))
    other_data = Dataset(X=data.X, y=data.y + 1, feature_names=data.feature_names, target_name="label")
    changed = [
        unit_fingerprint(other_data.digest(), CONFIG, TrainingUnit("xgboost", 0)),
        unit_fingerprint(digest, TrainConfig.from_hyperparameters({"k_fold": "3", "eta": "0.2"}),
                         TrainingUnit("xgboost", 0)),
        unit_fingerprint(digest, TrainConfig.from_hyperparameters({"k_fold": "3", "xgboost__max_bin": "32"}),
                         TrainingUnit("xgboost", 0)),
        unit_fingerprint(digest, CONFIG, TrainingUnit("xgboost", 1)),
        unit_fingerprint(digest, CONFIG, TrainingUnit("lightgbm", 0)),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)
    assert unit_fingerprint(digest, CONFIG, TrainingUnit("xgboost", 0)) == base


def test_huber_delta_changes_the_fingerprint_only_when_the_objective_is_huber(data: Dataset) -> None:
    # Before: a huber_delta set beside the default objective retrained every checkpointed unit.
    def fingerprint(**hyperparameters: str) -> str:
        config = TrainConfig.from_hyperparameters({"k_fold": "3", **hyperparameters})
        return unit_fingerprint(data.digest(), config, TrainingUnit("xgboost", 0))

    assert fingerprint(huber_delta="5") == fingerprint()
    assert fingerprint(objective="huber", huber_delta="5") != fingerprint(objective="huber")


def _saved(tmp_path: Path, data: Dataset) -> tuple[CheckpointStore, TrainingUnit, str]:
    fold = make_folds(data.n_rows, 3, 0)[0]
    unit = TrainingUnit("xgboost", 0)
    fingerprint = unit_fingerprint(data.digest(), CONFIG, unit)
    store = CheckpointStore(tmp_path)
    store.save(fit_unit(unit, data, fold, CONFIG.booster_params(), {}, 1), fingerprint)
    return store, unit, fingerprint


def _corrupt_model(directory: Path) -> None:
    path = directory / "model.ubj"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")


def _corrupt_record(directory: Path) -> None:
    (directory / "unit.json").write_text("{not json")


def _drop_oof(directory: Path) -> None:
    (directory / "oof.npy").unlink()


@pytest.mark.parametrize(("damage", "logged"), [
    (_corrupt_model, "model.ubj does not match its checksum in unit.json"),
    (_corrupt_record, "unit.json is not JSON"),
    (_drop_oof, "predictions 'oof.npy' is missing"),
])
def test_a_damaged_checkpoint_is_not_reused_and_says_why(
    tmp_path: Path, data: Dataset, caplog: pytest.LogCaptureFixture, damage, logged: str
) -> None:
    store, unit, fingerprint = _saved(tmp_path, data)
    damage(tmp_path / "units" / "xgboost-fold-0")
    fold = make_folds(data.n_rows, 3, 0)[0]
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert store.load(unit, fingerprint, fold, data, 1, RMSE) is None
    assert logged in caplog.text
    assert "Checkpoint xgboost-fold-0 is not reused (" in caplog.text
    assert caplog.text.rstrip().endswith("; the unit is retrained.")


def test_a_checkpoint_with_another_fingerprint_is_not_reused(tmp_path: Path, data: Dataset,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    store, unit, _ = _saved(tmp_path, data)
    fold = make_folds(data.n_rows, 3, 0)[0]
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert store.load(unit, "another", fold, data, 1, RMSE) is None
    assert "comes from other data or settings" in caplog.text


def test_no_checkpoint_means_none_and_a_half_written_one_is_invisible(tmp_path: Path, data: Dataset) -> None:
    store, unit, fingerprint = _saved(tmp_path, data)
    fold = make_folds(data.n_rows, 3, 0)[0]
    assert store.load(TrainingUnit("catboost", 0), fingerprint, fold, data, 1, RMSE) is None
    partial = tmp_path / "units" / "catboost-fold-0.partial"
    partial.mkdir()
    (partial / "unit.json").write_text(json.dumps({"fingerprint": fingerprint}))
    assert store.load(TrainingUnit("catboost", 0), fingerprint, fold, data, 1, RMSE) is None
