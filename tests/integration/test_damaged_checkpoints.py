"""A finished job's checkpoints damaged in several ways: the rerun succeeds, retrains exactly the damaged
units, and serves what an uninterrupted run serves."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from conftest import OptMl, csv_body, make_regression, run_train, serving

from ensemble_byoc.bundle.artifacts import sha256_of


def _record(unit: Path) -> dict:
    return json.loads((unit / "unit.json").read_text())


def _write_record(unit: Path, record: dict) -> None:
    (unit / "unit.json").write_text(json.dumps(record))


def name_with_dots(unit: Path) -> None:
    """Another unit's model, named through ``..``, with its (correct) checksum."""
    other = unit.parent / "catboost-fold-1" / "model.cbm"
    _write_record(unit, {**_record(unit), "model_file": "../catboost-fold-1/model.cbm",
                         "model_sha256": sha256_of(other)})


def truncated_model(unit: Path) -> None:
    model = unit / _record(unit)["model_file"]
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def wrong_checksum(unit: Path) -> None:
    _write_record(unit, {**_record(unit), "model_sha256": "0" * 64})


def record_not_json(unit: Path) -> None:
    (unit / "unit.json").write_text('{"fingerprint": ')


def record_wrong_types(unit: Path) -> None:
    _write_record(unit, {**_record(unit), "best_iteration": "many", "seconds": None})


def record_huge(unit: Path) -> None:
    _write_record(unit, {**_record(unit), "padding": "x" * (1 << 20)})


def oof_header_too_many_rows(unit: Path) -> None:
    """The ``.npy`` header claims 10^12 rows; the checksum is rewritten to match."""
    path = unit / "oof.npy"
    raw = path.read_bytes()
    size = int.from_bytes(raw[8:10], "little")
    header = re.sub(r"\(\d+,\)", "(1000000000000,)", raw[10:10 + size].decode("latin1"))
    path.write_bytes(raw[:10] + header.rstrip().ljust(size - 1).encode("latin1") + b"\n" + raw[10 + size:])
    _write_record(unit, {**_record(unit), "oof_sha256": sha256_of(path)})


DAMAGE: dict[str, Callable[[Path], None]] = {
    "catboost-fold-0": name_with_dots,
    "lightgbm-fold-0": truncated_model,
    "xgboost-fold-0": wrong_checksum,
    "catboost-fold-1": record_not_json,
    "lightgbm-fold-1": record_wrong_types,
    "xgboost-fold-1": record_huge,
    "catboost-fold-2": oof_header_too_many_rows,
}
INTACT = ("lightgbm-fold-2", "xgboost-fold-2")


def served(tree: OptMl, X: np.ndarray) -> bytes:
    with serving(tree) as server:
        response = server.post(csv_body(X))
    assert response.status == 200, response.body
    return response.body


def test_damaged_checkpoints_are_retrained_and_the_job_serves_what_an_uninterrupted_run_does(
    opt_ml: OptMl,
) -> None:
    X, y = make_regression()
    opt_ml.add_training_csv(X, y)
    units = opt_ml.base / "checkpoints" / "units"
    units.parent.mkdir()
    first = run_train(opt_ml)
    assert first.returncode == 0, first.stderr
    uninterrupted = served(opt_ml, X)
    assert sorted(p.name for p in units.iterdir()) == sorted([*DAMAGE, *INTACT])
    for name, damage in DAMAGE.items():
        damage(units / name)

    rerun = run_train(opt_ml)

    assert rerun.returncode == 0, rerun.stderr
    assert not opt_ml.failure_file.exists()
    warned = re.findall(r"WARNING.*Checkpoint (\S+) is not reused \(.*\); the unit is retrained\.",
                        rerun.stderr)
    assert sorted(warned) == sorted(DAMAGE)
    retrained = re.findall(r"unit \d of 9: (\w+) fold (\d): best_iteration=", rerun.stderr)
    assert sorted(f"{library}-fold-{fold}" for library, fold in retrained) == sorted(DAMAGE)
    resumed = re.findall(r"unit \d of 9: (\w+) fold (\d): resumed from checkpoint", rerun.stderr)
    assert sorted(f"{library}-fold-{fold}" for library, fold in resumed) == sorted(INTACT)
    assert served(opt_ml, X) == uninterrupted
    for name in DAMAGE:  # each retrained unit was checkpointed again, whole
        record = _record(units / name)
        assert record["model_sha256"] == sha256_of(units / name / record["model_file"])
