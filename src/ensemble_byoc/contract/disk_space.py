"""Free space on the volume a job writes to: checked before the model and the reports are written, and a
full disk turned into a failure reason that says so.

A library that runs out of space while saving raises its own error (``CatBoostError``, ``LightGBMError``,
``XGBoostError``), not ``OSError(ENOSPC)``; so a file that fails to be written is reported as a full disk
when the volume has (almost) no space left at that moment.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ensemble_byoc.errors import EnsembleError, UserError

DiskUsage = Callable[[Path], Any]
"""``shutil.disk_usage``, or any function of a path whose answer has ``.free`` (bytes)."""

MARGIN_BYTES = 64 * 1024
"""Kept free beyond an estimate: file-system blocks and metadata, and the failure file written last."""
_MARGIN_SHARE = 0.05
NEARLY_FULL_BYTES = 2**20
"""A write that fails with less than this free (or less than a file of its kind) ran out of space: a
library's buffered writer can stop with part of a buffer's worth still free."""
_OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT)


def margin(estimate: int) -> int:
    """Bytes wanted free beyond ``estimate``."""
    return MARGIN_BYTES + int(estimate * _MARGIN_SHARE)


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.2f} MB"


def no_space_error(what: str, directory: Path, needed: float, free: float) -> UserError:
    """The failure reason of a full disk: what was being written, where, and how much it needs."""
    return UserError(
        f"No space left on device writing {what} to {directory}; {what} needs about {megabytes(needed)} "
        f"and {megabytes(free)} are free; raise VolumeSizeInGB (the training instance's storage volume)."
    )


def is_out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _OUT_OF_SPACE


def free_bytes(directory: Path, disk_usage: DiskUsage = shutil.disk_usage) -> int:
    """Free bytes on the volume of ``directory`` (or of its nearest existing parent)."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return int(disk_usage(existing).free)


def check_free_space(
    directory: Path, needed: int, what: str, disk_usage: DiskUsage = shutil.disk_usage
) -> None:
    """Raise the ``no_space_error`` before writing ``needed`` bytes that would not fit with ``margin``."""
    free = free_bytes(directory, disk_usage)
    if free < needed + margin(needed):
        raise no_space_error(what, directory, needed, free)


class SpaceGuard:
    """Free-space checks for ``n_files`` files written one after another into ``directory``.

    The size of the files still to come is estimated from the mean size of those written so far (before
    the first one, only the margin is asked for). ``failed`` tells whether a failed write was a full disk
    and returns the error that says so.
    """

    def __init__(self, directory: Path, what: str, n_files: int, disk_usage: DiskUsage = shutil.disk_usage):
        self.directory = directory
        self.what = what
        self.n_files = n_files
        self.disk_usage = disk_usage
        self.written = 0
        self.done = 0

    def estimate(self, partial: int = 0) -> int:
        """The expected total size: the mean file so far (counting a ``partial`` one) times ``n_files``."""
        started = self.done + (1 if partial else 0)
        if not started:
            return 0
        return max(self.written + partial, round((self.written + partial) / started * self.n_files))

    def before_file(self) -> None:
        """Check that the files still to come fit."""
        total = self.estimate()
        free = free_bytes(self.directory, self.disk_usage)
        if free < total - self.written + margin(total):
            raise no_space_error(self.what, self.directory, max(total, MARGIN_BYTES), free + self.written)

    def wrote(self, path: Path) -> None:
        self.written += path.stat().st_size
        self.done += 1

    def write(self, path: Path, write: Callable[[Path], object], *, counted: bool = True) -> None:
        """``write(path)`` after ``before_file``; a failure to write on a full volume becomes the
        ``no_space_error`` (raised from the library's or the system's own error). A small file that is
        not one of the ``n_files`` (a manifest) is written with ``counted=False``: no check, no estimate."""
        if counted:
            self.before_file()
        try:
            write(path)
        except EnsembleError:
            raise  # ours (a model not fitted): never a full disk
        except Exception as exc:
            no_space = self.failed(exc, path)
            if no_space is None:
                raise
            raise no_space from exc
        if counted:
            self.wrote(path)

    def failed(self, exc: BaseException, partial: Path | None = None) -> UserError | None:
        """The ``no_space_error`` when ``exc`` (raised writing ``partial``) came from a full volume."""
        free = free_bytes(self.directory, self.disk_usage)
        size = partial.stat().st_size if partial is not None and partial.is_file() else 0
        if not is_out_of_space(exc) and free >= max(NEARLY_FULL_BYTES, self.estimate(size) - self.written):
            return None
        available = free + self.written + size  # what this write may use once its own files are removed
        return no_space_error(self.what, self.directory, max(self.estimate(size), 1), available)
