"""What CatBoost's allocator setting costs and saves: ``MIMALLOC_PURGE_DELAY=0`` (freed memory given back
as it is freed) against mimalloc's own delay, for one CatBoost fit as the product's unit makes it (its default
hyperparameters, one fold of five of a seeded 80/20 split, 1 thread), each in a fresh process (mimalloc
reads the variable once, when CatBoost loads).

Small sets with text columns (where ``container/train`` now leaves mimalloc's delay) and one large numeric
set (where it sets 0): seconds, trees, validation log loss / RMSE (the same model either way), and the
memory the process still holds after the fit, above what it held before it.

    .bench-venv/bin/python bench/allocator_cost.py [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import run_notes, write_section  # noqa: E402
from suite_load import Watch, is_quiet, pressure, settle  # noqa: E402

SETS = ("penguins", "credit_data", "txhousing", "mpg_class", "numeric_400k")
SETTINGS = {"0 (given back as freed)": "0", "mimalloc's own": None}
SECTION = "allocator_cost"

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
name = sys.argv[1]
if name == "numeric_400k":
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400_000, 20)).astype(np.float32)
    y = 2 * X[:, 0] - X[:, 1] * X[:, 2] + rng.normal(size=len(X))
    cats, loss, threads = [], "RMSE", 2
else:
    import pandas as pd
    from suite_data import all_specs
    spec = {s.name: s for s in all_specs()}[name]
    frame, label = spec.load()
    X = frame.drop(columns=[label])
    y = frame[label]
    loss = "RMSE" if spec.problem_type == "regression" else (
        "Logloss" if y.nunique() == 2 else "MultiClass")
    y = y.to_numpy(dtype=float) if loss == "RMSE" else pd.factorize(y, sort=True)[0]
    cats = [c for c in X.columns if X[c].dtype == object]
    X = X.fillna({c: "<missing>" for c in cats})
    threads = 1
rng = np.random.default_rng(0)
order = rng.permutation(len(y))
train = order[: int(0.8 * len(y))]
valid, fit = train[: len(train) // 5], train[len(train) // 5:]
import catboost
take = (lambda rows: X.iloc[rows]) if hasattr(X, "iloc") else (lambda rows: X[rows])
pool = lambda rows: catboost.Pool(take(rows), y[rows], cat_features=cats or None)
before = rss()
model = catboost.CatBoost(dict(loss_function=loss, iterations=1000, learning_rate=0.1, depth=6, random_seed=0,
                               thread_count=threads, logging_level="Silent", allow_writing_files=False))
start = time.perf_counter()
model.fit(pool(fit), eval_set=pool(valid), early_stopping_rounds=50, use_best_model=True)
seconds = time.perf_counter() - start
score = model.get_best_score()["validation"]
kept = model.copy()
del model
print(json.dumps({"seconds": seconds, "trees": int(kept.tree_count_),
                  "score": float(next(iter(score.values()))), "metric": next(iter(score)),
                  "kept_mib": rss() - before}))
"""


def run_one(name: str, value: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    if value is not None:
        env["MIMALLOC_PURGE_DELAY"] = value
    load = settle()
    with Watch() as watch:
        done = subprocess.run([sys.executable, "-c", CHILD, name, str(Path(__file__).resolve().parent)],
                              env=env, capture_output=True, text=True, timeout=900, check=True)
    load.update(watch.summary())
    return {**json.loads(done.stdout.strip().splitlines()[-1]), **load, "quiet": is_quiet(load)}


def table(results: dict[tuple[str, str], dict[str, float]]) -> list[str]:
    lines = ["| set | MIMALLOC_PURGE_DELAY | fit (s) | ratio to mimalloc's own | trees | validation score | "
             "memory kept after the fit (MiB) | load before | quiet |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name in SETS:
        own = results[(name, "mimalloc's own")]["seconds"]
        for label in SETTINGS:
            r = results[(name, label)]
            lines.append(f"| {name} | {label} | {r['seconds']:.2f} | {r['seconds'] / own:.2f}x | "
                         f"{r['trees']:.0f} | {r['metric']} {r['score']:.6g} | {r['kept_mib']:.0f} | "
                         f"{r['load1_before']} | {'yes' if r['quiet'] else 'NO'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    results = {}
    for name in SETS:
        for label, value in SETTINGS.items():
            results[(name, label)] = run_one(name, value)
            print(name, label, results[(name, label)], flush=True)
    import catboost

    body = table(results)
    print("\n".join(body))
    if args.no_write:
        return
    notes = [
        *run_notes(started, pressure(), f"catboost {catboost.__version__}"),
        "- One CatBoost fit per row in a fresh process, the product's default hyperparameters (1,000 rounds, "
        "learning rate 0.1, depth 6, patience 50), one fold of five of the 80/20 split with seed 0; 1 thread "
        "on the small sets, 2 on 400,000 rows x 20 numeric features. Memory kept: the process's resident "
        "memory after the fit and a copy of the model, less before the fit.",
    ]
    title = "CatBoost's allocator: memory given back as it is freed, or after mimalloc's own delay"
    write_section(args.results, SECTION, title, notes, body)


if __name__ == "__main__":
    main()
