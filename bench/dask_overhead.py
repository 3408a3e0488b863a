"""What the multi-host (Dask) path costs against the single-host path, on the same data and settings.

Runs the real ``container/train`` three ways on one synthetic regression set (headerless CSV, label first):

* single host: one process, no cluster (the path every single-instance job takes);
* one Dask "host" pair on this machine: ``algo-1`` (scheduler + worker) and ``algo-2`` (worker) as two
  processes on 127.0.0.2 / 127.0.0.3, each with its own ``SAGEMAKER_BASE_DIR`` (as the tests do).

and reports wall time, the sum of unit seconds, the cluster's start-up (process start to "All 2 hosts
joined") and whether the two models predict the same. On one machine the two hosts share its cores, so
the wall time shows the Dask path's overhead rather than a scale-out speed-up; units train on one thread
each below 20,000 rows (``host.training_threads``), so two hosts on two cores do run two units at once.

Rewrites only its own section of bench/RESULTS.md (``<!-- dask_overhead:start/end -->``).

Run from the repository root: .venv/bin/python bench/dask_overhead.py [--rows N] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "dask_overhead"
TRAIN = REPO / "container" / "train"
HYPERPARAMETERS = {"k_fold": "5", "num_round": "300", "eta": "0.1", "max_depth": "6", "early_stopping_rounds": "30"}
ADDRESSES = {"algo-1": "127.0.0.2", "algo-2": "127.0.0.3"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_tree(base: Path, rows: int, current: str, hosts: list[str]) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 10))
    y = 3 * X[:, 0] - 2 * X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + rng.normal(scale=0.3, size=rows)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    np.savetxt(base / "input" / "data" / "train" / "data.csv", np.column_stack([y, X]), delimiter=",", fmt="%.6f")
    config = base / "input" / "config"
    (config / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv"}}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": current, "hosts": hosts}))
    return base


def unit_seconds(log: str) -> float:
    return sum(float(m) for m in re.findall(r"unit \d+ of \d+: .*? seconds=([0-9.]+)", log))


def run_single(work: Path, rows: int) -> dict[str, object]:
    base = make_tree(work / "single", rows, "algo-1", ["algo-1"])
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(TRAIN), "train"], env=env, capture_output=True, text=True,
                          timeout=3600, check=True)
    return {"wall": time.perf_counter() - started, "units": unit_seconds(done.stderr), "base": base}


def run_two_hosts(work: Path, rows: int) -> dict[str, object]:
    hosts = ["algo-1", "algo-2"]
    ports = {"ENSEMBLE_BYOC_SCHEDULER_PORT": str(free_port()), "ENSEMBLE_BYOC_WORKER_PORT": str(free_port()),
             "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES": json.dumps(ADDRESSES)}
    processes = {}
    started = time.perf_counter()
    for host in hosts:
        base = make_tree(work / host, rows, host, hosts)
        log = (work / f"{host}.log").open("w")
        processes[host] = (subprocess.Popen([sys.executable, str(TRAIN), "train"], stdout=log,
                                            stderr=subprocess.STDOUT, env={**os.environ, "SAGEMAKER_BASE_DIR": str(base),
                                                                           **ports}), base, log)
    joined = None
    leader, leader_base, _ = processes["algo-1"]
    while leader.poll() is None:
        if joined is None and "All 2 hosts joined" in (work / "algo-1.log").read_text():
            joined = time.perf_counter() - started
        time.sleep(0.05)
    wall = time.perf_counter() - started
    codes = {host: process.wait(timeout=120) for host, (process, _, _) in processes.items()}
    if any(codes.values()):
        raise SystemExit(f"a host failed: {codes}; logs in {work}")
    log = (work / "algo-1.log").read_text()
    return {"wall": wall, "units": unit_seconds(log), "joined": joined, "base": leader_base,
            "on_algo_2": len(re.findall(r" on algo-2$", log, flags=re.M))}


def predictions_equal(a: Path, b: Path, rows: int) -> bool:
    from ensemble_byoc.artifacts import load_bundle

    X = np.random.default_rng(1).normal(size=(min(rows, 1000), 10))
    first, _ = load_bundle(a / "model", n_threads=1)
    second, _ = load_bundle(b / "model", n_threads=1)
    return bool(np.array_equal(first.predict(X), second.predict(X)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        single = run_single(work, args.rows)
        dask = run_two_hosts(work, args.rows)
        same = predictions_equal(Path(single["base"]), Path(dask["base"]), args.rows)  # type: ignore[arg-type]
    load_after = os.getloadavg()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    lines = [
        "## Dask path overhead: one host vs two hosts (as processes on one machine)",
        "",
        f"- Command: `.venv/bin/python bench/dask_overhead.py --rows {args.rows}` (from the repository root)",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; load average (1 min) {load_before:.2f} "
        f"at start, {load_after:.2f} at end (single runs on a shared machine); nproc {os.cpu_count()}",
        f"- Data: {args.rows:,} synthetic rows x 10 features; hyperparameters {HYPERPARAMETERS}; "
        "catboost, lightgbm, xgboost: 15 units; commit " + commit.strip(),
        "",
        "| path | wall time (s) | sum of unit seconds | cluster start-up (s) | units on algo-2 |",
        "|---|---:|---:|---:|---:|",
        f"| single host (no Dask) | {single['wall']:.1f} | {single['units']:.1f} | — | — |",
        f"| two hosts on Dask | {dask['wall']:.1f} | {dask['units']:.1f} | "
        f"{dask['joined'] or float('nan'):.1f} | {dask['on_algo_2']} |",
        "",
        f"**Reading.** The two-host job took {dask['wall'] - single['wall']:+.1f} s "
        f"({(dask['wall'] / single['wall'] - 1) * 100:+.0f}%) against the single-host job; "
        f"{dask['joined'] or float('nan'):.1f} s went by from the processes' start to every host having joined "
        "(Python and library imports, which the single-host path pays too, are part of it; this script does not "
        "separate them). Its units took "
        f"{dask['units'] / single['units']:.2f}x the seconds in all, because two units at a time shared the same "
        "cores. On real instances each host has its own cores, so H hosts train about H units at a time and "
        "the fixed cost is the start-up plus sending the data once to each worker.",
        "",
        f"Same predictions from both models: **{'yes' if same else 'NO'}**. Wall time includes process start, "
        "reading the CSV, every unit, the blend and writing the model; the cluster start-up is from the "
        "processes' start to the leader's 'All 2 hosts joined' line (importing Dask and distributed, the "
        "scheduler, the workers' registration). Both hosts share this machine's cores, so this measures the "
        "Dask path's cost, not a scale-out speed-up.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        start, end = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
        current = RESULTS.read_text()
        block = f"{start}\n{text}\n{end}"
        if start in current:
            current = current[: current.index(start)] + block + current[current.index(end) + len(end):]
        else:
            current = current.rstrip("\n") + "\n\n" + block + "\n"
        RESULTS.write_text(current)


if __name__ == "__main__":
    main()
