"""Imports only point down, read from the source: every import statement, lazy ones included."""

from __future__ import annotations

from collections.abc import Callable

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

TRAINING_ENTRY = f"{PACKAGE}.training.cli"


def _breaking(rule: Callable[[Import], bool]) -> list[str]:
    """``file:line: module imports target`` for each import statement of the package that ``rule`` flags."""
    return [
        f"{found.where}: {found.module.name} {'lazily ' if found.lazy else ''}imports {found.target}"
        for module in package_modules()
        for found in imports_of(module)
        if rule(found)
    ]


def _points_up(found: Import) -> bool:
    if top_name(found.target) != PACKAGE or not found.module.layer:
        return False
    return layer_of(found.target) not in (*MAY_IMPORT[found.module.layer], "__version__")


def _reaches_multihost(found: Import) -> bool:
    return (found.target.startswith(MULTIHOST) and found.module.layer == "training"
            and not found.module.name.startswith(MULTIHOST)
            and not (found.module.name == TRAINING_ENTRY and found.lazy))


def _imports_dask(found: Import) -> bool:
    dask = top_name(found.target) in DASK or found.target.split(".")[1:2] == ["dask"]  # xgboost.dask, ...
    inside_a_fit = found.module.layer == "models" and found.lazy  # the adapters' distributed fits
    return dask and not found.module.name.startswith(MULTIHOST) and not inside_a_fit


def test_every_module_of_the_package_lies_in_a_known_layer() -> None:
    unknown = [m.name for m in package_modules() if m.layer not in ("", *LAYERS)]

    assert unknown == [], f"modules outside the layers {LAYERS} (give the new folder a layer): {unknown}"


def test_every_import_of_the_package_points_to_its_own_layer_or_one_below() -> None:
    wrong = _breaking(_points_up)

    assert wrong == [], "imports that point up or sideways:\n" + "\n".join(wrong)


def test_only_the_training_entry_point_imports_multihost_and_only_inside_a_function() -> None:
    wrong = _breaking(_reaches_multihost)

    assert wrong == [], "multi-host code reached from the single-host job:\n" + "\n".join(wrong)


def test_only_the_model_adapters_import_catboost_xgboost_and_lightgbm() -> None:
    wrong = _breaking(lambda found: top_name(found.target) in LIBRARIES and found.module.layer != "models")

    assert wrong == [], "a library imported outside models/:\n" + "\n".join(wrong)


def test_dask_is_imported_only_by_multihost_and_inside_the_adapters_distributed_fits() -> None:
    wrong = _breaking(_imports_dask)

    assert wrong == [], "Dask imported outside multihost/ and the distributed fits:\n" + "\n".join(wrong)


def test_the_sagemaker_sdk_and_boto3_are_imported_only_by_the_launcher() -> None:
    wrong = _breaking(lambda found: top_name(found.target) in LAUNCHER_ONLY
                      and found.module.layer != "launcher")

    assert wrong == [], "the launcher's SDK imported by code of the image:\n" + "\n".join(wrong)
