"""bench/RESULTS.md: each script rewrites only its own section, between ``<!-- name:start -->`` and
``<!-- name:end -->`` (appended the first time), as bench/README.md says."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_section(path: Path, new_section: str, name: str) -> None:
    """Put ``new_section`` (which holds its own markers) in place of the section ``name`` of ``path``;
    stop, writing nothing, when the file's markers are broken (one without the other, or repeated)."""
    start, end = markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    starts, ends = text.count(start), text.count(end)
    if starts == 0 and ends == 0:
        text = text.rstrip("\n") + "\n\n" + new_section
    elif starts == 1 and ends == 1 and text.index(start) < text.index(end):
        head, rest = text.split(start, 1)
        text = head + new_section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        raise SystemExit(f"{path}: the markers {start} / {end} are malformed; fix the file by hand.")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.replace(partial, path)


def write_section(path: Path, name: str, title: str, notes: list[str], body: list[str]) -> None:
    """A section of ``notes`` (the command, date, versions, what was run) and a table ``body`` under
    ``## title``, in place of section ``name`` of ``path``."""
    start, end = markers(name)
    replace_section(path, "\n".join([start, f"## {title}", "", *notes, "", *body, end, ""]), name)


def run_notes(started: dt.datetime, pressure: str, versions: str) -> list[str]:
    """The section's first notes: the command as run, when, the machine's CPU pressure and the versions."""
    return [f"- Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
            f"- Date: {started:%Y-%m-%d %H:%M} UTC; CPU pressure {pressure}; nproc {os.cpu_count()}; "
            f"Python {platform.python_version()}; {versions}"]
