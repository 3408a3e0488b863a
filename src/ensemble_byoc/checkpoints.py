"""Finished (library, fold) units kept under /opt/ml/checkpoints, so an interrupted job resumes.

SageMaker syncs that folder with S3 when the job has a checkpoint location, and restores it into a
restarted job (spot interruption). Each unit is a folder with the library's native model file, the
unit's out-of-fold predictions (``.npy`` without pickle) and ``unit.json``, written to a temporary
folder and renamed into place, so a unit is either whole or absent. A fingerprint of the data, the
settings that shape the unit and the library version guards against reusing a unit from another job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ensemble_byoc import __version__
from ensemble_byoc.artifacts import sha256_of
from ensemble_byoc.config import TrainConfig
from ensemble_byoc.cv import Fold, TrainingUnit, UnitResult
from ensemble_byoc.data import Dataset
from ensemble_byoc.models import load_spec
from ensemble_byoc.scoring import Metric
from ensemble_byoc.task import Task

logger = logging.getLogger(__name__)

_UNIT_FILE = "unit.json"
_OOF_FILE = "oof.npy"


def data_digest(data: Dataset) -> str:
    """A digest of the rows, the label and the column names (``Dataset.digest``)."""
    return data.digest()


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
        shutil.rmtree(partial, ignore_errors=True)
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
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)

    def load(
        self, unit: TrainingUnit, fingerprint: str, fold: Fold, data: Dataset, n_threads: int, metric: Metric
    ) -> UnitResult | None:
        """The checkpointed unit, or ``None`` when there is none or it cannot be trusted (logged)."""
        directory = self._unit_dir(unit)
        record_path = directory / _UNIT_FILE
        if not record_path.is_file():
            return None
        name = directory.name
        try:
            record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
            if record.get("fingerprint") != fingerprint:
                logger.warning("Checkpoint %s comes from other data or settings; it is not reused.", name)
                return None
            model_path = directory / str(record["model_file"])
            oof_path = directory / _OOF_FILE
            if sha256_of(model_path) != record["model_sha256"] or sha256_of(oof_path) != record["oof_sha256"]:
                logger.warning("Checkpoint %s does not match its checksums; it is not reused.", name)
                return None
            model = load_spec(unit.library).load(model_path, n_threads)
            oof = np.load(oof_path, allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("Checkpoint %s is unreadable (%s); it is not reused.", name, exc)
            return None
        if oof.shape[0] != fold.valid_rows.size:
            logger.warning("Checkpoint %s has %d predictions for a fold of %d rows; it is not reused.",
                           name, oof.size, fold.valid_rows.size)
            return None
        return UnitResult(
            unit=unit,
            model=model,
            valid_rows=fold.valid_rows,
            oof_prediction=oof,
            best_iteration=int(record["best_iteration"]),
            score=metric.score(data.y[fold.valid_rows], oof),
            seconds=float(record["seconds"]),
        )
