"""The cores this process may use, and how many threads one training unit gets."""

from __future__ import annotations

import os


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
