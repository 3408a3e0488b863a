"""The one record of a setting a library reads when it loads: applied, named, and flagged when too late."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ensemble_byoc.contract.load_time import LoadTimeReader, LoadTimeSetting, user_values

READER = LoadTimeReader("Example wait", "libexample", "libexample.so", "its own default")


def _maps(tmp_path: Path, *libraries: str) -> Path:
    maps = tmp_path / "maps"
    maps.write_text("".join(f"7f00-7f01 r-xp 0 08:01 1 /usr/lib/{name}\n" for name in libraries))
    return maps


def test_applying_sets_the_variables_and_logs_information_when_the_library_is_not_loaded_yet(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ: dict[str, str] = {}

    setting = LoadTimeSetting(READER, {"EXAMPLE_SPIN": "5"}).apply(environ, _maps(tmp_path, "libc.so.6"))
    with caplog.at_level(logging.INFO):
        setting.log(logging.getLogger("test"))

    assert environ == {"EXAMPLE_SPIN": "5"}
    assert not setting.loaded_before
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "Example wait: EXAMPLE_SPIN=5 (the product's default)")]


def test_applying_after_the_library_loaded_is_a_warning_that_names_what_applies_instead(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ: dict[str, str] = {}

    setting = LoadTimeSetting(READER, {"EXAMPLE_SPIN": "5"}).apply(environ, _maps(tmp_path, "libexample.so"))
    with caplog.at_level(logging.INFO):
        setting.log(logging.getLogger("test"))

    assert environ == {"EXAMPLE_SPIN": "5"}  # still set: child processes load the library anew
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "Example wait: EXAMPLE_SPIN=5 (the product's default); but libexample was loaded "
                          "before it was set, so its own default applies")]


def test_a_setting_that_sets_nothing_is_never_too_late(tmp_path: Path) -> None:
    setting = LoadTimeSetting(READER, {}, "left as the user set it")

    applied = setting.apply({}, _maps(tmp_path, "libexample.so"))

    assert not applied.loaded_before
    assert applied.describe() == "left as the user set it"


def test_where_the_process_maps_cannot_be_read_the_library_counts_as_not_loaded(tmp_path: Path) -> None:
    assert not READER.loaded(tmp_path / "no-such-maps")


def test_a_blank_user_value_counts_as_unset() -> None:
    environ = {"A": " 7 ", "B": "  ", "C": ""}

    assert user_values(environ, ("A", "B", "C", "D")) == {"A": "7"}
