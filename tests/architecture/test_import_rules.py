"""Imports only point down, read from the source: every import statement, lazy ones included."""

from __future__ import annotations

from package_tree import (
    DASK,
    LAUNCHER_ONLY,
    LAYERS,
    LIBRARIES,
    MAY_IMPORT,
    MULTIHOST,
    PACKAGE,
    Import,
    imports_of,
    layer_of,
    package_modules,
    top_name,
)


def _all_imports() -> list[Import]:
    return [found for module in package_modules() for found in imports_of(module)]


def test_every_module_of_the_package_lies_in_a_known_layer() -> None:
    unknown = [m.name for m in package_modules() if m.layer not in ("", *LAYERS)]

    assert unknown == [], f"modules outside the layers {LAYERS} (give the new folder a layer): {unknown}"


def test_every_import_of_the_package_points_to_its_own_layer_or_one_below() -> None:
    upward = [
        f"{found.where}: {found.module.name} ({found.module.layer}) imports {found.target}"
        for found in _all_imports()
        if top_name(found.target) == PACKAGE and found.module.layer
        and layer_of(found.target) not in (*MAY_IMPORT[found.module.layer], "__version__")
    ]

    assert upward == [], "imports that point up or sideways:\n" + "\n".join(upward)


def test_only_the_training_entry_point_imports_multihost_and_only_inside_a_function() -> None:
    entry = f"{PACKAGE}.training.cli"
    wrong = [
        f"{found.where}: {found.module.name} imports {found.target}"
        + (" at module level" if found.module.name == entry else "")
        for found in _all_imports()
        if found.target.startswith(MULTIHOST) and found.module.layer != "launcher"
        and not found.module.name.startswith(MULTIHOST)
        and not (found.module.name == entry and found.lazy)
    ]

    assert wrong == [], "multi-host code reached from the single-host job:\n" + "\n".join(wrong)


def test_only_the_model_adapters_import_catboost_xgboost_and_lightgbm() -> None:
    wrong = [
        f"{found.where}: {found.module.name} imports {found.target}"
        for found in _all_imports()
        if top_name(found.target) in LIBRARIES and found.module.layer != "models"
    ]

    assert wrong == [], "a library imported outside models/:\n" + "\n".join(wrong)


def test_dask_is_imported_only_by_multihost_and_inside_the_adapters_distributed_fits() -> None:
    def allowed(found: Import) -> bool:
        if found.module.name.startswith(MULTIHOST):
            return True
        return found.module.layer == "models" and found.lazy  # xgboost.dask, lightgbm.dask in a function

    wrong = [
        f"{found.where}: {found.module.name} imports {found.target}"
        for found in _all_imports()
        if (top_name(found.target) in DASK or found.target.split(".")[1:2] == ["dask"]) and not allowed(found)
    ]

    assert wrong == [], "Dask imported outside multihost/ and the distributed fits:\n" + "\n".join(wrong)


def test_the_sagemaker_sdk_and_boto3_are_imported_only_by_the_launcher() -> None:
    wrong = [
        f"{found.where}: {found.module.name} imports {found.target}"
        for found in _all_imports()
        if top_name(found.target) in LAUNCHER_ONLY and found.module.layer != "launcher"
    ]

    assert wrong == [], "the launcher's SDK imported by code of the image:\n" + "\n".join(wrong)
