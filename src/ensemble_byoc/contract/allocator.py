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

from collections.abc import Mapping, MutableMapping

from ensemble_byoc.contract.load_time import LoadTimeReader, LoadTimeSetting, user_values

PURGE_VARIABLE = "MIMALLOC_PURGE_DELAY"
DEFAULT_PURGE_DELAY = "0"
CATBOOST = LoadTimeReader("CatBoost allocator", "CatBoost", "_catboost", "its allocator's own default")


def allocator_setting(environ: Mapping[str, str]) -> LoadTimeSetting:
    """Decide the setting from ``environ``: the product's default unless the user set the variable."""
    own = user_values(environ, (PURGE_VARIABLE,))
    if own:
        return LoadTimeSetting(CATBOOST, {},
                               f"{PURGE_VARIABLE}={own[PURGE_VARIABLE]}, set by the user and left as set")
    return LoadTimeSetting(CATBOOST, {PURGE_VARIABLE: DEFAULT_PURGE_DELAY},
                           f"the product's default; a {PURGE_VARIABLE} of your own replaces it")


def apply_allocator_setting(environ: MutableMapping[str, str]) -> LoadTimeSetting:
    """Decide the setting and set it in ``environ`` (``os.environ``). Call it before anything imports
    CatBoost."""
    return allocator_setting(environ).apply(environ)
