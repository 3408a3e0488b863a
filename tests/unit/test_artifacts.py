"""The model directory: save_bundle / load_bundle round trip, the manifest, replacement, and every way it
breaks.

One good bundle is trained and saved once per module; each broken-directory case breaks its own copy.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.bundle.artifacts import load_bundle, save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.errors import NotFittedError, PlatformError
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.units import TrainingUnit, fit_unit, make_folds

LIBRARIES = available_libraries()
PARAMS = BoosterParams(learning_rate=0.3, max_depth=3, num_round=30, early_stopping_rounds=5, seed=0)
FEATURES = ("alpha", "beta", "gamma", "delta", "epsilon")
K_FOLD = 2
EXTRA = {"problem_type": "regression", "target": "y", "cv_rmse": 0.5}


@dataclass(frozen=True)
class Bundle:
    model_dir: Path
    ensemble: Ensemble
    manifest: dict[str, Any]
    X: np.ndarray


def _weights(libraries: tuple[str, ...]) -> dict[str, float]:
    raw = {library: float(i + 1) for i, library in enumerate(libraries)}
    total = sum(raw.values())
    return {library: value / total for library, value in raw.items()}


def _files(model_dir: Path) -> set[str]:
    return {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}


def _listed_files(manifest: dict[str, Any]) -> set[str]:
    return {fold["file"] for entry in manifest["libraries"].values() for fold in entry["folds"]}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    X, y = make_regression(n_rows=120, n_features=len(FEATURES), seed=5)
    data = Dataset(X=X, y=y, feature_names=FEATURES, target_name="y")
    folds = make_folds(data.n_rows, K_FOLD, seed=0)
    members = {
        library: [fit_unit(TrainingUnit(library, f.index), data, f, PARAMS, {}, 1).model for f in folds]
        for library in LIBRARIES
    }
    ensemble = Ensemble(feature_names=FEATURES, members=members, weights=_weights(LIBRARIES))
    model_dir = tmp_path_factory.mktemp("bundle") / "model"
    manifest = save_bundle(model_dir, ensemble, blend_method="weighted", extra=EXTRA)
    return Bundle(model_dir, ensemble, manifest, X)


@pytest.fixture
def copy_of(bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(bundle.model_dir, target)
    return target


# -- round trip and manifest ------------------------------------------------------------------------------


def test_a_loaded_bundle_predicts_exactly_what_the_saved_ensemble_did(bundle: Bundle) -> None:
    loaded, _ = load_bundle(bundle.model_dir, n_threads=1)
    np.testing.assert_array_equal(loaded.predict(bundle.X), bundle.ensemble.predict(bundle.X))
    for library in LIBRARIES:
        np.testing.assert_array_equal(
            loaded.predict_members(bundle.X)[library], bundle.ensemble.predict_members(bundle.X)[library]
        )


def test_a_loaded_bundle_keeps_feature_names_weights_and_fold_counts(bundle: Bundle) -> None:
    loaded, manifest = load_bundle(bundle.model_dir, n_threads=1)
    assert loaded.feature_names == FEATURES
    assert dict(loaded.weights) == _weights(LIBRARIES)
    assert ({library: len(models) for library, models in loaded.members.items()}
            == dict.fromkeys(LIBRARIES, K_FOLD))
    assert manifest == bundle.manifest


def test_the_ensemble_prediction_is_the_weighted_sum_of_each_library_fold_mean(bundle: Bundle) -> None:
    expected = sum(
        weight * np.mean([model.predict(bundle.X) for model in bundle.ensemble.members[library]], axis=0)
        for library, weight in _weights(LIBRARIES).items()
    )
    np.testing.assert_allclose(bundle.ensemble.predict(bundle.X), expected, rtol=1e-12, atol=1e-12)


def test_the_manifest_on_disk_is_the_one_save_bundle_returned(bundle: Bundle) -> None:
    on_disk = json.loads((bundle.model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == bundle.manifest


def test_the_manifest_records_schema_features_blend_and_extra_entries(bundle: Bundle) -> None:
    manifest = bundle.manifest
    assert manifest["schema_version"] == 1
    assert manifest["feature_names"] == list(FEATURES)
    assert manifest["blend"] == {"method": "weighted", "weights": _weights(LIBRARIES)}
    for key, value in EXTRA.items():
        assert manifest[key] == value
    assert sorted(manifest["libraries"]) == sorted(LIBRARIES)


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_manifest_records_each_fold_file_checksum_best_iteration_and_library_version(
    bundle: Bundle, library: str
) -> None:
    spec = load_spec(library)
    entry = bundle.manifest["libraries"][library]
    assert entry["version"] == spec.library_version()
    assert [fold["file"] for fold in entry["folds"]] == [
        f"{library}/fold-{i}{spec.file_suffix}" for i in range(K_FOLD)
    ]
    for fold, model in zip(entry["folds"], bundle.ensemble.members[library], strict=True):
        content = (bundle.model_dir / fold["file"]).read_bytes()
        assert fold["sha256"] == hashlib.sha256(content).hexdigest()
        assert fold["best_iteration"] == model.best_iteration_


def test_a_saved_model_directory_holds_only_the_manifest_and_the_listed_files(bundle: Bundle) -> None:
    assert _files(bundle.model_dir) == {"manifest.json"} | _listed_files(bundle.manifest)
    assert not (bundle.model_dir / ".staging").exists()


# -- saving over an existing model ------------------------------------------------------------------------


def test_saving_over_an_existing_model_replaces_it_without_stale_files(bundle: Bundle, copy_of: Path) -> None:
    kept = LIBRARIES[:-1] or LIBRARIES
    smaller = Ensemble(
        feature_names=FEATURES,
        members={library: list(bundle.ensemble.members[library][:1]) for library in kept},
        weights=_weights(kept),
    )
    manifest = save_bundle(copy_of, smaller, blend_method="weighted", extra={})

    assert _files(copy_of) == {"manifest.json"} | _listed_files(manifest)
    assert not (copy_of / ".staging").exists()
    assert sorted(p.name for p in copy_of.iterdir()) == sorted(["manifest.json", *kept])
    assert "cv_rmse" not in manifest
    loaded, _ = load_bundle(copy_of, n_threads=1)
    np.testing.assert_array_equal(loaded.predict(bundle.X), smaller.predict(bundle.X))


def test_saving_the_same_ensemble_twice_gives_the_same_files(bundle: Bundle, copy_of: Path) -> None:
    manifest = save_bundle(copy_of, bundle.ensemble, blend_method="weighted", extra=EXTRA)
    assert manifest == bundle.manifest
    assert _files(copy_of) == _files(bundle.model_dir)
    assert not (copy_of / ".staging").exists()


def test_a_save_that_fails_leaves_the_previous_model_loadable_and_no_staging_folder(
    bundle: Bundle, copy_of: Path
) -> None:
    library = LIBRARIES[0]
    unfitted = load_spec(library).create(PARAMS, {}, 1)
    broken = Ensemble(feature_names=FEATURES, members={library: [unfitted]}, weights={library: 1.0})
    with pytest.raises(NotFittedError):
        save_bundle(copy_of, broken, blend_method="weighted", extra={})

    assert not (copy_of / ".staging").exists()
    loaded, _ = load_bundle(copy_of, n_threads=1)
    np.testing.assert_array_equal(loaded.predict(bundle.X), bundle.ensemble.predict(bundle.X))


def test_save_bundle_creates_a_missing_model_directory(bundle: Bundle, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "model"
    save_bundle(target, bundle.ensemble, blend_method="weighted", extra={})
    loaded, _ = load_bundle(target, n_threads=1)
    np.testing.assert_array_equal(loaded.predict(bundle.X), bundle.ensemble.predict(bundle.X))


# -- broken model directories -----------------------------------------------------------------------------


def _edit_manifest(model_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _fold(manifest: dict[str, Any], library: str, index: int) -> dict[str, Any]:
    fold: dict[str, Any] = manifest["libraries"][library]["folds"][index]
    return fold


def _first_file(model_dir: Path, library: str) -> str:
    manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
    return str(_fold(manifest, library, 0)["file"])


def _replace_file_and_checksum(model_dir: Path, library: str, make: Callable[[bytes], bytes]) -> None:
    def edit(manifest: dict[str, Any]) -> None:
        fold = _fold(manifest, library, 0)
        path = model_dir / fold["file"]
        path.write_bytes(make(path.read_bytes()))
        fold["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()

    _edit_manifest(model_dir, edit)


def _missing_manifest(d: Path) -> None:
    (d / "manifest.json").unlink()


def _manifest_not_json(d: Path) -> None:
    (d / "manifest.json").write_text('{"schema_version": 1, "feature_names": [', encoding="utf-8")


def _manifest_not_an_object(d: Path) -> None:
    (d / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")


def _manifest_not_utf8(d: Path) -> None:
    (d / "manifest.json").write_bytes(b'{"schema_version": "\xff"}')


def _schema_version(value: object) -> Callable[[Path], None]:
    return lambda d: _edit_manifest(d, lambda m: m.__setitem__("schema_version", value))


def _no_schema_version(d: Path) -> None:
    _edit_manifest(d, lambda m: m.pop("schema_version"))


def _delete_listed_file(d: Path) -> None:
    (d / _first_file(d, LIBRARIES[-1])).unlink()


def _change_one_byte(d: Path) -> None:
    path = d / _first_file(d, LIBRARIES[0])
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def _file_path(value: str) -> Callable[[Path], None]:
    return lambda d: _edit_manifest(d, lambda m: _fold(m, LIBRARIES[0], 0).__setitem__("file", value))


def _dotdot_path_to_a_real_copy(d: Path) -> None:
    """The file '..' points to exists and matches its checksum: only the path itself is wrong."""
    relative = _first_file(d, LIBRARIES[0])
    shutil.copy(d / relative, d.parent / "outside.bin")
    _edit_manifest(d, lambda m: _fold(m, LIBRARIES[0], 0).__setitem__("file", "../outside.bin"))


def _unknown_library(d: Path) -> None:
    def edit(m: dict[str, Any]) -> None:
        m["libraries"]["sklearn"] = {**m["libraries"].pop(LIBRARIES[0]), "library": "sklearn"}
        m["blend"]["weights"]["sklearn"] = m["blend"]["weights"].pop(LIBRARIES[0])

    _edit_manifest(d, edit)


def _weights_name_a_library_without_models(d: Path) -> None:
    _edit_manifest(d, lambda m: m["libraries"].pop(LIBRARIES[-1]))


def _weights_name_a_library_the_manifest_does_not_hold(d: Path) -> None:
    _edit_manifest(d, lambda m: m["blend"]["weights"].__setitem__("ghost", 0.5))


def _models_without_a_weight(d: Path) -> None:
    _edit_manifest(d, lambda m: m["blend"]["weights"].pop(LIBRARIES[0]))


def _no_folds(d: Path) -> None:
    _edit_manifest(d, lambda m: m["libraries"][LIBRARIES[-1]].__setitem__("folds", []))


def _no_feature_names(d: Path) -> None:
    _edit_manifest(d, lambda m: m.pop("feature_names"))


def _no_libraries(d: Path) -> None:
    _edit_manifest(d, lambda m: m.__setitem__("libraries", {}))


def _unreadable(library: str, make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda d: _replace_file_and_checksum(d, library, make)


def _truncated(content: bytes) -> bytes:
    return content[:64]


def _garbage(content: bytes) -> bytes:
    return b"this is not a model file\n" * 8


BROKEN_CASES: list[Any] = [
    pytest.param(
        _missing_manifest, r"has no manifest\.json; it is not a complete model", id="missing-manifest"
    ),
    pytest.param(_manifest_not_json, r"manifest\.json in .* is not readable JSON", id="manifest-not-json"),
    pytest.param(_manifest_not_utf8, r"manifest\.json in .* is not readable JSON", id="manifest-not-utf8"),
    pytest.param(
        _manifest_not_an_object, r"manifest\.json in .* is not a JSON object", id="manifest-not-object"
    ),
    pytest.param(_schema_version(2), r"schema_version 2; this image reads schema_version 1", id="schema-2"),
    pytest.param(
        _schema_version("1"), r"schema_version '1'; this image reads schema_version 1", id="schema-str"
    ),
    pytest.param(_no_schema_version, r"schema_version None", id="schema-missing"),
    pytest.param(
        _delete_listed_file,
        rf"Model file {re.escape(LIBRARIES[-1])}/fold-0\.\w+ listed in manifest\.json is missing",
        id="model-file-deleted",
    ),
    pytest.param(
        _change_one_byte,
        rf"Model file {re.escape(LIBRARIES[0])}/fold-0\.\w+ does not match its checksum",
        id="one-byte-changed",
    ),
    pytest.param(_file_path("../outside.bin"), r"'\.\./outside\.bin'.*points outside", id="dotdot-path"),
    pytest.param(_dotdot_path_to_a_real_copy, r"'\.\./outside\.bin'.*points outside", id="dotdot-real-file"),
    pytest.param(
        _file_path(f"{LIBRARIES[0]}/../../x"), r"points outside the model directory", id="dotdot-inside-path"
    ),
    pytest.param(_file_path("/etc/passwd"), r"'/etc/passwd'.*points outside", id="absolute-path"),
    pytest.param(
        _unknown_library, r"names library 'sklearn', which this image does not have", id="unknown-library"
    ),
    pytest.param(
        _weights_name_a_library_without_models,
        rf"blends \[.*'{LIBRARIES[-1]}'.*\] but holds models of \[(?!.*'{LIBRARIES[-1]}')",
        id="weight-without-models",
    ),
    pytest.param(
        _weights_name_a_library_the_manifest_does_not_hold,
        r"blends \[.*'ghost'.*\] but holds models of",
        id="weight-for-ghost-library",
    ),
    pytest.param(_models_without_a_weight, r"blends .* but holds models of", id="models-without-weight"),
    pytest.param(_no_libraries, r"blends .* but holds models of \[\]", id="no-libraries"),
    pytest.param(_no_folds, rf"lists no fold models for '{LIBRARIES[-1]}'", id="no-folds"),
    pytest.param(
        _no_feature_names, r"incomplete or malformed: KeyError: 'feature_names'", id="no-feature-names"
    ),
    *[
        pytest.param(
            _unreadable(library, make),
            rf"{library} could not read {re.escape(library)}/fold-0\.\w+",
            id=f"{library}-{make.__name__.strip('_')}",
        )
        for library in LIBRARIES
        for make in (_truncated, _garbage)
    ],
]


@pytest.mark.parametrize(("breaks", "message"), BROKEN_CASES)
def test_a_broken_model_directory_raises_a_platform_error_naming_the_problem(
    copy_of: Path, breaks: Callable[[Path], None], message: str
) -> None:
    breaks(copy_of)
    with pytest.raises(PlatformError, match=message) as info:
        load_bundle(copy_of, n_threads=1)
    assert info.value.status_code == 503


def test_an_empty_model_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match=r"has no manifest\.json"):
        load_bundle(tmp_path, n_threads=1)


def test_a_model_directory_that_does_not_exist_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match=r"has no manifest\.json"):
        load_bundle(tmp_path / "nowhere", n_threads=1)
