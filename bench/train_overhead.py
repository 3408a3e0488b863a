"""Training overhead (issue #14): the k-fold job next to its boosters' own train calls, phase by phase.

For each size (``--rows``, default 200,000) of scikit-learn's friedman1 (20 features, seeded), in one run:

- the job: ``container/train`` with the product defaults (or ``--hyperparameters``) on a CSV channel; its
  wall time split into phases from its own log lines (start-up and reading the channel, planning, the
  units, and what follows them: blending, metrics, reports, saving), each phase's peak resident memory
  (``VmRSS`` sampled every 0.1 s) and the job's peak (``ru_maxrss``);
- the raw floor: for each library, one native ``train`` call on 4/5 of the rows, with the job's own
  parameters for that library, for the mean number of rounds the job's fold models reached, without an
  evaluation set or early stopping, times k (the folds); and the same floor for the rounds the job really
  boosted (early stopping goes ``early_stopping_rounds`` past the best round before it stops), which
  separates the cost of patience from the job's own overhead;
- the ratios the issue's targets name: job / floor (<= 1.15), each library's unit seconds / its floor,
  and peak RSS / (3 x the float64 feature matrix + 400 MB).

It rewrites only its own section of ``bench/RESULTS.md`` (``<!-- train_overhead:start -->`` to
``<!-- train_overhead:end -->``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)
from serve_latency import cpu_pressure, cpu_waiting, git_state, versions

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "train_overhead"
N_FEATURES, K_FOLD = 20, 5
_STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
_UNIT = re.compile(_STAMP + r".*unit \d+ of \d+: (\w+) fold (\d+): best_iteration=(\d+) .*seconds=([\d.]+)",
                   re.MULTILINE)
_MARK = {"read": re.compile(_STAMP + r".*Training data: ", re.MULTILINE),
         "plan": re.compile(_STAMP + r".*Plan: ", re.MULTILINE)}


def friedman(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(n_samples=n_rows, n_features=N_FEATURES, noise=1.0, random_state=0)
    return X, y


def write_tree(base: Path, X: np.ndarray, y: np.ndarray, hyperparameters: dict[str, str]) -> None:
    train = base / "input" / "data" / "train"
    train.mkdir(parents=True)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    columns = {"label": y, **{f"f{i}": X[:, i] for i in range(X.shape[1])}}
    pa_csv.write_csv(pa.table(columns), train / "train.csv", pa_csv.WriteOptions(include_header=False))


class RssSampler(threading.Thread):
    """``VmRSS`` of one process every 0.1 s, with the time of each sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples = pid, []  # (time.time(), MiB)
        self.done = threading.Event()

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self.done.is_set():
            try:
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            self.samples.append((time.time(), int(line.split()[1]) / 1024))
            time.sleep(0.1)

    def peak(self, start: float, end: float) -> float:
        return max((mib for t, mib in self.samples if start <= t <= end), default=float("nan"))


def run_job(base: Path) -> dict[str, Any]:
    """``container/train`` on ``base``: wall time, peak RSS, the log's phases and each unit."""
    log_path = base.parent / "train.log"
    with log_path.open("wb") as log:
        started = time.time()
        process = subprocess.Popen([sys.executable, str(REPO / "container" / "train"), "train"],
                                   env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)},
                                   stdout=log, stderr=subprocess.STDOUT)
        sampler = RssSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        ended = time.time()
        sampler.done.set()
    text = log_path.read_text()
    if status != 0 or (base / "output" / "failure").exists():
        raise SystemExit(f"the job failed:\n{text[-3000:]}")
    return {"wall_s": ended - started, "peak_rss_mib": usage.ru_maxrss / 1024,
            **phases(text, started, ended, sampler)}


def _time(stamp: str) -> float:
    """A log line's time (the logs' ``asctime``, local time) as seconds since the epoch."""
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def phases(text: str, started: float, ended: float, sampler: RssSampler) -> dict[str, Any]:
    units = [(_time(m[0]), m[1], int(m[2]), int(m[3]), float(m[4])) for m in _UNIT.findall(text)]
    read_at = _time(_MARK["read"].search(text).group(1))  # type: ignore[union-attr]
    plan_at = _time(_MARK["plan"].search(text).group(1))  # type: ignore[union-attr]
    units_end = max(end for end, *_ in units)
    unit_seconds = sum(seconds for *_, seconds in units)
    bounds = {"start-up and reading the channel": (started, read_at),
              "checks and planning": (read_at, plan_at), "units": (plan_at, units_end),
              "after the units (blend, metrics, reports, save)": (units_end, ended)}
    libraries: dict[str, dict[str, Any]] = {}
    for _, library, _, rounds, seconds in units:
        entry = libraries.setdefault(library, {"rounds": [], "seconds": 0.0})
        entry["rounds"].append(rounds)
        entry["seconds"] += seconds
    return {"phases": {name: {"seconds": b - a, "peak_rss_mib": sampler.peak(a, b)}
                       for name, (a, b) in bounds.items()},
            "unit_seconds": unit_seconds, "between_units_s": (units_end - plan_at) - unit_seconds,
            "libraries": libraries}


def floor_seconds(library: str, X: np.ndarray, y: np.ndarray, rounds: int, n_threads: int,
                  hyperparameters: dict[str, str]) -> float:
    """One native train call with the job's own parameters for ``library``, no evaluation set."""
    from ensemble_byoc.models import load_spec
    from ensemble_byoc.training.config import TrainConfig

    config = TrainConfig.from_hyperparameters(hyperparameters)
    model = load_spec(library).create(config.booster_params(), config.overrides_for(library), n_threads)
    params = model.library_params()
    started = time.perf_counter()
    if library == "lightgbm":
        import lightgbm as lgb

        lgb.train({**params, "metric": "None", "verbosity": -1}, lgb.Dataset(X, y), num_boost_round=rounds)
    elif library == "xgboost":
        import xgboost as xgb

        xgb.train(params, xgb.DMatrix(X, label=y, nthread=n_threads), num_boost_round=rounds)
    else:
        import catboost

        catboost.CatBoost({**params, "iterations": rounds}).fit(catboost.Pool(X, label=y))
    return time.perf_counter() - started


def rounds_and_patience(hyperparameters: dict[str, str]) -> tuple[int, int]:
    from ensemble_byoc.training.config import TrainConfig

    config = TrainConfig.from_hyperparameters(hyperparameters)
    return config.num_round, config.early_stopping_rounds


def settle(args: argparse.Namespace, report: dict[str, Any], phase: str) -> None:
    deadline = time.monotonic() + args.quiet_timeout
    time.sleep(2)
    while cpu_waiting() > args.quiet_pressure and time.monotonic() < deadline:
        time.sleep(2)
    report.setdefault("pressure", []).append((phase, cpu_waiting(), round(os.getloadavg()[0], 2)))


def one_size(n_rows: int, work: Path, args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    from ensemble_byoc.contract.cpus import available_cpus, training_threads

    X, y = friedman(n_rows)
    base = work / f"opt_ml_{n_rows}"
    write_tree(base, X, y, args.hyperparameters)
    settle(args, report, f"job, {n_rows:,} rows")
    job = run_job(base)
    threads = training_threads(n_rows * (K_FOLD - 1) // K_FOLD, available_cpus())
    rows = np.random.default_rng(0).permutation(n_rows)[: n_rows * (K_FOLD - 1) // K_FOLD]
    X_fold, y_fold = np.ascontiguousarray(X[rows]), y[rows]
    cap, patience = rounds_and_patience(args.hyperparameters)
    for library, entry in job["libraries"].items():
        entry["mean_rounds"] = round(statistics.mean(entry["rounds"]))
        # Early stopping boosts `patience` rounds past the best one (up to the cap) before it stops.
        entry["mean_trained"] = round(statistics.mean(min(cap, r + patience) for r in entry["rounds"]))
        floor_seconds(library, X_fold[:1000], y_fold[:1000], 2, threads, args.hyperparameters)  # imports
        for key, rounds in (("floor_s", entry["mean_rounds"]), ("floor_trained_s", entry["mean_trained"])):
            settle(args, report, f"floor, {library}, {rounds} rounds, {n_rows:,} rows")
            entry[key] = floor_seconds(library, X_fold, y_fold, rounds, threads,
                                       args.hyperparameters) * len(entry["rounds"])
    return {"rows": n_rows, "threads": threads, "matrix_mib": X.nbytes / 2**20, **job}


def section(r: dict[str, Any]) -> str:
    start, end = results_file.markers(SECTION)
    lines = [start, "## Training overhead: the k-fold job next to its boosters' own train calls", "",
             f"- Command: `{r['command']}` (from the repository root)", *(f"- {f}" for f in r["facts"]),
             "- CPU pressure (PSI some avg10, %) / load average when each timed phase started: "
             + "; ".join(f"{p} {psi:g}% / {load}" for p, psi, load in r["pressure"]), "",
             f"Data: friedman1 (scikit-learn, noise 1.0, seed 0), {N_FEATURES} features, a CSV channel; the "
             f"job: `container/train`, hyperparameters `{json.dumps(r['hyperparameters'])}` ({K_FOLD} folds, "
             "the three libraries). Floor: per library, one native train call on 4/5 of the rows with the "
             "job's parameters for that library, for the mean rounds its fold models reached, no evaluation "
             f"set, x {K_FOLD}.", ""]
    for size in r["sizes"]:
        floor = sum(e["floor_s"] for e in size["libraries"].values())
        budget = 3 * size["matrix_mib"] + 400
        lines += [f"### {size['rows']:,} rows ({size['threads']} threads per unit; float64 matrix "
                  f"{size['matrix_mib']:.0f} MiB)", "",
                  "| library | mean rounds kept / trained | job: unit seconds | floor: rounds kept "
                  "| unit / floor | floor: rounds trained | unit / that floor |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for library, e in size["libraries"].items():
            lines.append(f"| {library} | {e['mean_rounds']} / {e['mean_trained']} | {e['seconds']:.1f} "
                         f"| {e['floor_s']:.1f} | {e['seconds'] / e['floor_s']:.2f} "
                         f"| {e['floor_trained_s']:.1f} | {e['seconds'] / e['floor_trained_s']:.2f} |")
        ratio = size["wall_s"] / floor
        trained = sum(e["floor_trained_s"] for e in size["libraries"].values())
        lines += [f"| **whole job** | | **{size['wall_s']:.1f}** | **{floor:.1f}** | **{ratio:.2f}** "
                  f"| {trained:.1f} | {size['wall_s'] / trained:.2f} |", "",
                  "| phase of the job | seconds | peak RSS, MiB |", "|---|---:|---:|"]
        lines += [f"| {name} | {p['seconds']:.1f} | {_mib(p['peak_rss_mib'])} |"
                  for name, p in size["phases"].items()]
        lines += [f"| (inside the units phase, between units: checkpoints, scores) | "
                  f"{size['between_units_s']:.1f} | |", "",
                  f"Targets: job / floor {ratio:.2f} against <= 1.15 "
                  f"({'met' if ratio <= 1.15 else '**missed**'}); peak RSS {size['peak_rss_mib']:.0f} MiB "
                  f"against 3 x {size['matrix_mib']:.0f} + 400 = {budget:.0f} MiB "
                  f"({'met' if size['peak_rss_mib'] <= budget else '**missed**'}).", ""]
    return "\n".join([*lines, end, ""])


def _mib(value: float) -> str:
    return "-" if value != value else f"{value:.0f}"  # NaN: no sample in a phase shorter than 0.1 s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000])
    parser.add_argument("--hyperparameters", type=json.loads, default={}, help="JSON object of strings")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file whose section is rewritten")
    parser.add_argument("--quiet-pressure", type=float, default=20.0,
                        help="wait before each timed phase until CPU pressure (PSI some avg10, %%) is below")
    parser.add_argument("--quiet-timeout", type=float, default=300.0, help="longest wait per phase, s")
    args = parser.parse_args(argv)
    started_at, load_start = dt.datetime.now(dt.timezone.utc), os.getloadavg()[0]
    report: dict[str, Any] = {"hyperparameters": args.hyperparameters}
    work = Path(tempfile.mkdtemp(prefix="train_overhead_"))
    try:
        report["sizes"] = [one_size(n, work, args, report) for n in args.rows]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["command"] = " ".join([os.path.relpath(sys.executable, REPO), "bench/train_overhead.py",
                                  *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    report["facts"] = [
        f"Date: {started_at:%Y-%m-%d %H:%M} UTC; load average (1 min) {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end; CPU pressure at end {cpu_pressure()}",
        f"nproc {os.cpu_count()}; Python {sys.version.split()[0]}; libraries: {versions()}",
        f"Code: commit {git_state()}",
    ]
    text = section(report)
    results_file.replace_section(args.results, text, SECTION)
    print(text, end="")


if __name__ == "__main__":
    main()
