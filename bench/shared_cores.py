"""A training job on cores another process also wants: slower, not stopped.

Trains the same job with ``container/train`` in one run, on a quiet machine and beside one busy process
per core (plain Python loops, which never yield), each under the OpenMP wait settings of ``POLICIES``:
the library's default (threads spin a while between parallel regions, then sleep), ``PASSIVE`` (they
sleep at once), and shorter spins (``GOMP_SPINCOUNT``). The data: scikit-learn's friedman1, seeded,
``--rows`` rows x 10 features, product defaults (5 folds, CatBoost, LightGBM, XGBoost). The machine's load
is recorded before each phase; the busy processes are the only other work allowed.

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- shared_cores:start -->`` to
``<!-- shared_cores:end -->``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_file  # noqa: E402
from serve_latency import cpu_model, cpu_pressure, versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECTION = "shared_cores"
BUSY_LOOP = "while True:\n    pass\n"


def make_tree(base: Path, rows: int) -> None:
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=rows, n_features=10, noise=1.0, random_state=0)
    (base / "input" / "data" / "train").mkdir(parents=True)
    (base / "input" / "config").mkdir(parents=True)
    np.savetxt(base / "input" / "data" / "train" / "data.csv", np.column_stack([y, X]), delimiter=",",
               fmt="%.6f")
    (base / "input" / "config" / "hyperparameters.json").write_text("{}")
    (base / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}}))


POLICIES = (
    ("library default (spin, then sleep)", {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""}),
    ("PASSIVE (sleep at once)", {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": ""}),
    ("spin 10,000 then sleep", {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "10000"}),
    ("spin 1,000 then sleep", {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "1000"}),
)
"""OpenMP wait settings compared (libgomp's: OMP_WAIT_POLICY, and GOMP_SPINCOUNT, the busy-wait before a
thread sleeps; an empty value is the library's default)."""


def train(work: Path, rows: int, settings: dict[str, str]) -> float:
    """One job on a fresh copy of the tree; its wall time in seconds."""
    base = Path(tempfile.mkdtemp(dir=work))
    make_tree(base, rows)
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(base), **settings)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "container" / "train"), "train"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def load_average() -> float:
    return os.getloadavg()[0]


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {"phases": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train(work, 2000, {})  # warm the file cache and imports
        for busy in (0, os.cpu_count() or 1):
            for label, settings in POLICIES:
                time.sleep(20)  # let the machine settle between phases
                load = load_average()
                loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
                try:
                    seconds = [train(work, args.rows, settings) for _ in range(args.repeat)]
                finally:
                    for loop in loops:
                        loop.kill()
                        loop.wait()
                results["phases"].append({"busy": busy, "policy": label, "seconds": seconds,
                                          "load_before": load})  # type: ignore[union-attr]
                print(f"busy processes {busy}, {label}: {seconds} s (load before {load:.2f})", flush=True)
    return results


def section(args: argparse.Namespace, results: dict[str, object], started: str) -> str:
    phases = results["phases"]
    quiet = {p["policy"]: median(p["seconds"]) for p in phases if p["busy"] == 0}  # type: ignore[index,union-attr]
    lines = [
        "## Shared cores: a training job beside busy processes",
        "",
        f"- Command: `{shlex.join(['.venv/bin/python', 'bench/shared_cores.py', *sys.argv[1:]])}` "
        "(from the repository root)",
        f"- Date: {started} UTC; nproc {os.cpu_count()}; CPU: {cpu_model()}; "
        f"Python {platform.python_version()}",
        f"- Libraries: {versions()}; CPU pressure at end {cpu_pressure()}",
        f"- Job: friedman1, {args.rows:,} rows x 10 features, product defaults (5 folds, 3 libraries); "
        f"{args.repeat} runs per phase (every run shown; the ratio is of medians)",
        "",
        "| busy processes | OpenMP wait setting | load before | seconds, each run | median "
        "| x its quiet median |",
        "|---:|---|---:|---|---:|---:|",
    ]
    for p in phases:  # type: ignore[union-attr]
        runs = ", ".join(f"{s:.1f}" for s in p["seconds"])
        middle = median(p["seconds"])
        lines.append(f"| {p['busy']} | {p['policy']} | {p['load_before']:.2f} | {runs} | {middle:.1f} | "
                     f"{middle / quiet[p['policy']]:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    text = section(args, run(args), started)
    print(text)
    start, end = results_file.markers(SECTION)
    results_file.replace_section(args.results, f"{start}\n{text}{end}\n", SECTION)


if __name__ == "__main__":
    main()
