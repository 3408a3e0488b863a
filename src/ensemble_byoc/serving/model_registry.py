"""Multi-model serving's shared state: which models are loaded, in one JSON file every worker reads.

The gunicorn master makes a per-server directory before it forks (``ModelRegistry.create``); each worker
reads ``models.json`` there (again only when the file changed: it is always replaced, never rewritten) and
changes it under an exclusive ``flock`` on ``models.lock``, writing a temporary file and renaming it over
the old one, so a reader never sees half a file. The file holds names, directories, sizes and a token
per load: plain JSON, nothing executable.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ensemble_byoc.errors import (
    InsufficientMemoryError,
    ModelAlreadyLoadedError,
    ModelNotFoundError,
    PlatformError,
)

_FILE = "models.json"
_LOCK = "models.lock"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One loaded model: its name, its directory, its estimated memory per worker (what the budget counts),
    the growth of the loading worker's resident memory (for the logs), and a token that changes each time
    the name is loaded (so a worker never keeps an older load of the same name)."""

    name: str
    url: str
    memory_bytes: int
    measured_bytes: int
    token: str


class ModelRegistry:
    """The loaded models of one server, shared by its workers through ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: tuple[int, int, int] | None = None
        self._entries: dict[str, Entry] = {}

    @classmethod
    def create(cls) -> ModelRegistry:
        """A new empty registry in a fresh directory (in memory under /dev/shm when it can be), removed
        when the process that made it exits (not when a forked worker does)."""
        shm = Path("/dev/shm")
        parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        directory = Path(tempfile.mkdtemp(prefix="ensemble-byoc-models-", dir=parent))
        atexit.register(_remove_if_owner, directory, os.getpid())
        registry = cls(directory)
        registry._write({})
        return registry

    def entries(self) -> dict[str, Entry]:
        """The registered models by name, read again only when the file was replaced since last time."""
        path = self.directory / _FILE
        stat = path.stat()
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._entries = self._read()
            self._seen = seen
        return self._entries

    def get(self, name: str) -> Entry:
        entry = self.entries().get(name)
        if entry is None:
            msg = f"Model {name!r} is not loaded; load it with POST /models first."
            raise ModelNotFoundError(msg)
        return entry

    def add(self, entry: Entry, budget_bytes: int, workers: int) -> None:
        """Register a model already loaded and verified; 409 if the name is taken, 507 past the budget."""
        with self._locked():
            entries = self._read()
            if entry.name in entries:
                raise already_loaded(entry.name, entries[entry.name].url)
            check_budget(entry.name, entry.memory_bytes, [e.memory_bytes for e in entries.values()],
                         budget_bytes, workers)
            self._write({**entries, entry.name: entry})

    def remove(self, name: str) -> Entry:
        with self._locked():
            entries = self._read()
            entry = entries.pop(name, None)
            if entry is None:
                msg = f"Model {name!r} is not loaded, so it cannot be unloaded."
                raise ModelNotFoundError(msg)
            self._write(entries)
        return entry

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.directory / _LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Entry]:
        path = self.directory / _FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {name: Entry(**fields) for name, fields in data.items()}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            msg = f"The multi-model registry {path} is unreadable ({type(exc).__name__}); restart the server."
            raise PlatformError(msg) from exc

    def _write(self, entries: dict[str, Entry]) -> None:
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".models-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump({name: asdict(entry) for name, entry in entries.items()}, out)
        os.replace(temporary, self.directory / _FILE)


def already_loaded(name: str, url: str) -> ModelAlreadyLoadedError:
    msg = f"Model {name!r} is already loaded (from {url}); unload it with DELETE /models/{name} first."
    return ModelAlreadyLoadedError(msg)


def check_budget(name: str, memory_bytes: int, loaded: list[int], budget_bytes: int, workers: int) -> None:
    """507 when every worker holding the loaded models and this one would pass the budget."""
    needed = workers * (sum(loaded) + memory_bytes)
    if needed <= budget_bytes:
        return
    msg = (
        f"Model {name!r} needs about {memory_bytes / _MIB:.2f} MiB per worker; with the {len(loaded)} "
        f"loaded models ({sum(loaded) / _MIB:.2f} MiB) in each of {workers} workers that is "
        f"{needed / _MIB:.2f} MiB, over the memory budget of {budget_bytes / _MIB:.2f} MiB. "
        "Unload a model first."
    )
    raise InsufficientMemoryError(msg)


def _remove_if_owner(directory: Path, owner: int) -> None:
    """At exit: the process that made the directory removes it; a forked worker leaves it alone."""
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)
