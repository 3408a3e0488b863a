"""When CatBoost's allocator gives freed memory back: decided once, from the environment, and set before
CatBoost loads (the allocator reads its options once, when it starts).

CatBoost allocates with its own copy of mimalloc, linked into its library. mimalloc gives memory back a
while after it is freed (``MIMALLOC_PURGE_DELAY``, 1,000 ms), but only during one of its own later calls:
between CatBoost units nothing calls it, so what a finished fit freed stays with CatBoost while LightGBM
and XGBoost, which allocate with the C library, train on top of it (185 MiB at 800,000 training rows x 20
features). A delay of 0 gives it back as it is freed, so that is the product's default, for 5-10% more
CatBoost time (pages freed and touched again within a fit: +5% for a bare fit, +11% for a unit, paired
runs on a shared machine). A user's own ``MIMALLOC_PURGE_DELAY`` is always left as set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

PURGE_VARIABLE = "MIMALLOC_PURGE_DELAY"
DEFAULT_PURGE_DELAY = "0"


@dataclass(frozen=True)
class AllocatorSetting:
    """The variables the product sets for CatBoost's allocator (none when the user's own apply) and where
    the choice came from."""

    variables: Mapping[str, str] = field(default_factory=dict)
    source: str = "the product's default"
    loaded_before: bool = False
    """CatBoost was already in the process when the variables were set, so its allocator ignores them."""

    def describe(self) -> str:
        """One log line: the setting, where it came from, and whether it came too late."""
        setting = ", ".join(f"{name}={value}" for name, value in self.variables.items())
        text = f"{setting} ({self.source})" if setting else self.source
        if self.loaded_before:
            text += "; but CatBoost was loaded before it was set, so its allocator's own default applies"
        return text

    def log(self, logger: logging.Logger) -> None:
        """The start-up line ``CatBoost allocator: ...``: a warning when it came too late."""
        (logger.warning if self.loaded_before else logger.info)("CatBoost allocator: %s", self.describe())


def allocator_setting(environ: Mapping[str, str]) -> AllocatorSetting:
    """Decide the setting from ``environ``: the product's default unless the user set the variable."""
    own = environ.get(PURGE_VARIABLE, "").strip()
    if own:
        return AllocatorSetting({}, f"{PURGE_VARIABLE}={own}, set by the user and left as set")
    return AllocatorSetting({PURGE_VARIABLE: DEFAULT_PURGE_DELAY},
                            f"the product's default; a {PURGE_VARIABLE} of your own replaces it")


def apply_allocator_setting(environ: MutableMapping[str, str]) -> AllocatorSetting:
    """Decide the setting and set its variables in ``environ`` (``os.environ``: the process environment
    that the allocator reads when CatBoost loads, and that child processes inherit). Call it before
    anything imports CatBoost."""
    setting = allocator_setting(environ)
    loaded = catboost_loaded()
    environ.update(setting.variables)
    return AllocatorSetting(setting.variables, setting.source,
                            loaded_before=loaded and bool(setting.variables))


def catboost_loaded(maps: Path = Path("/proc/self/maps")) -> bool:
    """Whether CatBoost's library is mapped into this process (False where /proc is not there to say)."""
    try:
        return "_catboost" in maps.read_text(errors="replace")
    except OSError:
        return False
