"""How the libraries' OpenMP threads wait between parallel regions: decided once, from the environment,
and set before any library loads its OpenMP runtime (libgomp reads its variables once, when it is loaded).

XGBoost and LightGBM run on libgomp, whose idle threads spin for a while (``GOMP_SPINCOUNT``, 300,000 by
default) before they sleep. On cores another process also wants, spinning threads starve each other: one
busy process per core made a training job take 3.7-4.2x its quiet time. A short spin (1,000) keeps it
within 2.2-2.4x for 7-19% more time on a quiet machine (bench/RESULTS.md, "Shared cores"), so that is the
product's default. A user's own ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is always left as set.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, MutableMapping

from ensemble_byoc.contract.load_time import LoadTimeReader, LoadTimeSetting, user_values
from ensemble_byoc.errors import PlatformError

SPIN_VARIABLE = "ENSEMBLE_BYOC_OMP_SPIN"
LIBRARY_DEFAULT = "library"
"""``ENSEMBLE_BYOC_OMP_SPIN=library``: set nothing, the OpenMP runtime's own default applies."""
DEFAULT_SPIN = 1_000
MAX_SPIN = 1_000_000_000
USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
"""libgomp's own variables: when the user sets either, the product sets nothing."""
LIBGOMP = LoadTimeReader("OpenMP wait", "libgomp", "libgomp", "its own default")


def openmp_wait(environ: Mapping[str, str]) -> LoadTimeSetting:
    """Decide the wait from ``environ``; a malformed ``ENSEMBLE_BYOC_OMP_SPIN`` is a ``PlatformError``."""
    spin = _spin_setting(environ)
    users = user_values(environ, USER_VARIABLES)
    if users:
        ignored = f"; {SPIN_VARIABLE}={environ[SPIN_VARIABLE].strip()} not applied" if spin != "" else ""
        mine = ", ".join(f"{name}={value}" for name, value in users.items())
        return LoadTimeSetting(LIBGOMP, {}, f"{mine}, set by the user and left as set{ignored}")
    if spin == LIBRARY_DEFAULT:
        return LoadTimeSetting(LIBGOMP, {},
                               f"the OpenMP runtime's own default ({SPIN_VARIABLE}={LIBRARY_DEFAULT})")
    if spin == "":
        return LoadTimeSetting(LIBGOMP, {"GOMP_SPINCOUNT": str(DEFAULT_SPIN)},
                               f"the product's default; {SPIN_VARIABLE} changes it")
    return LoadTimeSetting(LIBGOMP, {"GOMP_SPINCOUNT": spin}, f"from {SPIN_VARIABLE}")


def apply_openmp_wait(environ: MutableMapping[str, str]) -> LoadTimeSetting:
    """Decide the wait and set it in ``environ`` (``os.environ``). Call it before anything imports XGBoost,
    LightGBM or scikit-learn."""
    return openmp_wait(environ).apply(environ)


def _spin_setting(environ: Mapping[str, str]) -> str:
    """``ENSEMBLE_BYOC_OMP_SPIN`` checked: ``""`` (unset), ``"library"``, or a spin count as digits."""
    raw = environ.get(SPIN_VARIABLE, "").strip()
    if not raw or raw.lower() == LIBRARY_DEFAULT:
        return raw.lower()
    try:
        value = int(raw)
    except ValueError:
        close = difflib.get_close_matches(raw.lower(), [LIBRARY_DEFAULT], n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        msg = (f"{SPIN_VARIABLE} == {raw!r}, must be a spin count (an integer, e.g. {DEFAULT_SPIN}) or "
               f"{LIBRARY_DEFAULT!r} for the OpenMP runtime's own default{hint}.")
        raise PlatformError(msg) from None
    if not 0 <= value <= MAX_SPIN:
        msg = f"{SPIN_VARIABLE} == {value}, must be between 0 and {MAX_SPIN}."
        raise PlatformError(msg)
    return str(value)
