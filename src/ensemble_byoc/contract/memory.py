"""The memory this process may use: the least of the machine's, its container's and its own limit; and
giving the C heap's free memory back to the system."""

from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import dataclass
from pathlib import Path

_CGROUP_FILES = (
    (Path("/sys/fs/cgroup/memory.max"), "the container's memory limit"),
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"), "the container's memory limit"),
)
_NO_LIMIT = 1 << 60
"""cgroup v1 writes a number near 2**63 for "no limit"."""


@dataclass(frozen=True)
class MemoryLimit:
    bytes: int
    source: str
    """What sets it, for a message: "this instance's memory", "the container's memory limit", ..."""


def memory_limit() -> MemoryLimit:
    """The smallest of: the machine's physical memory, the cgroup limit, the address-space limit."""
    limits = [MemoryLimit(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this instance's memory")]
    for path, source in _CGROUP_FILES:
        value = _read_number(path)
        if value is not None and value < _NO_LIMIT:
            limits.append(MemoryLimit(value, source))
    if (address_space := address_space_limit()) is not None:
        limits.append(MemoryLimit(address_space, "this process's address-space limit (ulimit -v)"))
    return min(limits, key=lambda limit: limit.bytes)


def address_space_limit() -> int | None:
    """This process's address-space limit (``ulimit -v``) in bytes, or ``None`` without one. It counts
    memory reserved, not used: every thread adds its stack and glibc's 64 MiB heap arena for it."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _read_number(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def return_free_heap() -> None:
    """Give the free pages of the C library's heap back to the system (glibc's ``malloc_trim``); nothing
    where the C library has no such call.

    glibc keeps what a finished training unit, its predictions and the blend between folds freed inside
    its heap, where only later ``malloc`` calls can use it: LightGBM's and XGBoost's units and numpy's
    temporaries, about 110 MiB at 1,000,000 rows x 20 features, which the next unit would train on top of.
    """
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
