"""Facts about the host a job runs on: its usable cores and its place among the job's hosts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def available_cpus() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


ROWS_PER_THREAD = 10_000
"""Below this many rows per thread, OpenMP's start-up and barriers cost more than a thread gives back."""


def training_threads(n_rows: int, cpus: int) -> int:
    """Threads for one unit: all usable cores for large data, fewer for small data.

    The boosting libraries synchronise their threads every round; on a few thousand rows that costs more
    than it saves, and on a busy machine spinning threads slow a small fit down by orders of magnitude.
    """
    return max(1, min(cpus, n_rows // ROWS_PER_THREAD))


def is_leader(resource_config: Mapping[str, Any]) -> bool:
    """The first host (SageMaker sorts them) writes the model; a single-host job is its own leader."""
    hosts = sorted(resource_config.get("hosts") or [])
    current = resource_config.get("current_host")
    return not hosts or current is None or current == hosts[0]
