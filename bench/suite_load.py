"""Is the machine quiet? The 1-minute load average and the CPU used by processes outside this benchmark's
own process tree, before and during each system's fit (as bench/serve_latency.py records the load and
CPU pressure before each timed phase).

Quiet, for a system's result: before it started, the 1-minute load average was at most the number of
cores + ``MAX_LOAD_OVER_CORES`` (the previous system of this run alone holds it near the core count for a
minute after it ends), and while it ran, the processes outside this benchmark used on average at most
``MAX_OTHER_CPU`` cores.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MAX_LOAD_OVER_CORES = 0.5
MAX_OTHER_CPU = 0.25
SETTLE_S = 120.0
"""Before a system starts, wait up to this long for the load to fall under the threshold."""
_TICKS = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks used so far: user + system) for every process readable now."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def _ours(stats: dict[int, tuple[int, int]]) -> set[int]:
    """This process and all its descendants."""
    mine = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (parent, _) in stats.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


def others_ticks() -> tuple[float, dict[int, int]]:
    stats = _stats()
    mine = _ours(stats)
    return time.monotonic(), {pid: ticks for pid, (_, ticks) in stats.items() if pid not in mine}


def other_cpu(first: tuple[float, dict[int, int]], second: tuple[float, dict[int, int]]) -> float:
    """Cores used by processes outside this benchmark between two ``others_ticks`` samples."""
    elapsed = max(second[0] - first[0], 1e-3)
    used = sum(ticks - first[1].get(pid, 0) for pid, ticks in second[1].items())
    return max(0.0, used / _TICKS / elapsed)


def load_threshold() -> float:
    return (os.cpu_count() or 1) + MAX_LOAD_OVER_CORES


def settle(timeout_s: float = SETTLE_S) -> dict[str, float]:
    """Wait (up to ``timeout_s``) for the 1-minute load to fall under the threshold; the load, and the
    others' CPU over the last second, when the system starts."""
    deadline = time.monotonic() + timeout_s
    while os.getloadavg()[0] > load_threshold() and time.monotonic() < deadline:
        time.sleep(5)
    first = others_ticks()
    time.sleep(1.0)
    others = other_cpu(first, others_ticks())
    return {"load1_before": round(os.getloadavg()[0], 2), "other_cpu_before": round(others, 2)}


@dataclass
class Watch:
    """Samples the others' CPU every ``every_s`` seconds in a thread while a system runs."""

    every_s: float = 5.0

    def __post_init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = others_ticks()
        while not self._stop.wait(self.every_s):
            now = others_ticks()
            self.samples.append(other_cpu(last, now))
            last = now

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        if not self.samples:  # a fit shorter than one sample: the second before it stands for it
            return {}
        return {"other_cpu_mean": round(sum(self.samples) / len(self.samples), 2),
                "other_cpu_max": round(max(self.samples), 2)}


def is_quiet(load: dict[str, float]) -> bool:
    others = load.get("other_cpu_mean", load.get("other_cpu_before", 0.0))
    return load.get("load1_before", 0.0) <= load_threshold() and others <= MAX_OTHER_CPU


def pressure() -> str:
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    return dict(item.split("=", 1) for item in first.split()[1:]).get("avg60", "?") + "% (avg60)"
