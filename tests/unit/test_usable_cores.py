"""The cores a process may use: its CPU affinity, lowered to a cgroup CPU quota (``docker run --cpus``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ensemble_byoc.contract.cpus import available_cpus, cpu_quota, training_threads, unit_slots

AFFINITY = len(os.sched_getaffinity(0))


def v2(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(text)
    return root


def v1(root: Path, quota: str, period: str = "100000") -> Path:
    (root / "cpu").mkdir(parents=True, exist_ok=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


@pytest.mark.parametrize(("text", "cpus"), [("150000 100000\n", 1.5), ("max 100000\n", None),
                                             ("50000 100000", 0.5), ("garbage", None), ("", None)])
def test_a_cgroup_v2_quota_is_read_as_cpus_and_max_means_none(tmp_path: Path, text: str,
                                                                cpus: float | None) -> None:
    assert cpu_quota(v2(tmp_path, text)) == cpus


@pytest.mark.parametrize(("quota", "cpus"), [("200000", 2.0), ("-1", None), ("25000", 0.25), ("x", None)])
def test_a_cgroup_v1_quota_is_read_as_cpus_and_minus_one_means_none(tmp_path: Path, quota: str,
                                                                     cpus: float | None) -> None:
    assert cpu_quota(v1(tmp_path, quota)) == cpus


def test_without_cgroup_files_there_is_no_quota_and_the_affinity_counts(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None
    assert available_cpus(tmp_path) == AFFINITY


def test_a_quota_below_the_affinity_lowers_the_cores_rounding_a_fraction_up_to_at_least_one(
    tmp_path: Path
) -> None:
    assert available_cpus(v2(tmp_path / "a", "50000 100000")) == 1
    assert available_cpus(v2(tmp_path / "b", "100001 100000")) == min(AFFINITY, 2)
    assert available_cpus(v1(tmp_path / "c", str(100000 * (AFFINITY + 8)))) == AFFINITY


@pytest.mark.parametrize(("rows", "cpus", "threads", "slots"), [
    (500, 2, 1, 2),  # small data: one thread a unit, two units side by side
    (25_000, 2, 2, 1),  # a unit uses both cores: one at a time
    (35_000, 16, 3, 5),  # the 16th core is left to the job's own work
    (500, 1, 1, 1),
    (10**6, 16, 16, 1),
])
def test_small_data_trains_fewer_threads_a_unit_and_more_units_side_by_side(
    rows: int, cpus: int, threads: int, slots: int
) -> None:
    assert training_threads(rows, cpus) == threads
    assert unit_slots(cpus, threads) == slots
