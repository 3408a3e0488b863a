"""A training job on cores another process also wants: slower, not stopped.

Trains the same job with ``container/train`` in one run, on a quiet machine and beside one busy process
per core (plain Python loops, which never yield), each under the OpenMP wait settings of ``POLICIES``:
the product's default (a short spin, ``GOMP_SPINCOUNT=1000``, set by ``container/train``), the library's
default (``ENSEMBLE_BYOC_OMP_SPIN=library``: threads spin a long while between parallel regions, then
sleep), ``PASSIVE`` (they sleep at once), and a longer spin. The data: scikit-learn's friedman1, seeded,
``--rows`` rows x 10 features, product defaults (5 folds, CatBoost, LightGBM, XGBoost). The machine's load
is recorded before each phase; the busy processes are the only other work allowed. Each phase's job logs
the OpenMP wait it ran with; the section lists them.

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- shared_cores:start -->`` to
``<!-- shared_cores:end -->``), or of the file ``--results`` names.
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
    ("product default (spin 1,000, then sleep)", {}),
    ("library default (spin 300,000, then sleep)", {"ENSEMBLE_BYOC_OMP_SPIN": "library"}),
    ("PASSIVE (sleep at once)", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("spin 10,000, then sleep", {"ENSEMBLE_BYOC_OMP_SPIN": "10000"}),
)
"""OpenMP wait settings compared: the product's (``ENSEMBLE_BYOC_OMP_SPIN``, which sets libgomp's
``GOMP_SPINCOUNT``, the busy-wait before a thread sleeps) and libgomp's own ``OMP_WAIT_POLICY``."""
OPENMP_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "ENSEMBLE_BYOC_OMP_SPIN")
"""Not inherited from the shell running the benchmark: each phase sets only its own."""


def train(work: Path, rows: int, settings: dict[str, str]) -> tuple[float, str]:
    """One job on a fresh copy of the tree: its wall time in seconds, and the OpenMP wait it logged."""
    base = Path(tempfile.mkdtemp(dir=work))
    make_tree(base, rows)
    inherited = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    env = dict(inherited, SAGEMAKER_BASE_DIR=str(base), **settings)
    started = time.perf_counter()
    job = subprocess.run([sys.executable, str(REPO / "container" / "train"), "train"], env=env, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    return seconds, next((line.partition("OpenMP wait: ")[2] for line in job.stderr.splitlines()
                          if "OpenMP wait: " in line), "not logged")


def load_average() -> float:
    return os.getloadavg()[0]


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {"phases": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train(work, 2000, {})  # warm the file cache and imports
        for busy in (0, os.cpu_count() or 1):
            for label, settings in POLICIES:
                time.sleep(args.settle)  # let the machine settle between phases
                load = load_average()
                loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
                try:
                    jobs = [train(work, args.rows, settings) for _ in range(args.repeat)]
                finally:
                    for loop in loops:
                        loop.kill()
                        loop.wait()
                seconds = [job[0] for job in jobs]
                results["phases"].append({"busy": busy, "policy": label, "seconds": seconds,  # type: ignore[union-attr]
                                          "load_before": load, "logged": sorted({job[1] for job in jobs})})
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
    lines += ["", "The OpenMP wait each phase's jobs logged:"]
    lines += [f"- {label}: {'; '.join(logged)}" for label, logged in
              {p["policy"]: p["logged"] for p in phases}.items()]  # type: ignore[index,union-attr]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of rest before each phase")
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    text = section(args, run(args), started)
    print(text)
    start, end = results_file.markers(SECTION)
    results_file.replace_section(args.results, f"{start}\n{text}{end}\n", SECTION)


if __name__ == "__main__":
    main()
