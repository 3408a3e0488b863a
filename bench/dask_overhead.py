"""What the multi-host (Dask) paths cost against the single-host path, on the same data and settings.

Runs the real ``container/train`` three ways on one synthetic regression set (headerless CSV, label first):

* single host: one process, no cluster (the path every single-instance job takes);
* two hosts, ``FullyReplicated``: ``algo-1`` (scheduler + worker) and ``algo-2`` (worker) as two processes
  on 127.0.0.2 / 127.0.0.3, each with its own ``SAGEMAKER_BASE_DIR`` holding every row (as the tests do);
  the units are spread over the hosts and the model must equal the single host's;
* two hosts, ``ShardedByS3Key``: the same pair, but each host's train channel holds its own half of the
  rows (algo-1 the first half, so the job's row order, and so its folds, are the single host's); XGBoost
  and LightGBM train each unit across both hosts, CatBoost on the largest shard. The models differ from
  the single host's by design, so this row is compared on its cross-validated RMSE.

Both two-host runs run inside a network namespace whose loopback holds 127.0.0.2 and 127.0.0.3, since
LightGBM's distributed mode needs each host's address on an interface (needs root, as ``ip netns`` does),
and each host's process is pinned to a core of its own (``taskset``), as separate instances have their own
cores: the product sizes its Dask worker and its threads from the process's CPU affinity. Unpinned, both
hosts' OpenMP threads (xgboost.dask and lightgbm.dask use every core a worker has) fight over the same
cores with a barrier every round: in a trial at 2,000 rows on this shared machine the sharded XGBoost and
LightGBM units took 36 and 110 times as long as on one host, and a second trial failed ("Host algo-1,
algo-2 left the Dask cluster"). The single host may use every core; below 20,000 rows it trains each unit
on one thread (``cpus.training_threads``), so at the default size both sides train on one core per unit.

Reports, per row: wall time, the sum of unit seconds, the cluster's start-up (process start to "All 2 hosts
joined"), where the units ran, the final CV RMSE (the leader's last ``validation-rmse:`` line) and, for the
replicated row, whether its model predicts what the single host's does; then each library's CV RMSE and
unit seconds per row; then, from the measured unit seconds, what the scheduling gives on 4 and 8 instances
(arithmetic, labelled as such). One machine's cores are no scale-out: the wall times show what the Dask
paths cost here, not what more instances would gain.

Rewrites only its own section of bench/RESULTS.md (``<!-- dask_overhead:start/end -->``).

Run from the repository root: .venv/bin/python bench/dask_overhead.py [--rows N] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from itertools import cycle
from pathlib import Path

import numpy as np
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "dask_overhead"
START_MARKER, END_MARKER = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
TRAIN = REPO / "container" / "train"
HYPERPARAMETERS = {"k_fold": "5", "num_round": "300", "eta": "0.1", "max_depth": "6",
                   "early_stopping_rounds": "30"}
HOSTS = ["algo-1", "algo-2"]
ADDRESSES = {"algo-1": "127.0.0.2", "algo-2": "127.0.0.3"}
SINGLE, REPLICATED, SHARDED = ("single host (no Dask)", "two hosts on Dask, FullyReplicated",
                               "two hosts on Dask, ShardedByS3Key")
SCALE_HOSTS = (1, 2, 4, 8)
UNIT_LINE = re.compile(r"unit \d+ of \d+: (\S+) fold \d+: best_iteration=\d+ \S+ seconds=([0-9.]+)"
                       r"(?: \(cut short by time_limit\))?(?: on (.+))?$", flags=re.M)
METRIC_LINE = re.compile(r"^validation-rmse(?:-(\S+))?:([0-9.]+);$", flags=re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_data(rows: int) -> np.ndarray:
    """Label first, then 10 features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 10))
    y = 3 * X[:, 0] - 2 * X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + rng.normal(scale=0.3, size=rows)
    return np.column_stack([y, X])


def make_tree(base: Path, data: np.ndarray, current: str, hosts: list[str], distribution: str) -> Path:
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    np.savetxt(base / "input" / "data" / "train" / "data.csv", data, delimiter=",", fmt="%.6f")
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    (config / "inputdataconfig.json").write_text(json.dumps(
        {"train": {"ContentType": "text/csv", "S3DistributionType": distribution}}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": current, "hosts": hosts}))
    return base


@dataclass
class Run:
    """One training job as its leader logged it."""

    wall: float
    joined: float | None  # seconds from the processes' start to every host joined; None without a cluster
    base: Path  # the leader's SAGEMAKER_BASE_DIR
    units: list[tuple[str, float, str]]  # (member, seconds, where it ran), in the order reported
    rmse: dict[str, float]  # the last validation-rmse line: "ensemble" and each library
    load: float  # this machine's load average (1 min) when the job started

    @property
    def unit_seconds(self) -> float:
        return sum(seconds for _, seconds, _ in self.units)

    def member_seconds(self, member: str) -> float:
        return sum(seconds for name, seconds, _ in self.units if name == member)

    @property
    def members(self) -> list[str]:
        return sorted({name for name, _, _ in self.units})

    @property
    def where(self) -> str:
        places = sorted({where for _, _, where in self.units})
        return ", ".join(f"{sum(w == where for _, _, w in self.units)} on {where}" for where in places)


def parse_run(wall: float, joined: float | None, base: Path, stdout: str, stderr: str, load: float) -> Run:
    units = [(member, float(seconds), where or "this host")
             for member, seconds, where in UNIT_LINE.findall(stderr)]
    rmse = {library or "ensemble": float(value)
            for library, value in METRIC_LINE.findall(stdout)}  # the last line of each name wins
    return Run(wall, joined, base, units, rmse, load)


def run_single(work: Path, data: np.ndarray) -> Run:
    base = make_tree(work / "single", data, "algo-1", ["algo-1"], "FullyReplicated")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
    load, started = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run([sys.executable, str(TRAIN), "train"], env=env, capture_output=True, text=True,
                          timeout=3600, check=True)
    return parse_run(time.perf_counter() - started, None, base, done.stdout, done.stderr, load)


@contextmanager
def network_namespace() -> Iterator[list[str]]:
    """A namespace whose loopback holds every host's address; yields the prefix that runs a command in it."""
    name = f"ebyoc-bench-{os.getpid()}"
    created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise SystemExit(f"ip netns add failed (needs root): {created.stderr.strip()}")
    try:
        setup = ["ip link set lo up", *(f"ip addr add {address}/8 dev lo" for address in ADDRESSES.values())]
        for command in setup:
            subprocess.run(["ip", "netns", "exec", name, *command.split()], check=True, capture_output=True)
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def run_two_hosts(work: Path, shards: dict[str, np.ndarray], distribution: str, prefix: list[str]) -> Run:
    """One process per host (``shards``: each host's rows) on a core of its own, timed until the leader
    exits."""
    ports = {"ENSEMBLE_BYOC_SCHEDULER_PORT": str(free_port()), "ENSEMBLE_BYOC_WORKER_PORT": str(free_port()),
             "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES": json.dumps(ADDRESSES)}
    work.mkdir()
    processes = {}
    load, started = os.getloadavg()[0], time.perf_counter()
    try:
        for host, cpu in zip(HOSTS, cycle(sorted(os.sched_getaffinity(0)))):
            base = make_tree(work / host, shards[host], host, HOSTS, distribution)
            env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base), **ports}
            command = [*prefix, "taskset", "-c", str(cpu), sys.executable, str(TRAIN), "train"]
            with (work / f"{host}.out").open("w") as out, (work / f"{host}.err").open("w") as err:
                processes[host] = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        joined = None
        while processes["algo-1"].poll() is None:
            if joined is None and "All 2 hosts joined" in (work / "algo-1.err").read_text():
                joined = time.perf_counter() - started
            time.sleep(0.05)
        wall = time.perf_counter() - started
        codes = {host: process.wait(timeout=120) for host, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    stderr = (work / "algo-1.err").read_text()
    if any(codes.values()):
        raise SystemExit(f"a host failed ({distribution}): {codes}\n{stderr[-4000:]}")
    return parse_run(wall, joined, work / "algo-1", (work / "algo-1.out").read_text(), stderr, load)


def predictions_equal(a: Path, b: Path, rows: int) -> bool:
    from ensemble_byoc.bundle.artifacts import load_bundle

    X = np.random.default_rng(1).normal(size=(min(rows, 1000), 10))
    first, _ = load_bundle(a / "model", n_threads=1)
    second, _ = load_bundle(b / "model", n_threads=1)
    return bool(np.array_equal(first.predict(X), second.predict(X)))


def list_schedule(seconds: list[float], hosts: int) -> float:
    """Makespan when each unit, in submission order, goes to the first host that is free."""
    free = [0.0] * hosts
    for unit in seconds:
        heapq.heappush(free, heapq.heappop(free) + unit)
    return max(free)


def main_table(runs: dict[str, Run], same: bool) -> list[str]:
    single = runs[SINGLE].rmse["ensemble"]
    lines = ["| path | wall time (s) | sum of unit seconds | cluster start-up (s) | where the units ran | "
             "CV RMSE (ensemble) | vs single host | same predictions as single host | load at start |",
             "|---|---:|---:|---:|---|---:|---:|---|---:|"]
    verdicts = {SINGLE: "—", REPLICATED: "**yes**" if same else "**NO**",
                SHARDED: "— (other models by design)"}
    for name, run in runs.items():
        rmse = run.rmse["ensemble"]
        joined = "—" if name == SINGLE else f"{run.joined if run.joined is not None else math.nan:.1f}"
        gap = "—" if name == SINGLE else f"{(rmse / single - 1) * 100:+.2f}%"
        lines.append(f"| {name} | {run.wall:.1f} | {run.unit_seconds:.1f} | {joined} | {run.where} | "
                     f"{rmse:.6f} | {gap} | {verdicts[name]} | {run.load:.2f} |")
    return lines


def library_table(runs: dict[str, Run]) -> list[str]:
    short = ["single", "replicated", "sharded"]
    lines = ["| member | " + " | ".join(f"CV RMSE, {s}" for s in short) + " | "
             + " | ".join(f"unit seconds, {s}" for s in short) + " |",
             "|---|" + "---:|" * 6]
    for member in runs[SINGLE].members:
        rmse = " | ".join(f"{run.rmse.get(member, math.nan):.6f}" for run in runs.values())
        seconds = " | ".join(f"{run.member_seconds(member):.1f}" for run in runs.values())
        lines.append(f"| {member} | {rmse} | {seconds} |")
    rmse = " | ".join(f"{run.rmse['ensemble']:.6f}" for run in runs.values())
    seconds = " | ".join(f"{run.unit_seconds:.1f}" for run in runs.values())
    return [*lines, f"| ensemble (blend) / all units | {rmse} | {seconds} |"]


def scaling_text(single: Run, sharded: Run, startup: float) -> list[str]:
    """The replicated and sharded schedules on H instances, from the single host's measured unit seconds."""
    unit_list = [seconds for _, seconds, _ in single.units]
    n, total, longest = len(unit_list), single.unit_seconds, max(unit_list)
    mean = total / n
    steps = ", ".join(f"H={h}: ceil({n}/{h}) = {math.ceil(n / h)} unit-times = {math.ceil(n / h) * mean:.1f} "
                      f"s, speed-up {n}/{math.ceil(n / h)} = {n / math.ceil(n / h):g}" for h in SCALE_HOSTS)
    chains = ", ".join(f"H={h}: {list_schedule(unit_list, h):.1f} s (lower bound max({total:.1f}/{h}, "
                       f"{longest:.1f}) = {max(total / h, longest):.1f} s)" for h in SCALE_HOSTS)
    spread = {member for member, _, where in sharded.units if where == "all hosts"}
    split = sum(single.member_seconds(m) for m in spread)
    fixed = total - split
    estimate = ", ".join(f"H={h}: {fixed:.1f} + {split:.1f}/{h} = {fixed + split / h:.1f} s, speed-up "
                         f"{(fixed + split) / (fixed + split / h):.2f}" for h in SCALE_HOSTS)
    measured = ", ".join(f"{m} {sharded.member_seconds(m):.1f} s vs {single.member_seconds(m):.1f} s "
                         f"({sharded.member_seconds(m) / single.member_seconds(m):.2f}x)"
                         for m in single.members)
    return [
        "### What the unit scheduling gives on 4 and 8 instances (arithmetic on the single host's measured "
        "unit seconds, not a measurement)",
        "",
        f"**FullyReplicated.** Every host holds every row; the {n} units ({HYPERPARAMETERS['k_fold']} folds "
        f"x {len(single.members)} libraries) are independent and all submitted at once, each host trains "
        "one unit at a time with all its cores, and the leader collects and reports them fold by fold (a "
        "later fold's units train while it waits for an earlier one, so the in-order reporting does not hold "
        "training up). With H hosts and similar units the CV wall time is about ceil(units / H) x the mean "
        f"unit time; here the mean unit took {total:.1f} / {n} = {mean:.2f} s, so {steps}. Add the fixed "
        f"start-up (measured here: {startup:.1f} s from the processes' start to every host joined, imports "
        "included) and sending the data once to each worker. The units are not similar (see each library's "
        "unit seconds above), so the wall time is really the longest chain of units on one host; placing "
        f"the measured units in submission order on the first free host gives {chains}.",
        "",
        "**ShardedByS3Key (estimate).** Units run one at a time, each across every host. An XGBoost or "
        "LightGBM unit's rows are split H ways, so its per-round histogram work is about 1/H of the single "
        "host's, plus one allreduce of the histograms per round (not measured here: on one machine it is a "
        "loopback copy). CatBoost units train on one host's shard while the others wait, so they do not "
        "speed up with H and are held fixed below (with a fixed total of rows the shard shrinks as H grows, "
        "and so would their time, at the price of training on fewer rows). With the single host's unit "
        f"seconds, CatBoost {fixed:.1f} s and the others {split:.1f} s in all: {estimate}; add the "
        "per-round allreduces and the Dask start-up. Measured here, each library's sharded unit seconds "
        f"against the single host's: {measured} (each host on one core of this machine, joined over "
        "loopback: the distributed path's cost at this size, not its gain).",
    ]


def reading_text(runs: dict[str, Run], same: bool, rows: int) -> list[str]:
    single, replicated, sharded = runs[SINGLE], runs[REPLICATED], runs[SHARDED]

    def change(run: Run) -> str:
        return f"{run.wall - single.wall:+.1f} s ({(run.wall / single.wall - 1) * 100:+.0f}%)"

    return [
        f"**Reading.** Each two-host job's hosts had one of this machine's {len(os.sched_getaffinity(0))} "
        "cores each; the single host could use them all, and below 20,000 rows it trains each unit on one "
        f"thread. FullyReplicated took {change(replicated)} and ShardedByS3Key {change(sharded)} against the "
        "single host: one machine is no scale-out, so these are what the Dask paths cost here. The "
        "replicated job trained two units at a time, one per host; its units took "
        f"{replicated.unit_seconds / single.unit_seconds:.2f}x the single host's seconds in all. The sharded "
        "job trains one unit at a time across both hosts; its units took "
        f"{sharded.unit_seconds / single.unit_seconds:.2f}x the single host's seconds (each XGBoost and "
        "LightGBM unit sets up its distributed training through Dask and agrees on every round's histograms "
        "between the hosts; CatBoost trains on one shard, half the rows). The start-up runs from the "
        "processes' start to the leader's 'All 2 hosts joined' line (Python and library imports, which the "
        "single host pays too, the scheduler, the workers' registration). Wall time includes process start, "
        "reading the CSV, every unit, the blend and writing the model.",
        "",
        f"Models: the replicated one {'equals' if same else '**differs from**'} the single host's (same "
        f"predictions: {'yes' if same else 'no'}; every CV RMSE "
        f"{'equal' if replicated.rmse == single.rmse else 'not equal'}). The sharded one differs by design "
        f"(histograms built across the hosts, CatBoost on one shard of {rows - rows // 2:,} rows, LightGBM's "
        "best round picked among 16 evenly spaced round counts); its CV RMSE is "
        f"{(sharded.rmse['ensemble'] / single.rmse['ensemble'] - 1) * 100:+.2f}% against the single host's, "
        "scored on the same folds of the same rows.",
    ]


def section(args: argparse.Namespace, runs: dict[str, Run], same: bool, loads: tuple[float, float],
            seconds: float) -> str:
    single, startup = runs[SINGLE], runs[REPLICATED].joined
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout
    half = args.rows // 2
    lines = [
        "## Multi-host (Dask) paths: single host vs two hosts FullyReplicated vs two hosts ShardedByS3Key "
        "(as processes on one machine)",
        "",
        f"- Command: `.venv/bin/python bench/dask_overhead.py --rows {args.rows}` (from the repository root, "
        "as root: the two-host runs use a network namespace)",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; whole script {seconds:.0f} s; load "
        f"average (1 min) {loads[0]:.2f} at start, {loads[1]:.2f} at end, and at each job's start in the "
        "table (single runs on a shared machine: other jobs' load shows in every time); "
        f"nproc {os.cpu_count()}",
        f"- Data: {args.rows:,} synthetic rows x 10 features (sharded: algo-1 rows 0-{half - 1}, algo-2 rows "
        f"{half}-{args.rows - 1}, one CSV file each); hyperparameters {HYPERPARAMETERS}; "
        f"{len(single.members)} libraries x {HYPERPARAMETERS['k_fold']} folds = {len(single.units)} units; "
        f"{library_versions()}; commit {commit.strip()}",
        "",
        *main_table(runs, same),
        "",
        "Each library's CV RMSE (its last `validation-rmse-<library>:` line) and the sum of its unit "
        "seconds:",
        "",
        *library_table(runs),
        "",
        *reading_text(runs, same, args.rows),
        "",
        *scaling_text(single, runs[SHARDED], startup if startup is not None else math.nan),
    ]
    return "\n".join(lines)


def library_versions() -> str:
    names = ("catboost", "xgboost", "lightgbm", "dask")
    return ", ".join(f"{name} {import_module(name).__version__}" for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    data = make_data(args.rows)
    half = args.rows // 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = {SINGLE: run_single(work, data)}
        with network_namespace() as prefix:
            runs[REPLICATED] = run_two_hosts(work / "replicated", {host: data for host in HOSTS},
                                             "FullyReplicated", prefix)
            runs[SHARDED] = run_two_hosts(work / "sharded", {"algo-1": data[:half], "algo-2": data[half:]},
                                          "ShardedByS3Key", prefix)
        same = predictions_equal(runs[SINGLE].base, runs[REPLICATED].base, args.rows)
    text = section(args, runs, same, (load_before, os.getloadavg()[0]), time.perf_counter() - began)
    print(text)
    if not args.no_write:
        results_file.replace_section(RESULTS, f"{START_MARKER}\n{text}\n{END_MARKER}", SECTION)


if __name__ == "__main__":
    main()
