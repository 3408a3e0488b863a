"""The model directory: each library's native files plus ``manifest.json`` with checksums.

The manifest is written last, by an atomic rename: a directory without it is not a model, so a crash
while saving never leaves a model that loads half-way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ensemble_byoc import __version__
from ensemble_byoc.bundle.ensemble import Ensemble
from ensemble_byoc.contract.disk_space import DiskUsage, SpaceGuard, is_out_of_space
from ensemble_byoc.errors import EnsembleError, PlatformError
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import Model

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
_STAGING_NAME = ".staging"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(
    model_dir: Path,
    ensemble: Ensemble,
    *,
    blend_method: str,
    extra: Mapping[str, Any],
    file_stem: str = "fold",
    disk_usage: DiskUsage = shutil.disk_usage,
) -> dict[str, Any]:
    """Write ``ensemble`` into ``model_dir`` and return the manifest that was written.

    ``extra`` adds top-level manifest entries (problem type, target, CV scores, configuration).
    Files are named ``<library>/<file_stem>-<i><suffix>``: ``fold-0`` ... for fold models, ``full-0`` for
    models refitted on all rows.

    Files are written to a staging folder first; the old model (if any) loses its manifest before its
    files are replaced, and the new manifest is renamed into place last. Before each file, the files
    still to come must fit in the free space (``disk_space.SpaceGuard``, ``disk_usage`` answers how much is
    free); a full volume is a ``UserError`` that says so, and leaves the previous model (if any) as it was.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / _STAGING_NAME
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    guard = SpaceGuard(model_dir, "the model", sum(map(len, ensemble.members.values())), disk_usage)
    try:
        libraries = {library: _save_member(staging, guard, library, models, file_stem)
                     for library, models in ensemble.members.items()}
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "package_version": __version__,
            "feature_names": list(ensemble.feature_names),
            "blend": {"method": blend_method, "weights": dict(ensemble.weights)},
            "libraries": libraries,
            **extra,
        }
        text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
        guard.write(staging / MANIFEST_NAME, lambda path: path.write_text(text, encoding="utf-8"),
                    counted=False)
        _fsync_tree(staging)
        _swap_into_place(staging, model_dir, list(libraries))
    except OSError as exc:  # a folder or an fsync on a full volume
        no_space = guard.failed(exc) if is_out_of_space(exc) else None
        if no_space is None:
            raise
        raise no_space from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _save_member(
    staging: Path, guard: SpaceGuard, library: str, models: Sequence[Model], file_stem: str
) -> dict[str, Any]:
    """Write one member's fold models under ``staging/<library>``; return its manifest entry."""
    spec = load_spec(models[0].name)  # a member (``lightgbm-2``) is saved with its library's adapter
    (staging / library).mkdir()
    folds = []
    for index, model in enumerate(models):
        relative = f"{library}/{file_stem}-{index}{spec.file_suffix}"
        guard.write(staging / relative, model.save)
        folds.append(
            {
                "file": relative,
                "sha256": sha256_of(staging / relative),
                "best_iteration": model.best_iteration_,
            }
        )
    return {"library": spec.name, "version": spec.library_version(), "folds": folds}


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def _swap_into_place(staging: Path, model_dir: Path, libraries: list[str]) -> None:
    (model_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for child in model_dir.iterdir():  # the old model's member folders: <library> or <library>-<n>
        if child.is_dir() and child.name.split("-", 1)[0] in available_libraries():
            shutil.rmtree(child, ignore_errors=True)
    for library in libraries:
        os.replace(staging / library, model_dir / library)
    os.replace(staging / MANIFEST_NAME, model_dir / MANIFEST_NAME)


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        msg = f"The model directory {model_dir} has no {MANIFEST_NAME}; it is not a complete model."
        raise PlatformError(msg)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{MANIFEST_NAME} in {model_dir} is not readable JSON: {exc}"
        raise PlatformError(msg) from exc
    if not isinstance(manifest, dict):
        msg = f"{MANIFEST_NAME} in {model_dir} is not a JSON object."
        raise PlatformError(msg)
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        msg = (f"{MANIFEST_NAME} has schema_version {version!r}; "
               f"this image reads schema_version {SCHEMA_VERSION}.")
        raise PlatformError(msg)
    return manifest


def load_bundle(model_dir: Path, *, n_threads: int) -> tuple[Ensemble, dict[str, Any]]:
    """Load and verify a model directory written by ``save_bundle``.

    Raises:
        PlatformError: the manifest is missing, unreadable or of another schema version, a file is
            missing, lies outside the directory or fails its checksum, or a library cannot read it.
    """
    manifest = read_manifest(model_dir)
    try:
        feature_names = tuple(str(name) for name in manifest["feature_names"])
        weights = {str(k): float(v) for k, v in manifest["blend"]["weights"].items()}
        members = {member: _load_member(model_dir, member, entry, n_threads)
                   for member, entry in manifest["libraries"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"{MANIFEST_NAME} is incomplete or malformed: {type(exc).__name__}: {exc}"
        raise PlatformError(msg) from exc
    if set(weights) != set(members) or not members:
        msg = f"{MANIFEST_NAME} blends {sorted(weights)} but holds models of {sorted(members)}."
        raise PlatformError(msg)
    task = manifest.get("task") or {}
    ensemble = Ensemble(
        feature_names=feature_names,
        members=members,
        weights=weights,
        problem_type=str(task.get("problem_type", "regression")),
        classes=tuple(task.get("classes", ())),
        categories={
            str(k): tuple(str(level) for level in v) for k, v in (manifest.get("categories") or {}).items()
        },
    )
    return ensemble, manifest


def _load_member(model_dir: Path, member: str, entry: Mapping[str, Any], n_threads: int) -> list[Model]:
    """One member's fold models, each checked against its checksum in the manifest."""
    library = str(entry.get("library", member))
    if library not in available_libraries():
        msg = f"{MANIFEST_NAME} names library {library!r}, which this image does not have."
        raise PlatformError(msg)
    spec = load_spec(library)
    models = []
    for fold in entry["folds"]:
        path = _resolve_inside(model_dir, str(fold["file"]))
        if not path.is_file():
            msg = f"Model file {fold['file']} listed in {MANIFEST_NAME} is missing."
            raise PlatformError(msg)
        if sha256_of(path) != fold["sha256"]:
            msg = f"Model file {fold['file']} does not match its checksum in {MANIFEST_NAME}."
            raise PlatformError(msg)
        try:
            models.append(spec.load(path, n_threads))
        except EnsembleError:
            raise
        except Exception as exc:  # noqa: BLE001 - any library failure to read a file is a broken model
            msg = f"{library} could not read {fold['file']}: {exc}"
            raise PlatformError(msg) from exc
    if not models:
        msg = f"{MANIFEST_NAME} lists no fold models for {member!r}."
        raise PlatformError(msg)
    return models


def _resolve_inside(model_dir: Path, relative: str) -> Path:
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        msg = f"Model file {relative!r} in {MANIFEST_NAME} points outside the model directory."
        raise PlatformError(msg)
    return model_dir.joinpath(*pure.parts)
