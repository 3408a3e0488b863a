"""Any feature name a CSV header or a Parquet schema can carry trains: the libraries are given safe internal
names, the user's names stay in the manifest, and a model written when boosters carried the user's names
still loads and predicts the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.bundle.artifacts import load_bundle, save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble, merge_folds, probe_rows
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import BoosterParams, library_feature_names

LIBRARIES = available_libraries()
PARAMS = BoosterParams(learning_rate=0.3, max_depth=3, num_round=20, early_stopping_rounds=5, seed=0)
NASTY_NAMES = (
    "bmi_$_x_$",
    "validation-rmse:0.000001;",
    'say "hi"',
    "a[0]",
    "b]",
    "x<y",
    "comma, inside",
    "größe ✓ 名前",
    "with  spaces ",
    "n" * 2000,
    "7",
    "-1.5e3",
    "{json}",
    "back\\slash",
)
OLD_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model_with_user_feature_names"


def test_library_feature_names_are_f0_to_fn_in_column_order() -> None:
    assert library_feature_names(3) == ["f0", "f1", "f2"]
    assert library_feature_names(0) == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_adapter_trains_saves_and_reloads_with_names_the_libraries_refuse(
    library: str, tmp_path: Path
) -> None:
    X, y = make_regression(n_rows=150, n_features=len(NASTY_NAMES), seed=5)
    X[:, len(NASTY_NAMES) - 1] = np.arange(150) % 3  # one categorical column, by code
    spec = load_spec(library)
    model = spec.create(PARAMS, {}, 1).fit(X[:100], y[:100], X_valid=X[100:], y_valid=y[100:],
                                           feature_names=NASTY_NAMES,
                                           categorical_features=(len(NASTY_NAMES) - 1,))
    path = tmp_path / f"model{spec.file_suffix}"
    model.save(path)
    loaded = spec.load(path, 1)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert model.feature_importance().shape == (len(NASTY_NAMES),)


def test_the_manifest_keeps_the_users_names_while_boosters_hold_internal_ones(tmp_path: Path) -> None:
    X, y = make_regression(n_rows=120, n_features=len(NASTY_NAMES), seed=6)
    members = {}
    for library in LIBRARIES:
        spec = load_spec(library)
        members[library] = [spec.create(PARAMS, {}, 1).fit(X[:80], y[:80], X_valid=X[80:], y_valid=y[80:],
                                                          feature_names=NASTY_NAMES)]
    ensemble = Ensemble(feature_names=NASTY_NAMES, members=members,
                        weights={lib: 1 / len(LIBRARIES) for lib in LIBRARIES},
                        problem_type="regression", classes=(), categories={})
    save_bundle(tmp_path, ensemble, blend_method="mean", extra={})
    loaded, manifest = load_bundle(tmp_path, n_threads=1)
    assert manifest["feature_names"] == list(NASTY_NAMES)
    assert loaded.feature_names == NASTY_NAMES
    np.testing.assert_array_equal(loaded.predict(X), ensemble.predict(X))
    assert "feature_names=f0 f1" in (tmp_path / "lightgbm" / "fold-0.txt").read_text(encoding="utf-8")


def _old_rows() -> tuple[np.ndarray, dict[str, object]]:
    expected = json.loads((OLD_MODEL / "expected.json").read_text(encoding="utf-8"))
    rows = np.array([[np.nan if v is None else v for v in row] for row in expected["rows"]], dtype=np.float64)
    return rows, expected


def test_a_model_written_with_the_users_names_in_its_boosters_predicts_as_it_did() -> None:
    rows, expected = _old_rows()
    ensemble, manifest = load_bundle(OLD_MODEL / "model", n_threads=1)
    assert manifest["feature_names"] == ["bmi x", "größe", "7", "colour"]
    members = ensemble.predict_members(rows)
    assert sorted(members) == sorted(expected["members"])  # type: ignore[arg-type]
    # identical with the library versions that wrote it (see the fixture's README); the tolerance only
    # spares a library upgrade's last-bit rounding, a column read from the wrong place is far outside it
    for library, values in members.items():
        np.testing.assert_allclose(values, expected["members"][library], rtol=1e-6, atol=1e-9,  # type: ignore[index]
                                   err_msg=library)
    np.testing.assert_allclose(ensemble.predict(rows), expected["prediction"], rtol=1e-6, atol=1e-9)


def test_a_model_written_with_the_users_names_still_merges_its_folds_for_serving() -> None:
    rows, expected = _old_rows()
    ensemble, _ = load_bundle(OLD_MODEL / "model", n_threads=1)
    mergers = {library: load_spec(library).merge_folds for library in ensemble.members}
    merged = merge_folds(ensemble, mergers, probe_rows(ensemble.n_features))
    np.testing.assert_allclose(merged.predict(rows), np.array(expected["prediction"]), rtol=1e-6)
