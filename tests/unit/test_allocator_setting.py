"""The setting the product gives CatBoost's allocator (when it returns freed memory), decided from the
environment and the size of the input data."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ensemble_byoc.contract.allocator import (
    COMPRESSED_WEIGHT,
    SMALL_INPUT_BYTES,
    allocator_setting,
    apply_allocator_setting,
    input_size,
)


def test_without_settings_the_product_sets_a_purge_delay_of_0_for_input_of_unknown_size() -> None:
    environ: dict[str, str] = {}

    apply_allocator_setting(environ)

    assert environ == {"MIMALLOC_PURGE_DELAY": "0"}
    said = allocator_setting({}).describe()
    assert said == ("MIMALLOC_PURGE_DELAY=0 (the product's default; a MIMALLOC_PURGE_DELAY of your own "
                    "replaces it)")


def test_input_of_8_mib_or_more_gets_a_purge_delay_of_0() -> None:
    environ: dict[str, str] = {}

    apply_allocator_setting(environ, SMALL_INPUT_BYTES)

    assert environ == {"MIMALLOC_PURGE_DELAY": "0"}


def test_small_input_leaves_mimallocs_own_delay_and_says_why() -> None:
    environ: dict[str, str] = {}

    setting = apply_allocator_setting(environ, 3 * 2**20)

    assert environ == {}
    assert allocator_setting({}, SMALL_INPUT_BYTES - 1).variables == {}
    assert setting.describe() == (
        "MIMALLOC_PURGE_DELAY left at mimalloc's own default: the input data is 3.0 MiB (under 8.0 MiB), "
        "where giving memory back as it is freed costs CatBoost up to 2.5x its time; a MIMALLOC_PURGE_DELAY "
        "of your own replaces it")


def test_the_input_size_adds_every_channels_files_and_weights_compressed_ones(tmp_path: Path) -> None:
    (tmp_path / "train" / "part").mkdir(parents=True)
    (tmp_path / "validation").mkdir()
    (tmp_path / "train" / "a.csv").write_bytes(b"1,2\n" * 100)
    (tmp_path / "train" / "part" / "b.csv.gz").write_bytes(gzip.compress(b"3,4\n" * 10))
    (tmp_path / "validation" / "c.parquet").write_bytes(b"PAR1" + b"x" * 46)
    gz = len(gzip.compress(b"3,4\n" * 10))

    assert input_size(tmp_path) == 400 + COMPRESSED_WEIGHT * (gz + 50)
    assert input_size(tmp_path / "absent") == 0


def test_the_input_size_stops_counting_once_the_input_is_large(tmp_path: Path) -> None:
    for name in ("a.csv", "b.csv", "c.csv"):
        with (tmp_path / name).open("wb") as handle:
            handle.truncate(SMALL_INPUT_BYTES)  # sparse: no data written

    assert input_size(tmp_path) == SMALL_INPUT_BYTES


def test_a_pipe_mode_channel_has_no_size_so_the_delay_is_0(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    os.mkfifo(tmp_path / "train_0")

    assert input_size(tmp_path) is None
    assert allocator_setting({}, input_size(tmp_path)).variables == {"MIMALLOC_PURGE_DELAY": "0"}


@pytest.mark.parametrize("value", ["1000", " 250 "])
@pytest.mark.parametrize("input_bytes", [None, 0, SMALL_INPUT_BYTES])
def test_a_users_own_purge_delay_is_left_as_set_and_named(value: str, input_bytes: int | None) -> None:
    environ = {"MIMALLOC_PURGE_DELAY": value}

    setting = apply_allocator_setting(environ, input_bytes)

    assert environ == {"MIMALLOC_PURGE_DELAY": value}
    assert setting.describe() == f"MIMALLOC_PURGE_DELAY={value.strip()}, set by the user and left as set"


def test_an_empty_purge_delay_counts_as_unset() -> None:
    assert allocator_setting({"MIMALLOC_PURGE_DELAY": " "}).variables == {"MIMALLOC_PURGE_DELAY": "0"}


@pytest.mark.parametrize(("first", "too_late"), [("", False), ("import catboost", True)])
def test_setting_it_after_catboost_loaded_is_reported_as_too_late(first: str, too_late: bool) -> None:
    code = ("import os\n" + first + "\nfrom ensemble_byoc.contract.allocator import apply_allocator_setting\n"
            "print(apply_allocator_setting(os.environ).describe())\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120, check=True)

    assert result.stdout.startswith("MIMALLOC_PURGE_DELAY=0 (the product's default")
    assert ("CatBoost was loaded before it was set" in result.stdout) is too_late


def test_catboosts_allocator_reads_the_setting_when_catboost_loads_after_it() -> None:
    code = ("import os\nfrom ensemble_byoc.contract.allocator import apply_allocator_setting\n"
            "apply_allocator_setting(os.environ)\nimport catboost\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "MIMALLOC_VERBOSE": "1"}

    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120, check=True)

    assert "option 'purge_delay': 0" in result.stderr  # as mimalloc itself printed it when it started
