"""The setting the product gives CatBoost's allocator (when it returns freed memory), decided from the
environment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ensemble_byoc.contract.allocator import allocator_setting, apply_allocator_setting


def test_without_settings_the_product_sets_a_purge_delay_of_0_and_says_it_is_its_default() -> None:
    environ: dict[str, str] = {}

    apply_allocator_setting(environ)

    assert environ == {"MIMALLOC_PURGE_DELAY": "0"}
    said = allocator_setting({}).describe()
    assert said == ("MIMALLOC_PURGE_DELAY=0 (the product's default; a MIMALLOC_PURGE_DELAY of your own "
                    "replaces it)")


@pytest.mark.parametrize("value", ["1000", " 250 "])
def test_a_users_own_purge_delay_is_left_as_set_and_named(value: str) -> None:
    environ = {"MIMALLOC_PURGE_DELAY": value}

    setting = apply_allocator_setting(environ)

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
