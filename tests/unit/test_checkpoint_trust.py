"""A checkpoint folder comes from S3: what ``unit.json`` names and what the files hold is checked before use.

Each damage below keeps the checksums consistent where it can (as whoever rewrites the folder could), so
the check that catches it is the one under test, not the checksum.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.bundle.artifacts import sha256_of
from ensemble_byoc.training.checkpoints import MAX_RECORD_BYTES, CheckpointStore, unit_fingerprint
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.scores import get_metric
from ensemble_byoc.training.task import Task
from ensemble_byoc.training.units import TrainingUnit, fit_unit, make_folds

RMSE = get_metric("regression", "rmse")
CONFIG = TrainConfig.from_hyperparameters({"k_fold": "3", "num_round": "20", "early_stopping_rounds": "5"})
SUFFIX = {"catboost": ".cbm", "lightgbm": ".txt", "xgboost": ".ubj"}


@pytest.fixture(scope="module")
def data() -> Dataset:
    X, y = make_regression(n_rows=120)
    return Dataset(X=X, y=y, feature_names=tuple(f"f{i}" for i in range(5)), target_name="label")


def save_unit(checkpoints: Path, data: Dataset, library: str = "xgboost") -> tuple[CheckpointStore, str]:
    unit = TrainingUnit(library, 0)
    fingerprint = unit_fingerprint(data.digest(), CONFIG, unit)
    store = CheckpointStore(checkpoints)
    store.save(fit_unit(unit, data, make_folds(data.n_rows, 3, 0)[0], CONFIG.booster_params(), {}, 1),
               fingerprint)
    return store, fingerprint


def load_unit(store: CheckpointStore, fingerprint: str, data: Dataset, library: str = "xgboost",
              task: Task | None = None):
    return store.load(TrainingUnit(library, 0), fingerprint, make_folds(data.n_rows, 3, 0)[0], data, 1, RMSE,
                      task=task)


def edit_record(unit_dir: Path, **changes: object) -> None:
    record = json.loads((unit_dir / "unit.json").read_text())
    record.update(changes)
    (unit_dir / "unit.json").write_text(json.dumps(record))


def rehash(unit_dir: Path) -> None:
    """Make unit.json's checksums match the files again, as a writer of the folder could."""
    record = json.loads((unit_dir / "unit.json").read_text())
    edit_record(unit_dir, model_sha256=sha256_of(unit_dir / record["model_file"]),
                oof_sha256=sha256_of(unit_dir / "oof.npy"))


def name_outside_by_dots(unit_dir: Path) -> None:
    shutil.copy(unit_dir / "model.ubj", unit_dir.parent / "planted.ubj")
    edit_record(unit_dir, model_file="../planted.ubj")
    rehash(unit_dir)


def absolute_name(unit_dir: Path) -> None:
    shutil.copy(unit_dir / "model.ubj", unit_dir.parent.parent / "planted.ubj")
    edit_record(unit_dir, model_file=str(unit_dir.parent.parent / "planted.ubj"))
    rehash(unit_dir)


def symlink_out_of_the_folder(unit_dir: Path) -> None:
    outside = unit_dir.parent.parent / "planted.ubj"
    shutil.move(unit_dir / "model.ubj", outside)
    (unit_dir / "model.ubj").symlink_to(outside)


def unit_folder_is_a_link_out(unit_dir: Path) -> None:
    outside = unit_dir.parent.parent / "elsewhere"
    shutil.move(unit_dir, outside)
    unit_dir.symlink_to(outside, target_is_directory=True)


def model_file_is_a_folder(unit_dir: Path) -> None:
    (unit_dir / "sub").mkdir()
    edit_record(unit_dir, model_file="sub")


def record_is_a_list(unit_dir: Path) -> None:
    (unit_dir / "unit.json").write_text("[1, 2]")


def best_iteration_is_text(unit_dir: Path) -> None:
    edit_record(unit_dir, best_iteration="many")


def seconds_is_null(unit_dir: Path) -> None:
    edit_record(unit_dir, seconds=None)


def fingerprint_is_missing(unit_dir: Path) -> None:
    record = json.loads((unit_dir / "unit.json").read_text())
    del record["fingerprint"]
    (unit_dir / "unit.json").write_text(json.dumps(record))


def record_is_huge(unit_dir: Path) -> None:
    edit_record(unit_dir, padding="x" * MAX_RECORD_BYTES)


def record_nests_deeply(unit_dir: Path) -> None:
    (unit_dir / "unit.json").write_text("[" * 60_000)


def oof_header_claims_a_trillion_rows(unit_dir: Path) -> None:
    path = unit_dir / "oof.npy"
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[8:10], "little")
    header = raw[10:10 + header_len].decode("latin1")
    old = header[header.index("(") : header.index(")") + 1]
    new = "(1000000000000,)"
    header = header.replace(old, new).ljust(header_len)[:header_len - 1] + "\n"
    path.write_bytes(raw[:10] + header.encode("latin1") + raw[10 + header_len:])
    rehash(unit_dir)


def oof_is_float32(unit_dir: Path) -> None:
    path = unit_dir / "oof.npy"
    np.save(path, np.load(path).astype(np.float32), allow_pickle=False)
    rehash(unit_dir)


def oof_holds_nan(unit_dir: Path) -> None:
    path = unit_dir / "oof.npy"
    oof = np.load(path)
    oof[3] = np.nan
    np.save(path, oof, allow_pickle=False)
    rehash(unit_dir)


def oof_has_extra_bytes(unit_dir: Path) -> None:
    with (unit_dir / "oof.npy").open("ab") as handle:
        handle.write(b"\0" * 8)
    rehash(unit_dir)


DAMAGES: list[tuple[Callable[[Path], None], str]] = [
    (name_outside_by_dots, "model_file '../planted.ubj' is not a plain file name in the unit's folder"),
    (absolute_name, "is not a plain file name in the unit's folder"),
    (symlink_out_of_the_folder, "model_file 'model.ubj' leads outside the unit's folder"),
    (unit_folder_is_a_link_out, "the unit's folder leads outside the checkpoint folder"),
    (model_file_is_a_folder, "model_file 'sub' is not a regular file"),
    (record_is_a_list, "unit.json holds a list, not an object"),
    (best_iteration_is_text, "unit.json 'best_iteration' is 'many'; it must be an integer >= 0"),
    (seconds_is_null, "unit.json 'seconds' is None; it must be a finite number >= 0"),
    (fingerprint_is_missing, "unit.json has no 'fingerprint'"),
    (record_is_huge, f"unit.json is larger than {MAX_RECORD_BYTES} bytes"),
    (record_nests_deeply, "unit.json is not JSON"),
    (oof_header_claims_a_trillion_rows, "oof.npy has shape (1000000000000,) for a fold of 40 rows"),
    (oof_is_float32, "oof.npy holds float32, not float64"),
    (oof_holds_nan, "oof.npy holds values that are not finite"),
    (oof_has_extra_bytes, "oof.npy is not the size its header (40,) says"),
]


@pytest.mark.parametrize(("damage", "reason"), DAMAGES, ids=[d.__name__ for d, _ in DAMAGES])
def test_an_untrusted_checkpoint_is_retrained_with_a_warning_saying_why(
    tmp_path: Path, data: Dataset, caplog: pytest.LogCaptureFixture, damage, reason: str
) -> None:
    store, fingerprint = save_unit(tmp_path / "checkpoints", data)
    damage(tmp_path / "checkpoints" / "units" / "xgboost-fold-0")
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert load_unit(store, fingerprint, data) is None
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("Checkpoint xgboost-fold-0 is not reused (")
    assert reason in record.getMessage()
    assert record.getMessage().endswith("; the unit is retrained.")


@pytest.mark.parametrize("library", ["catboost", "lightgbm", "xgboost"])
def test_a_truncated_model_fails_its_checksum_before_the_library_reads_it(
    tmp_path: Path, data: Dataset, caplog: pytest.LogCaptureFixture, library: str
) -> None:
    store, fingerprint = save_unit(tmp_path, data, library)
    model = tmp_path / "units" / f"{library}-fold-0" / f"model{SUFFIX[library]}"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 3])
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert load_unit(store, fingerprint, data, library) is None
    assert (f"Checkpoint {library}-fold-0 is not reused (model{SUFFIX[library]} does not match its checksum "
            "in unit.json); the unit is retrained.") in caplog.text


# LightGBM's loader aborts the process on some malformed files, so it is left out here: only a writer of
# the checkpoint prefix can hand it one with a matching checksum (README, Checkpoints).
@pytest.mark.parametrize("library", ["catboost", "xgboost"])
def test_a_truncated_model_with_matching_checksums_is_retrained_not_a_failed_job(
    tmp_path: Path, data: Dataset, caplog: pytest.LogCaptureFixture, library: str
) -> None:
    store, fingerprint = save_unit(tmp_path, data, library)
    unit_dir = tmp_path / "units" / f"{library}-fold-0"
    model = unit_dir / f"model{SUFFIX[library]}"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 3])
    rehash(unit_dir)
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert load_unit(store, fingerprint, data, library) is None
    assert f"Checkpoint {library}-fold-0 is not reused (" in caplog.text
    assert "; the unit is retrained." in caplog.text


def test_a_link_to_a_file_inside_the_units_folder_is_followed(tmp_path: Path, data: Dataset) -> None:
    store, fingerprint = save_unit(tmp_path, data)
    unit_dir = tmp_path / "units" / "xgboost-fold-0"
    (unit_dir / "alias.ubj").symlink_to("model.ubj")
    edit_record(unit_dir, model_file="alias.ubj")
    assert load_unit(store, fingerprint, data) is not None


def test_predictions_of_the_wrong_width_for_the_task_are_not_reused(
    tmp_path: Path, data: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    store, fingerprint = save_unit(tmp_path, data)
    multiclass = Task("multiclass", "mlogloss", (0, 1, 2))
    with caplog.at_level("WARNING", logger="ensemble_byoc"):
        assert load_unit(store, fingerprint, data, task=multiclass) is None
    assert "oof.npy has shape (40,) for a fold of 40 rows" in caplog.text
    assert load_unit(store, fingerprint, data, task=Task("regression", "rmse")) is not None


def test_a_unit_whose_folder_is_a_file_or_a_dangling_link_is_saved_over(
    tmp_path: Path, data: Dataset
) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "xgboost-fold-0").write_text("not a folder")
    (units / "xgboost-fold-0.partial").symlink_to(tmp_path / "nowhere")
    store, fingerprint = save_unit(tmp_path, data)
    assert load_unit(store, fingerprint, data) is not None
    assert not (tmp_path / "nowhere").exists()
