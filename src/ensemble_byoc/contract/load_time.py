"""Settings a native library reads from the environment once, when it loads (libgomp's wait between parallel
regions, CatBoost's allocator): one record of what the product sets, where the choice came from and whether
it came too late, and the one way to apply it. What to set is decided where each setting is explained
(``contract/openmp.py``, ``contract/allocator.py``); how it is set, named and logged is decided here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

PROCESS_MAPS = Path("/proc/self/maps")
"""The files mapped into this process: a loaded library is among them."""


@dataclass(frozen=True)
class LoadTimeReader:
    """A library that reads its settings from the environment when it loads."""

    topic: str
    """What the start-up log line calls the setting (``OpenMP wait``)."""
    name: str
    """The library as the too-late message names it."""
    mapped_as: str
    """A part of the library's file name, as ``/proc/self/maps`` shows it once the library is loaded."""
    fallback: str
    """What applies when the library loaded before the setting was made (``its own default``)."""

    def loaded(self, maps: Path = PROCESS_MAPS) -> bool:
        """Whether the library is in this process (False where ``maps`` is not there to say)."""
        try:
            return self.mapped_as in maps.read_text(errors="replace")
        except OSError:
            return False


@dataclass(frozen=True)
class LoadTimeSetting:
    """The variables the product sets for ``reader`` (none when the user's or the library's own apply) and
    where the choice came from."""

    reader: LoadTimeReader
    variables: Mapping[str, str] = field(default_factory=dict)
    source: str = "the product's default"
    loaded_before: bool = False
    """The library was already in the process when the variables were set, so it ignores them."""

    def apply(self, environ: MutableMapping[str, str], maps: Path = PROCESS_MAPS) -> LoadTimeSetting:
        """Set the variables in ``environ`` (``os.environ``: the process environment the library reads when
        it loads, and that child processes inherit); the setting, marked if it came too late."""
        loaded = self.reader.loaded(maps)
        environ.update(self.variables)
        return dataclasses.replace(self, loaded_before=loaded and bool(self.variables))

    def describe(self) -> str:
        """One log line: the setting, where it came from, and whether it came too late."""
        setting = ", ".join(f"{name}={value}" for name, value in self.variables.items())
        text = f"{setting} ({self.source})" if setting else self.source
        if self.loaded_before:
            reader = self.reader
            text += f"; but {reader.name} was loaded before it was set, so {reader.fallback} applies"
        return text

    def log(self, logger: logging.Logger) -> None:
        """The start-up line ``<topic>: ...``: a warning when it came too late, else information."""
        (logger.warning if self.loaded_before else logger.info)("%s: %s", self.reader.topic, self.describe())


def user_values(environ: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The user's own values of ``names`` in ``environ``; a blank value counts as unset."""
    return {name: environ[name].strip() for name in names if environ.get(name, "").strip()}
