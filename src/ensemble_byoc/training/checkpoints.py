"""Finished (library, fold) units kept under /opt/ml/checkpoints, so an interrupted job resumes.

SageMaker syncs that folder with S3 when the job has a checkpoint location, and restores it into a
restarted job (spot interruption). Each unit is a folder with the library's native model file, the
unit's out-of-fold predictions (``.npy`` without pickle) and ``unit.json``, written to a temporary
folder and renamed into place, so a unit is either whole or absent. A fingerprint of the data, the
settings that shape the unit and the library version guards against reusing a unit from another job.

The folder comes from S3 and is a trust boundary: ``unit.json`` is read up to ``MAX_RECORD_BYTES`` and
checked field by field, the files it names must be regular files inside the unit's folder, both
checksums must match before anything is loaded, and the ``.npy`` header must describe exactly the
fold's rows before the array is read. A checkpoint that fails any of this, or fails to load, is logged
as a WARNING and its unit is trained again; it never fails the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ensemble_byoc import __version__
from ensemble_byoc.bundle.artifacts import sha256_of
from ensemble_byoc.contract.npy_files import NpyVersionError, read_npy_data, read_npy_header
from ensemble_byoc.errors import shown
from ensemble_byoc.models import load_spec
from ensemble_byoc.models.base import Model
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.scores import MULTICLASS, Metric
from ensemble_byoc.training.task import Task
from ensemble_byoc.training.units import Fold, TrainingUnit, UnitResult

logger = logging.getLogger(__name__)

_UNIT_FILE = "unit.json"
_OOF_FILE = "oof.npy"
MAX_RECORD_BYTES = 64 * 1024
"""The most of ``unit.json`` that is read (ours are under 1 KiB); a larger one is not trusted."""


def unit_fingerprint(
    digest: str,
    config: TrainConfig,
    unit: TrainingUnit,
    task: Task | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """What decides a unit's model: data, folds, shared and per-library settings, library version."""
    spec = load_spec(unit.library)
    shaping = {
        "data": digest,
        "k_fold": config.k_fold,
        "seed": config.seed,
        "fold": unit.fold,
        "library": unit.library,
        "member": unit.name,
        "library_version": spec.library_version(),
        "package_version": __version__,
        "params": asdict(config.booster_params(task)),
        "overrides": dict(config.overrides_for(unit.library) if overrides is None else overrides),
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()


class _Untrusted(Exception):
    """Why a checkpoint is not used; caught in ``CheckpointStore.load`` (the unit is retrained), never
    raised out of this module, so it is not part of the ``errors`` tree."""


_SHA256 = frozenset("0123456789abcdef")
_RECORD_RULES: dict[str, tuple[str, Any]] = {
    "fingerprint": ("a string", lambda v: isinstance(v, str)),
    "library": ("a string", lambda v: isinstance(v, str)),
    "fold": ("an integer >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "model_file": ("a string", lambda v: isinstance(v, str)),
    "model_sha256": ("64 lowercase hex digits", lambda v: isinstance(v, str) and len(v) == 64
                     and set(v) <= _SHA256),
    "oof_sha256": ("64 lowercase hex digits", lambda v: isinstance(v, str) and len(v) == 64
                   and set(v) <= _SHA256),
    "best_iteration": ("an integer >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool)
                       and v >= 0),
    "seconds": ("a finite number >= 0", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and v >= 0),
}


@dataclass(frozen=True)
class UnitRecord:
    """``unit.json``, every field checked for its type before any of it is used."""

    fingerprint: str
    library: str
    fold: int
    model_file: str
    model_sha256: str
    oof_sha256: str
    best_iteration: int
    seconds: float

    @classmethod
    def from_json(cls, value: Any) -> UnitRecord:
        if not isinstance(value, dict):
            msg = f"unit.json holds a {type(value).__name__}, not an object"
            raise _Untrusted(msg)
        for key, (rule, valid) in _RECORD_RULES.items():
            if key not in value:
                msg = f"unit.json has no {key!r}"
                raise _Untrusted(msg)
            if not valid(value[key]):
                msg = f"unit.json {key!r} is {shown(value[key])}; it must be {rule}"
                raise _Untrusted(msg)
        return cls(**{key: value[key] for key in _RECORD_RULES})


def contained_file(directory: Path, name: Any, field: str) -> Path:
    """``directory/name`` resolved, when ``name`` is a plain file name and it resolves (links followed)
    to a regular file directly inside ``directory``; else ``_Untrusted`` saying which rule failed."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\0" in name):
        msg = f"{field} {shown(name)} is not a plain file name in the unit's folder"
        raise _Untrusted(msg)
    try:
        root = directory.resolve(strict=True)
        path = (directory / name).resolve(strict=True)
    except FileNotFoundError:
        msg = f"{field} {shown(name)} is missing"
        raise _Untrusted(msg) from None
    if path.parent != root:
        msg = f"{field} {shown(name)} leads outside the unit's folder"
        raise _Untrusted(msg)
    if not stat.S_ISREG(path.stat().st_mode):
        msg = f"{field} {shown(name)} is not a regular file"
        raise _Untrusted(msg)
    return path


def read_record(units_dir: Path, directory: Path) -> UnitRecord:
    """The unit's ``unit.json``, read only up to ``MAX_RECORD_BYTES`` and validated."""
    if directory.resolve(strict=True).parent != units_dir.resolve(strict=True):
        msg = "the unit's folder leads outside the checkpoint folder"
        raise _Untrusted(msg)
    path = contained_file(directory, _UNIT_FILE, "unit.json")
    with path.open("rb") as handle:
        raw = handle.read(MAX_RECORD_BYTES + 1)
    if len(raw) > MAX_RECORD_BYTES:
        msg = f"unit.json is larger than {MAX_RECORD_BYTES} bytes"
        raise _Untrusted(msg)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        msg = f"unit.json is not JSON ({shown(str(exc))})"
        raise _Untrusted(msg) from None
    return UnitRecord.from_json(value)


def read_predictions(path: Path, rows: int, task: Task | None) -> np.ndarray:
    """Out-of-fold predictions from ``.npy``: float64, ``rows`` long, the file exactly the header's size.

    The header is checked before the array is read, so nothing larger than the fold is allocated.
    """
    with path.open("rb") as handle:
        try:
            header = read_npy_header(handle)
        except NpyVersionError as exc:
            msg = f"oof.npy has format version {exc.version}; 1.0 or 2.0 is read"
            raise _Untrusted(msg) from None
        if header.dtype != np.dtype(np.float64):
            msg = f"oof.npy holds {header.dtype}, not float64"
            raise _Untrusted(msg)
        if not _expected_shape(header.shape, rows, task):
            msg = f"oof.npy has shape {shown(header.shape)} for a fold of {rows} rows"
            raise _Untrusted(msg)
        if header.offset + header.data_size != os.fstat(handle.fileno()).st_size:
            msg = f"oof.npy is not the size its header {shown(header.shape)} says"
            raise _Untrusted(msg)
        oof = read_npy_data(handle, header)
    if not np.isfinite(oof).all():
        msg = "oof.npy holds values that are not finite"
        raise _Untrusted(msg)
    return oof


def _expected_shape(shape: tuple[int, ...], rows: int, task: Task | None) -> bool:
    if task is None:
        return shape == (rows,) or (len(shape) == 2 and shape[0] == rows and shape[1] >= 2)
    if task.problem_type == MULTICLASS:
        return shape == (rows, task.n_classes)
    return shape == (rows,)


class CheckpointStore:
    """Unit checkpoints in ``<checkpoint_dir>/units/<library>-fold-<i>/``."""

    def __init__(self, directory: Path) -> None:
        self.units_dir = directory / "units"

    def _unit_dir(self, unit: TrainingUnit) -> Path:
        return self.units_dir / f"{unit.name}-fold-{unit.fold}"

    def save(self, result: UnitResult, fingerprint: str) -> None:
        spec = load_spec(result.unit.library)
        final = self._unit_dir(result.unit)
        partial = final.with_name(final.name + ".partial")
        _remove(partial)
        partial.mkdir(parents=True)
        model_name = f"model{spec.file_suffix}"
        result.model.save(partial / model_name)
        np.save(partial / _OOF_FILE, result.oof_prediction, allow_pickle=False)
        record = {
            "fingerprint": fingerprint,
            "library": result.unit.library,
            "fold": result.unit.fold,
            "model_file": model_name,
            "model_sha256": sha256_of(partial / model_name),
            "oof_sha256": sha256_of(partial / _OOF_FILE),
            "best_iteration": result.best_iteration,
            "seconds": result.seconds,
        }
        (partial / _UNIT_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        for path in partial.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        _remove(final)
        os.replace(partial, final)

    def load(
        self,
        unit: TrainingUnit,
        fingerprint: str,
        fold: Fold,
        data: Dataset,
        n_threads: int,
        metric: Metric,
        *,
        task: Task | None = None,
    ) -> UnitResult | None:
        """The checkpointed unit, or ``None`` when there is none or it cannot be trusted (logged).

        Nothing is loaded before ``unit.json`` is read (bounded) and validated, the files it names are
        found to be regular files inside the unit's folder, and both checksums match. ``task`` (when
        given) fixes the predictions' width; without it a 1-D or a 2-D array of the fold's rows is taken.
        """
        directory = self._unit_dir(unit)
        if not directory.exists() and not directory.is_symlink():
            return None
        try:
            record = read_record(self.units_dir, directory)
            if record.fingerprint != fingerprint:
                logger.warning("Checkpoint %s comes from other data or settings; it is not reused.",
                               directory.name)
                return None
            model, oof = self._verified_contents(unit, record, directory, fold, n_threads, task)
            return UnitResult.scored(unit, model, fold, oof, data.y, metric, record.seconds,
                                     record.best_iteration)
        except Exception as exc:  # any failure to read or verify means "train this unit again"
            logger.warning("Checkpoint %s is not reused (%s); the unit is retrained.",
                           directory.name, _reason(exc))
            return None

    def _verified_contents(
        self, unit: TrainingUnit, record: UnitRecord, directory: Path, fold: Fold, n_threads: int,
        task: Task | None,
    ) -> tuple[Model, np.ndarray]:
        if record.library != unit.library or record.fold != unit.fold:
            msg = f"unit.json is for {record.library} fold {record.fold}"
            raise _Untrusted(msg)
        model_path = contained_file(directory, record.model_file, "model_file")
        oof_path = contained_file(directory, _OOF_FILE, "predictions")
        for path, expected in ((model_path, record.model_sha256), (oof_path, record.oof_sha256)):
            if sha256_of(path) != expected:
                msg = f"{path.name} does not match its checksum in unit.json"
                raise _Untrusted(msg)
        oof = read_predictions(oof_path, fold.valid_rows.size, task)
        return load_spec(unit.library).load(model_path, n_threads), oof


def _remove(path: Path) -> None:
    """Whatever is at ``path``: a folder's files, or a file or link itself (never what a link points to)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _Untrusted):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc)[:300]}"
