"""The cores this process may use, and how many threads one training unit gets."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores this process may use: its CPU affinity, lowered to a cgroup CPU quota when one is set
    (``docker run --cpus 2`` on a 16-core machine: 2), not the machine's count."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root)
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPUs a cgroup quota grants (quota / period: cgroup v2's ``cpu.max``, v1's ``cpu.cfs_quota_us``
    and ``cpu.cfs_period_us``), or ``None`` without a quota or a readable one."""
    try:
        fields = (cgroup_root / "cpu.max").read_text().split()
    except OSError:
        try:
            fields = [(cgroup_root / "cpu" / name).read_text().strip()
                      for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us")]
        except OSError:
            return None
    try:
        quota, period = float(fields[0]), float(fields[1])
    except (ValueError, IndexError):  # "max" (v2) and unreadable values: no quota
        return None
    return quota / period if quota > 0 and period > 0 else None  # v1 writes -1 for none


ROWS_PER_THREAD = 10_000
"""Below this many rows per thread, OpenMP's start-up and barriers cost more than a thread gives back."""


def training_threads(n_rows: int, cpus: int) -> int:
    """Threads for one unit: all usable cores for large data, fewer for small data.

    The boosting libraries synchronise their threads every round; on a few thousand rows that costs more
    than it saves, and on a busy machine spinning threads slow a small fit down by orders of magnitude.
    """
    return max(1, min(cpus, n_rows // ROWS_PER_THREAD))


def unit_slots(cpus: int, n_threads: int) -> int:
    """How many units of ``n_threads`` threads one host trains side by side on ``cpus`` cores: small data
    sets train each unit on fewer threads than the host has cores (``training_threads``), and the cores
    left would otherwise wait."""
    return max(1, cpus // max(n_threads, 1))
