"""Accuracy and cost of the ensemble against each library alone and the naive CatBoost + XGBoost blend.

One real training run (``run_training``, product defaults: k_fold 5, all three libraries, learned blend,
seed 0) per data set; every row of the table is computed from that run's out-of-fold predictions, so
all rows share the same folds. Data sets ship with scikit-learn (no download):

* diabetes: ``load_diabetes(scaled=False)``, 442 rows, 10 features;
* friedman1: ``make_friedman1(n_samples=100_000, noise=1.0, random_state=0)`` (10,000 rows with --quick).

Prints a markdown table per data set and rewrites only this script's section of bench/RESULTS.md
(between ``<!-- train_accuracy:start -->`` and ``<!-- train_accuracy:end -->``).

Run from the repository root: .venv/bin/python bench/train_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import results_file  # noqa: E402 (bench/ is the script's own folder on sys.path)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "train_accuracy"
START_MARKER = f"<!-- {SECTION}:start -->"
END_MARKER = f"<!-- {SECTION}:end -->"
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Each section below is written by one script under `bench/`. A script rewrites only its own section,\n"
    "delimited by `<!-- <name>:start -->` / `<!-- <name>:end -->`, and leaves the rest of this file intact.\n"
)

FULL_SYNTHETIC_ROWS = 100_000
QUICK_SYNTHETIC_ROWS = 10_000
K_FOLD = 5
SEED = 0
LIBRARIES = ("catboost", "lightgbm", "xgboost")
NAIVE_LIBRARIES = ("catboost", "xgboost")
"""The recipe this product replaces: CatBoost and XGBoost, plain mean of their predictions."""


@dataclass(frozen=True)
class DataSpec:
    name: str
    description: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Row:
    label: str
    rmse: float
    fit_seconds: float
    wall_seconds: float | None
    fold_rmse: tuple[float, ...]
    mean_best_iteration: float | None


@dataclass(frozen=True)
class DataResult:
    spec: DataSpec
    n_rows: int
    n_features: int
    rows: list[Row]
    naive: Row
    ensemble: Row
    unit_seconds: dict[str, tuple[float, ...]]

    @property
    def best(self) -> Row:
        return min(self.rows, key=lambda r: r.rmse)


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False)
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target, dtype=np.float64)


def _friedman(n_rows: int) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import make_friedman1

        X, y = make_friedman1(n_samples=n_rows, noise=1.0, random_state=0)
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)

    return load


def data_specs(synthetic_rows: int) -> list[DataSpec]:
    return [
        DataSpec("diabetes", "sklearn `load_diabetes(scaled=False)`", _diabetes),
        DataSpec(
            "friedman1",
            f"sklearn `make_friedman1(n_samples={synthetic_rows:_}, noise=1.0, random_state=0)`",
            _friedman(synthetic_rows),
        ),
    ]


def _rmse(y: np.ndarray, prediction: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - prediction) ** 2)))


def write_base_dir(base: Path, X: np.ndarray, y: np.ndarray, hyperparameters: dict[str, str]) -> dict:
    """A SAGEMAKER_BASE_DIR-style tree: headerless CSV, label first, in input/data/train/."""
    config_dir = base / "input" / "config"
    train_dir = base / "input" / "data" / "train"
    config_dir.mkdir(parents=True)
    train_dir.mkdir(parents=True)
    input_data_config = {"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}}
    (config_dir / "inputdataconfig.json").write_text(json.dumps(input_data_config, indent=1) + "\n")
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=1) + "\n")
    # %.17g round-trips every float64 exactly.
    np.savetxt(train_dir / "train.csv", np.column_stack([y, X]), delimiter=",", fmt="%.17g")
    return input_data_config


def benchmark_one(spec: DataSpec, n_threads: int) -> DataResult:
    from ensemble_byoc.contract.paths import SageMakerPaths
    from ensemble_byoc.training.config import TrainConfig
    from ensemble_byoc.training.job import run_training

    X, y = spec.load()
    hyperparameters = {"k_fold": str(K_FOLD), "seed": str(SEED)}
    config = TrainConfig.from_hyperparameters(hyperparameters)
    if config.models != LIBRARIES or config.k_fold != K_FOLD or config.seed != SEED:
        raise SystemExit(f"Unexpected product defaults: models={config.models}, k_fold={config.k_fold}.")

    with tempfile.TemporaryDirectory(prefix=f"bench-{spec.name}-") as tmp:
        base = Path(tmp)
        input_data_config = write_base_dir(base, X, y, hyperparameters)
        paths = SageMakerPaths.from_env({"SAGEMAKER_BASE_DIR": str(base)})
        started = time.perf_counter()
        result = run_training(paths, config, input_data_config=input_data_config, n_threads=n_threads,
                              metric_stream=io.StringIO())
        wall = time.perf_counter() - started
        oof_csv = pd.read_csv(paths.output_data_dir / "oof_predictions.csv")

    # Out-of-fold predictions and per-fold timings, rebuilt from the run's units.
    oof = {lib: np.full(len(y), np.nan) for lib in LIBRARIES}
    seconds = dict.fromkeys(LIBRARIES, 0.0)
    unit_seconds: dict[str, list[float]] = {lib: [] for lib in LIBRARIES}
    iterations: dict[str, list[int]] = {lib: [] for lib in LIBRARIES}
    fold_rows: dict[int, np.ndarray] = {}
    for unit in result.units:
        lib = unit.unit.library
        oof[lib][unit.valid_rows] = unit.oof_prediction
        seconds[lib] += unit.seconds
        unit_seconds[lib].append(unit.seconds)
        iterations[lib].append(unit.best_iteration)
        fold_rows[unit.unit.fold] = unit.valid_rows
    folds = [fold_rows[i] for i in sorted(fold_rows)]

    # The rebuilt predictions must be the ones the product scored and wrote (pandas >= 3 parses floats
    # exactly; the labels are taken as the product read them all the same).
    if np.isnan(np.concatenate(list(oof.values()))).any():
        raise SystemExit(f"{spec.name}: some rows have no out-of-fold prediction.")
    product_y = oof_csv.iloc[:, 1].to_numpy()
    if not np.allclose(product_y, y, rtol=1e-12, atol=0):
        raise SystemExit(f"{spec.name}: oof_predictions.csv rows do not match the input rows.")
    y = product_y
    for lib in LIBRARIES:
        if not np.allclose(oof_csv[lib].to_numpy(), oof[lib], rtol=1e-14, atol=0):
            raise SystemExit(f"{spec.name}: {lib} predictions differ from oof_predictions.csv.")
        if not np.isclose(_rmse(y, oof[lib]), result.library_scores[lib], rtol=1e-12, atol=0):
            raise SystemExit(f"{spec.name}: {lib} RMSE does not reproduce result.library_scores.")
    weights = result.manifest["cv"]["blend"]["weights"]
    ensemble_oof = np.sum([weights[lib] * oof[lib] for lib in LIBRARIES], axis=0)
    if not np.isclose(_rmse(y, ensemble_oof), result.cv_score, rtol=1e-9, atol=0):
        raise SystemExit(f"{spec.name}: the learned blend does not reproduce result.cv_score.")
    mean_oof = np.mean([oof[lib] for lib in LIBRARIES], axis=0)
    naive_oof = np.mean([oof[lib] for lib in NAIVE_LIBRARIES], axis=0)

    def per_fold(prediction: np.ndarray) -> tuple[float, ...]:
        return tuple(_rmse(y[rows], prediction[rows]) for rows in folds)

    rows = [
        Row(f"{lib} alone", result.library_scores[lib], seconds[lib], None, per_fold(oof[lib]),
            float(np.mean(iterations[lib])))
        for lib in LIBRARIES
    ]
    naive = Row("naive: catboost + xgboost, mean", _rmse(y, naive_oof),
                sum(seconds[lib] for lib in NAIVE_LIBRARIES), None, per_fold(naive_oof), None)
    mean_row = Row("all three, plain mean", _rmse(y, mean_oof), sum(seconds.values()), None,
                   per_fold(mean_oof), None)
    shown = ", ".join(f"{lib} {weights[lib]:.2f}" for lib in LIBRARIES)
    ensemble = Row(f"**ensemble: learned blend ({shown}; this product's default)**", result.cv_score,
                   sum(seconds.values()), wall, per_fold(ensemble_oof), None)
    rows += [naive, mean_row, ensemble]
    return DataResult(spec, len(y), X.shape[1], rows, naive, ensemble,
                      {lib: tuple(values) for lib, values in unit_seconds.items()})


SPIKE_FACTOR = 5.0
SPIKE_FLOOR_SECONDS = 1.0


def timing_spikes(result: DataResult) -> int:
    """Units that took over SPIKE_FACTOR times their library's median unit time (and over a second)."""
    count = 0
    for values in result.unit_seconds.values():
        median = float(np.median(values))
        count += sum(v > SPIKE_FACTOR * median and v > SPIKE_FLOOR_SECONDS for v in values)
    return count


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def markdown_table(result: DataResult) -> str:
    best = result.best
    lines = [
        "| model | CV RMSE | gap to best | ratio to naive | fit time (s) | wall time (s) "
        "| mean best iteration |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result.rows:
        gap = 100.0 * (row.rmse / best.rmse - 1.0)
        lines.append(
            f"| {row.label} | {row.rmse:.4f} | {gap:+.2f}% | {row.rmse / result.naive.rmse:.4f} "
            f"| {_seconds(row.fit_seconds)} | {_seconds(row.wall_seconds)} "
            f"| {'—' if row.mean_best_iteration is None else f'{row.mean_best_iteration:.0f}'} |"
        )
    return "\n".join(lines)


def reading(results: Sequence[DataResult]) -> str:
    """The numbers, read out in one sentence per data set."""
    sentences = []
    for r in results:
        ens, naive = r.ensemble, r.naive
        change = 100.0 * (ens.rmse / naive.rmse - 1.0)
        wins = sum(e < n for e, n in zip(ens.fold_rmse, naive.fold_rmse, strict=True))
        spread = float(np.std(ens.fold_rmse, ddof=1))
        direction = "lower (better)" if change < 0 else "higher (worse)" if change > 0 else "equal"
        best = r.best
        best_text = "the ensemble is the best row" if best is ens else (
            f"the best row is {best.label.strip('*')} ({best.rmse:.4f}; the ensemble is "
            f"{100.0 * (ens.rmse / best.rmse - 1.0):.2f}% worse)"
        )
        sentences.append(
            f"On {r.spec.name} ({r.n_rows:,} rows) the ensemble's CV RMSE is {abs(change):.2f}% {direction} "
            f"than the naive CatBoost + XGBoost mean ({ens.rmse:.4f} vs {naive.rmse:.4f}; better on "
            f"{wins} of {len(ens.fold_rmse)} folds, while the ensemble's per-fold RMSE has a standard "
            f"deviation of {spread:.4f}), {best_text}, and it costs "
            f"{ens.fit_seconds / naive.fit_seconds:.2f}x the naive recipe's fit time."
        )
    spikes = {r.spec.name: timing_spikes(r) for r in results}
    units = sum(len(v) for r in results for v in r.unit_seconds.values())
    if any(spikes.values()):
        per_set = ", ".join(f"{name}: {n}" for name, n in spikes.items())
        timing = (
            f"{sum(spikes.values())} of {units} units took over {SPIKE_FACTOR:g}x their library's median "
            f"unit time ({per_set}), a sign of CPU contention, so "
            "the fit times and their ratios are unreliable here (the RMSEs are deterministic and unaffected)"
        )
    else:
        timing = (
            f"no unit took over {SPIKE_FACTOR:g}x its library's median unit time, but all units slow down "
            f"together when the machine is busy (CPU pressure {cpu_pressure()} at the end of this run)"
        )
    sentences.append(
        "Caveats: all CV RMSEs are slightly optimistic because each fold model early-stops on the very fold "
        "it then predicts (the same for every row, so the comparison stays fair); the learned blend's "
        "three weights are fitted on the same out-of-fold predictions they are scored on, a small further "
        "optimism that only its row carries (`blend=stack` reports a cross-validated score instead); and the "
        f"fit times are single measurements on a shared machine: {timing}."
    )
    return " ".join(sentences)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_state() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}" + (" (with uncommitted changes under src/)" if dirty else "")


def cpu_pressure() -> str:
    """The kernel's CPU pressure (share of time some runnable task waited for a CPU), or "n/a"."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(item.split("=", 1) for item in first.split()[1:])
    return f"{fields.get('avg60', '?')}% (last 60 s)"


def machine_facts(n_threads: int) -> list[str]:
    import catboost
    import lightgbm
    import sklearn
    import xgboost

    versions = ", ".join(
        f"{name} {module.__version__}"
        for name, module in (("catboost", catboost), ("xgboost", xgboost), ("lightgbm", lightgbm),
                             ("scikit-learn", sklearn), ("numpy", np), ("pandas", pd))
    )
    return [
        f"nproc {os.cpu_count()}; {n_threads} usable by this process (threads per unit)",
        f"CPU: {_cpu_model()}",
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"Libraries: {versions}",
        f"Code: commit {_git_state()}",
    ]


def _command(argv: Sequence[str]) -> str:
    python = Path(sys.executable)
    try:
        python_text = str(python.relative_to(REPO))
    except ValueError:
        python_text = str(python)
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    return " ".join([python_text, script_text, *(shlex.quote(a) for a in argv)])


def section(results: Sequence[DataResult], *, command: str, started: dt.datetime, total_seconds: float,
            synthetic_rows: int, quick: bool, facts: Sequence[str], load: tuple[str, str]) -> str:
    size = (f"{synthetic_rows:,} synthetic rows (`--quick` smoke run)" if quick
            else f"{synthetic_rows:,} synthetic rows (full run)")
    parts = [
        START_MARKER,
        "## Training accuracy: ensemble vs each library vs the naive CatBoost + XGBoost blend",
        "",
        f"- Command: `{command}` (from the repository root)",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}; whole script {total_seconds:,.0f} s; "
        f"load average (1 min) {load[0]} at start, {load[1]} at end; CPU pressure at end {cpu_pressure()} "
        "(timings are single runs on a shared machine)",
        f"- Synthetic set size: {size}",
        *(f"- {fact}" for fact in facts),
        "",
        f"Setup: one `run_training` call per data set, product defaults (k_fold {K_FOLD}, "
        f"{', '.join(LIBRARIES)}, learned (weighted) blend, eta 0.1, max_depth 6, up to 1000 rounds "
        f"with early stopping after 50, seed {SEED}), data written as headerless CSV (label first) "
        "into a temporary `SAGEMAKER_BASE_DIR` tree. "
        "**Every row comes from that one run's out-of-fold predictions, so all "
        "rows use the same folds and the same fold models.** The naive row is the plain mean of the "
        "CatBoost and XGBoost out-of-fold predictions. Fit time is the sum of the per-unit seconds "
        "(fit + predicting the held-out fold) of the libraries in the row, units run one after another; "
        "wall time is the whole `run_training` call (reading the CSV, all units, writing reports and the "
        "model). Gap to best: RMSE over the best row's RMSE, minus 1. Ratio to naive: RMSE over the "
        "naive row's RMSE (below 1 is better than naive).",
        "",
    ]
    for r in results:
        parts += [f"### {r.spec.name}: {r.n_rows:,} rows x {r.n_features} features ({r.spec.description})",
                  "", markdown_table(r), ""]
    parts += ["**Reading.** " + reading(results), END_MARKER]
    return "\n".join(parts) + "\n"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"use {QUICK_SYNTHETIC_ROWS:,} synthetic rows instead of "
                             f"{FULL_SYNTHETIC_ROWS:,}")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="markdown file whose train_accuracy section is rewritten "
                             "(default: bench/RESULTS.md)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(args_list)
    from ensemble_byoc.contract.cpus import available_cpus

    logging.getLogger("ensemble_byoc").setLevel(logging.WARNING)
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.perf_counter()
    load_start = f"{os.getloadavg()[0]:.2f}"
    n_threads = available_cpus()
    facts = machine_facts(n_threads)  # before training: the commit recorded is the code that runs
    synthetic_rows = QUICK_SYNTHETIC_ROWS if args.quick else FULL_SYNTHETIC_ROWS

    results = []
    for spec in data_specs(synthetic_rows):
        print(f"training {spec.name} ...", file=sys.stderr, flush=True)
        results.append(benchmark_one(spec, n_threads))
    total = time.perf_counter() - clock

    text = section(results, command=_command(args_list), started=started, total_seconds=total,
                   synthetic_rows=synthetic_rows, quick=args.quick, facts=facts,
                   load=(load_start, f"{os.getloadavg()[0]:.2f}"))
    print(text.replace(START_MARKER + "\n", "").replace(END_MARKER + "\n", ""), end="")
    results_file.replace_section(args.results, text, SECTION)
    print(f"\nwrote the {SECTION} section of {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
