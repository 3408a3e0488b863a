"""When CatBoost's allocator gives freed memory back: decided once, from the environment and the size of the
input data, and set before CatBoost loads (the allocator reads its options once, when it starts).

CatBoost allocates with its own copy of mimalloc, linked into its library. mimalloc gives memory back a
while after it is freed (``MIMALLOC_PURGE_DELAY``, 1,000 ms), but only during one of its own later calls:
between CatBoost units nothing calls it, so what a finished fit freed stays with CatBoost while LightGBM
and XGBoost, which allocate with the C library, train on top of it (185 MiB at 800,000 training rows x 20
features; about 12 bytes a value). A delay of 0 gives it back as it is freed, for 5-10% more CatBoost time
on such data (pages freed and touched again within a fit: +5% for a bare fit, +11% for a unit). On small
data the same setting costs far more: CatBoost's statistics of text columns free and touch pages every
round (bench/RESULTS.md, *CatBoost's allocator*: 1.2-2.5x the time for the same model on four small suite
sets, 43.7 s against 18.2 s on 146 rows of 6 classes with 5 text columns), for 6-100 MiB kept until its
next call. So the product sets 0 only for input data of ``SMALL_INPUT_BYTES`` or more (or of a size it
cannot tell, such as a pipe), and leaves mimalloc's own default below that. A user's own
``MIMALLOC_PURGE_DELAY`` is always left as set.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path

from ensemble_byoc.contract.file_magic import is_compressed
from ensemble_byoc.contract.load_time import LoadTimeReader, LoadTimeSetting, user_values

PURGE_VARIABLE = "MIMALLOC_PURGE_DELAY"
DEFAULT_PURGE_DELAY = "0"
CATBOOST = LoadTimeReader("CatBoost allocator", "CatBoost", "_catboost", "its allocator's own default")
SMALL_INPUT_BYTES = 8 * 2**20
"""Input data below this (compressed files counted at ``COMPRESSED_WEIGHT`` times their size) keeps
mimalloc's own delay: there time is what the setting would cost, and the memory kept is small next to any
instance's (about 100 MiB at most in the measurements)."""
COMPRESSED_WEIGHT = 4
"""A gzip or Parquet file holds about this many times the values per byte of a CSV file."""


def input_size(data_dir: Path) -> int | None:
    """The bytes under ``data_dir`` (every channel), a compressed file weighted by ``COMPRESSED_WEIGHT``,
    counted only until they reach ``SMALL_INPUT_BYTES`` (all the decision needs: a channel of many files, on
    a network file system say, is not walked whole at start-up); None when that cannot be told (a pipe-mode
    channel, an unreadable folder)."""
    total = 0
    try:
        for path in data_dir.rglob("*"):
            if total >= SMALL_INPUT_BYTES:
                break
            if path.is_fifo():
                return None
            if path.is_file():
                total += path.stat().st_size * (COMPRESSED_WEIGHT if is_compressed(path) else 1)
    except OSError:
        return None
    return total


def allocator_setting(environ: Mapping[str, str], input_bytes: int | None = None) -> LoadTimeSetting:
    """Decide the setting from ``environ`` and the input data's size (``input_size``; None: unknown): the
    user's own value, else 0 unless the input is small."""
    own = user_values(environ, (PURGE_VARIABLE,))
    if own:
        return LoadTimeSetting(CATBOOST, {},
                               f"{PURGE_VARIABLE}={own[PURGE_VARIABLE]}, set by the user and left as set")
    if input_bytes is not None and input_bytes < SMALL_INPUT_BYTES:
        return LoadTimeSetting(CATBOOST, {}, (
            f"{PURGE_VARIABLE} left at mimalloc's own default: the input data is {_mib(input_bytes)} "
            f"(under {_mib(SMALL_INPUT_BYTES)}), where giving memory back as it is freed costs CatBoost up "
            f"to 2.5x its time; a {PURGE_VARIABLE} of your own replaces it"))
    return LoadTimeSetting(CATBOOST, {PURGE_VARIABLE: DEFAULT_PURGE_DELAY},
                           f"the product's default; a {PURGE_VARIABLE} of your own replaces it")


def apply_allocator_setting(
    environ: MutableMapping[str, str], input_bytes: int | None = None
) -> LoadTimeSetting:
    """Decide the setting and set it in ``environ`` (``os.environ``). Call it before anything imports
    CatBoost."""
    return allocator_setting(environ, input_bytes).apply(environ)


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"
