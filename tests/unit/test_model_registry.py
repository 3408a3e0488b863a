"""Multi-model serving's registry (the JSON file the workers share) and its settings, without a server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from ensemble_byoc.contract.memory import memory_limit
from ensemble_byoc.errors import (
    InsufficientMemoryError,
    ModelAlreadyLoadedError,
    ModelNotFoundError,
    PlatformError,
    UserError,
)
from ensemble_byoc.serving.model_loading import MEMORY_FACTOR, MultiModelSettings, estimated_bytes
from ensemble_byoc.serving.model_registry import Entry, ModelRegistry
from ensemble_byoc.serving.multi_model import page_limit

MIB = 1 << 20


def entry(name: str, memory_bytes: int = MIB, token: str = "t") -> Entry:
    return Entry(name=name, url=f"/opt/ml/models/{name}/model", memory_bytes=memory_bytes, measured_bytes=0,
                 token=token)


def registry(tmp_path: Path) -> ModelRegistry:
    (tmp_path / "models.json").write_text("{}")
    return ModelRegistry(tmp_path)


def test_a_model_one_worker_registers_is_seen_by_another_worker_reading_the_same_directory(
    tmp_path: Path,
) -> None:
    first, second = registry(tmp_path), ModelRegistry(tmp_path)
    assert second.entries() == {}
    first.add(entry("a"), budget_bytes=100 * MIB, workers=2)
    assert second.get("a") == entry("a")
    first.remove("a")
    assert second.entries() == {}
    with pytest.raises(ModelNotFoundError, match="'a' is not loaded"):
        second.get("a")


def test_the_file_is_plain_json_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    models = registry(tmp_path)
    models.add(entry("a"), budget_bytes=100 * MIB, workers=1)
    models.add(entry("b"), budget_bytes=100 * MIB, workers=1)
    models.remove("a")
    assert json.loads((tmp_path / "models.json").read_text())["b"]["url"] == "/opt/ml/models/b/model"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["models.json", "models.lock"]


def test_a_name_already_registered_is_409_and_an_unknown_one_cannot_be_removed(tmp_path: Path) -> None:
    models = registry(tmp_path)
    models.add(entry("a"), budget_bytes=100 * MIB, workers=1)
    with pytest.raises(ModelAlreadyLoadedError, match="DELETE /models/a") as conflict:
        models.add(entry("a", token="other"), budget_bytes=100 * MIB, workers=1)
    assert conflict.value.status_code == 409
    with pytest.raises(ModelNotFoundError) as missing:
        models.remove("b")
    assert missing.value.status_code == 404


def test_a_model_past_the_budget_counted_in_every_worker_is_507_naming_the_sizes(tmp_path: Path) -> None:
    models = registry(tmp_path)
    models.add(entry("a", 2 * MIB), budget_bytes=10 * MIB, workers=2)
    with pytest.raises(InsufficientMemoryError) as full:
        models.add(entry("b", 4 * MIB), budget_bytes=10 * MIB, workers=2)
    assert full.value.status_code == 507
    assert "4.00 MiB per worker" in str(full.value)
    assert "2 workers that is 12.00 MiB, over the memory budget of 10.00 MiB" in str(full.value)
    models.add(entry("c", 3 * MIB), budget_bytes=10 * MIB, workers=2)
    assert sorted(models.entries()) == ["a", "c"]


def test_registrations_racing_from_threads_are_all_kept(tmp_path: Path) -> None:
    registry(tmp_path)
    names = [f"m{i}" for i in range(12)]
    threads = [threading.Thread(target=lambda name=name: ModelRegistry(tmp_path).add(
        entry(name), budget_bytes=100 * MIB, workers=1)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ModelRegistry(tmp_path).entries()) == sorted(names)


def test_the_budget_is_read_in_mib_and_defaults_to_a_share_of_the_memory_limit() -> None:
    assert MultiModelSettings.from_env({"ENSEMBLE_BYOC_MODELS_MEMORY_MB": "1.5"}).budget_bytes == 3 * MIB // 2
    default = MultiModelSettings.from_env({})
    assert default.budget_bytes == int(memory_limit().bytes * 0.6)
    assert default.budget_source.startswith("60% of ")
    for bad in ("0", "-3", "lots", "nan"):
        with pytest.raises(PlatformError, match=f"ENSEMBLE_BYOC_MODELS_MEMORY_MB == '{bad}'"):
            MultiModelSettings.from_env({"ENSEMBLE_BYOC_MODELS_MEMORY_MB": bad})


def test_a_model_counts_its_files_bytes_times_the_factor(tmp_path: Path) -> None:
    (tmp_path / "lightgbm").mkdir()
    (tmp_path / "lightgbm" / "fold-0.txt").write_bytes(b"x" * 1000)
    (tmp_path / "manifest.json").write_bytes(b"{}")
    assert estimated_bytes(tmp_path) == MEMORY_FACTOR * 1002


def test_a_page_limit_is_an_integer_from_1_to_1000() -> None:
    assert (page_limit(""), page_limit("1"), page_limit("1000")) == (1000, 1, 1000)
    for bad in ("0", "1001", "-1", "two"):
        with pytest.raises(UserError, match=f"limit == '{bad}'"):
            page_limit(bad)


def test_a_load_body_nested_too_deeply_is_a_user_error_not_a_crash() -> None:
    import io

    from ensemble_byoc.errors import UserError
    from ensemble_byoc.serving.multi_model import load_request

    with pytest.raises(UserError, match="must be a JSON object"):
        load_request({"wsgi.input": io.BytesIO(b"[" * 60_000)})


def test_a_page_limit_of_unicode_digits_is_a_user_error() -> None:
    from ensemble_byoc.errors import UserError

    with pytest.raises(UserError, match="limit == '\u00b2', must be an integer from 1 to"):
        page_limit("\u00b2")


def test_a_url_without_a_manifest_is_refused_before_anything_under_it_is_counted(tmp_path: Path) -> None:
    from ensemble_byoc.errors import ModelLoadError
    from ensemble_byoc.serving.model_loading import check_directory

    (tmp_path / "deep" / "tree").mkdir(parents=True)
    with pytest.raises(ModelLoadError, match="holds no manifest.json"):
        check_directory("m", str(tmp_path))


def test_a_corrupt_registry_file_is_a_platform_error_naming_it(tmp_path: Path) -> None:
    from ensemble_byoc.errors import PlatformError

    registry = ModelRegistry(tmp_path)
    (tmp_path / "models.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PlatformError, match="models.json is unreadable"):
        registry.entries()
