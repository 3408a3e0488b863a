"""What training units side by side saves on small data: the same job one unit at a time (one thread each,
as the job trained small data before) and side by side (as many one-thread units as the cores hold), each
in a fresh process set up as ``container/train`` sets itself up (OpenMP wait, CatBoost's allocator).

Per set (80% of a seeded split, the product's default hyperparameters): the job's seconds (``run_training``
from start to the model and reports written), its peak memory, the cross-validated score, and whether
every unit's out-of-fold predictions are the same either way (they should be, to the last digit).

    .bench-venv/bin/python bench/units_side_by_side.py [--sets a,b] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import run_notes, write_section  # noqa: E402
from suite_load import Watch, is_quiet, pressure, settle  # noqa: E402

SETS = ("penguins", "attrition", "credit_data", "txhousing", "ames", "mpg_class")
MODES = ("one at a time", "side by side")
SECTION = "units_side_by_side"

CHILD = r"""
import hashlib, json, os, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from ensemble_byoc.contract.allocator import apply_allocator_setting, input_size
from ensemble_byoc.contract.openmp import apply_openmp_wait
from ensemble_byoc.contract.paths import SageMakerPaths
paths = SageMakerPaths(Path(sys.argv[1]))
apply_openmp_wait(os.environ)
apply_allocator_setting(os.environ, input_size(paths.data_dir))
from ensemble_byoc.contract.cpus import available_cpus
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.job import run_training
config = TrainConfig.from_hyperparameters(json.loads(paths.hyperparameters_file.read_text()))
cores = 1 if sys.argv[2] == "one at a time" else available_cpus()
start = time.perf_counter()
result = run_training(paths, config, input_data_config={"train": {}}, n_threads=cores)
seconds = time.perf_counter() - start
oof = (paths.output_dir / "data" / "oof_predictions.csv").read_bytes()
print(json.dumps({"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "score": result.cv_score, "units": len(result.units),
                  "unit_seconds": sum(u.seconds for u in result.units),
                  "by_library": {lib: round(sum(u.seconds for u in result.units if u.unit.library == lib), 2)
                                 for lib in sorted({u.unit.library for u in result.units})},
                  "oof_sha": hashlib.sha256(oof).hexdigest()[:16]}))
"""


def write_job(base: Path, name: str) -> None:
    """The set's training rows (80% of split 0, as the accuracy suite's first split) as a job's tree."""
    import suite_data

    spec = {s.name: s for s in suite_data.all_specs()}[name]
    frame, label = spec.load()
    train, _ = suite_data.split(frame, label, spec.problem_type, 0)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "data" / "train").mkdir(parents=True)
    metric = {"regression": "rmse", "binary": "logloss", "multiclass": "mlogloss"}[spec.problem_type]
    hyperparameters = {"target": label, "problem_type": spec.problem_type, "eval_metric": metric}
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    train.to_csv(base / "input" / "data" / "train" / "train.csv", index=False)


def run_one(name: str, mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        base = Path(work) / "opt_ml"
        write_job(base, name)
        load = settle()
        with Watch() as watch:
            command = [sys.executable, "-c", CHILD, str(base), mode, str(Path(__file__).parent)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        load.update(watch.summary())
    if done.returncode != 0:
        raise RuntimeError(f"{name} {mode}: {done.stderr[-2000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **load, "quiet": is_quiet(load)}


def table(results: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = ["| set | units | mode | job (s) | ratio to one at a time | units' own seconds (by library) | "
             "peak memory (MiB) | CV score | same out-of-fold predictions | load before | quiet |",
             "|---|---:|---|---:|---:|---|---:|---:|---|---:|---|"]
    for name in dict.fromkeys(set_name for set_name, _ in results):
        alone = results[(name, MODES[0])]
        for mode in MODES:
            r = results[(name, mode)]
            libraries = ", ".join(f"{library} {seconds:.1f}" for library, seconds in r["by_library"].items())
            same = "yes" if r["oof_sha"] == alone["oof_sha"] else "NO"
            ratio = r["seconds"] / alone["seconds"]
            lines.append(
                f"| {name} | {r['units']} | {mode} | {r['seconds']:.1f} | {ratio:.2f}x "
                f"| {r['unit_seconds']:.1f} ({libraries}) | {r['peak_mib']:.0f} | {r['score']:.6g} | {same} "
                f"| {r['load1_before']} | {'yes' if r['quiet'] else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    runs = [(name, mode) for name in args.sets.split(",") for mode in MODES]
    results = {run: run_one(*run) for run in runs}  # one at a time, each after the machine settles
    body = table(results)
    print("\n".join(body))
    if args.no_write:
        return
    import catboost
    import lightgbm
    import xgboost

    from ensemble_byoc import __version__

    versions = (f"ensemble-byoc {__version__}, catboost {catboost.__version__}, "
                f"lightgbm {lightgbm.__version__}, xgboost {xgboost.__version__}")
    notes = [
        *run_notes(started, pressure(), versions),
        "- One training job per row in a fresh process, set up as `container/train` sets itself up; the "
        "product's default hyperparameters on 80% of the accuracy suite's split 0. *One at a time*: "
        "`run_training(n_threads=1)`, how the job trained data of under 20,000 rows before (one thread a "
        "unit, the second core idle); *side by side*: every usable core, as `container/train` runs it now. "
        "Job: `run_training` from its start to the model and reports written; units' own seconds: the sum of "
        "each unit's fit; peak memory: the process's maximum resident set.",
    ]
    write_section(args.results, SECTION, "Training units side by side on small data", notes, body)


if __name__ == "__main__":
    main()
