"""The files a job writes to ``output/data/`` (SageMaker uploads the folder as ``output.tar.gz``).

Each file is written to ``<name>.partial`` and renamed into place, so no reader sees half of it; when the
job fails while writing them, every file it wrote there is removed again (``with ReportFiles(...)``), so a
failed job leaves no half set of reports either. A full volume is the ``UserError`` of
``disk_space.no_space_error``.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ensemble_byoc.contract.disk_space import (
    DiskUsage,
    check_free_space,
    free_bytes,
    is_out_of_space,
    no_space_error,
)

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
WHAT = "the reports"
CELL_BYTES = 24
"""About the widest cell of the out-of-fold CSV: a float's ``repr`` and its comma."""
PAGE_BYTES = 2 * 2**20
"""An upper estimate of ``report.html`` and the JSON reports together."""


def report_bytes(n_rows: int, n_columns: int) -> int:
    """An estimate of what a job writes to ``output/data/``: the out-of-fold CSV and the other reports."""
    return n_rows * (n_columns * CELL_BYTES + 2) + PAGE_BYTES


class ReportFiles:
    """Writes the files of ``directory`` atomically and remembers them, to remove them if the job fails."""

    def __init__(self, directory: Path, disk_usage: DiskUsage = shutil.disk_usage) -> None:
        self.directory = directory
        self.disk_usage = disk_usage
        self.expected = 0
        self.written: list[Path] = []

    def check_space(self, needed: int) -> None:
        """Raise the ``no_space_error`` now if ``needed`` bytes of reports would not fit."""
        self.expected = needed
        check_free_space(self.directory, needed, WHAT, self.disk_usage)

    def write_text(self, name: str, text: str) -> None:
        self._write(name, lambda handle: handle.write(text))

    def write_rows(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """A CSV file, streamed row by row."""
        def fill(handle: IO[str]) -> None:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

        self._write(name, fill)

    def discard(self) -> None:
        """Remove every file written so far (a failed job's reports)."""
        for path in self.written:
            path.unlink(missing_ok=True)
        if self.written:
            logger.info("Removed the %d report file(s) this job had written to %s.", len(self.written),
                        self.directory)
        self.written.clear()

    def __enter__(self) -> ReportFiles:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.discard()

    def _write(self, name: str, fill: Callable[[IO[str]], object]) -> None:
        path = self.directory / name
        partial = path.with_name(name + PARTIAL_SUFFIX)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with partial.open("w", newline="", encoding="utf-8") as handle:
                fill(handle)
            os.replace(partial, path)
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            if is_out_of_space(exc):
                written = sum(p.stat().st_size for p in self.written if p.is_file())
                needed = max(self.expected, written + 1)
                raise no_space_error(WHAT, self.directory, needed,
                                     free_bytes(self.directory, self.disk_usage) + written) from exc
            raise
        self.written.append(path)
