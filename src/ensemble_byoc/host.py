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


def is_leader(resource_config: Mapping[str, Any]) -> bool:
    """The first host (SageMaker sorts them) writes the model; a single-host job is its own leader."""
    hosts = sorted(resource_config.get("hosts") or [])
    current = resource_config.get("current_host")
    return not hosts or current is None or current == hosts[0]
