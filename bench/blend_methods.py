"""Blend methods side by side on unseen rows (issue #12): which way of weighing the libraries, learned on
out-of-fold predictions, does best on the test rows of the accuracy suite's data sets and splits?

Each (set, split) trains our default once, in process (the product's ``run_training`` on a CSV tree as
``container/train`` reads it), keeping every unit: each library's out-of-fold predictions (what a blend
is learned on) and its fold models' mean on the test rows. Every method then learns its weights from the
same out-of-fold predictions and is scored on the same test rows, so the comparison is paired and costs
one training per split:

- ``weighted``: the product's method (greedy selection with replacement, then the best-single guard);
- ``weighted-raw``: the same greedy selection without the guard;
- ``bagged``: greedy selection on bootstrap resamples of the out-of-fold rows, the weights averaged;
- ``bagged-guard``: ``bagged`` with the best-single guard;
- ``oob-choice``: equal weights, greedy selection or the best library alone, whichever scores best on the
  rows left out of bootstrap resamples of the out-of-fold rows (each fitted on the rows in);
- ``shrunk``: half greedy selection, half equal weights;
- ``stack`` and ``mean``: the product's other methods (with the guard); ``equal``: 1/n each, no guard;
- ``best-oof``: the library with the best out-of-fold score alone; ``classic``: CatBoost and XGBoost 1/2;
- each library alone.

Run from the repository root in the suite's environment (bench/accuracy_suite.py says how to make it), on
a quiet machine (the load is recorded before each training):

    .bench-venv/bin/python bench/blend_methods.py --group choose --splits 3

Writes the ``blend_methods-<group>`` section of bench/RESULTS.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import suite_data
import suite_load
import suite_product
from results_file import markers, replace_section

REPO = Path(__file__).resolve().parents[1]
BOOTSTRAPS = 25
TOLERANCE = 0.005


def train_units(train: Any, test: Any, label: str, problem_type: str, work: Path) -> dict[str, Any]:
    """Our default on ``train``: each library's out-of-fold predictions and fold-mean test predictions."""
    from ensemble_byoc.contract.cpus import available_cpus
    from ensemble_byoc.contract.paths import SageMakerPaths
    from ensemble_byoc.training.config import TrainConfig
    from ensemble_byoc.training.job import run_training
    from ensemble_byoc.training.task import resolve_task

    metric_name = suite_product.OUR_METRIC[problem_type]
    hyperparameters = {"target": label, "problem_type": problem_type, "eval_metric": metric_name}
    suite_product._write_tree(work, train, hyperparameters)
    started = time.perf_counter()
    result = run_training(SageMakerPaths(work), TrainConfig.from_hyperparameters(hyperparameters),
                          input_data_config={"train": {"ContentType": "text/csv"}},
                          n_threads=available_cpus(), metric_stream=io.StringIO())
    seconds = time.perf_counter() - started
    task, y = resolve_task(train[label].to_numpy(), problem_type, metric_name)
    if [str(c) for c in task.classes] != [str(c) for c in result.manifest["task"]["classes"]]:
        job_classes = result.manifest["task"]["classes"]
        raise RuntimeError(f"classes {task.classes} differ from the job's {job_classes}")
    X_test = suite_product._matrix(test.drop(columns=[label]), result.manifest)
    oof: dict[str, np.ndarray] = {}
    test_sums: dict[str, list[np.ndarray]] = {}
    for unit in result.units:
        name = unit.unit.name
        shape = (len(y), *unit.oof_prediction.shape[1:])
        oof.setdefault(name, np.full(shape, np.nan))[unit.valid_rows] = unit.oof_prediction
        test_sums.setdefault(name, []).append(unit.model.predict(X_test))
    classes = [str(c) for c in task.classes]
    y_test = (test[label].to_numpy(dtype=np.float64) if problem_type == suite_data.REGRESSION
              else np.array([classes.index(str(v)) for v in test[label]]))
    return {"oof": oof, "y": y, "test": {k: np.mean(v, axis=0) for k, v in test_sums.items()},
            "y_test": y_test, "metric": metric_name, "fit_seconds": seconds}


def methods(problem_type: str, metric_name: str) -> dict[str, Callable[[Mapping[str, np.ndarray], np.ndarray],
                                                                      dict[str, float]]]:
    from ensemble_byoc.training import blending
    from ensemble_byoc.training.scores import get_metric

    metric = get_metric(problem_type, metric_name)

    def bagged(oof: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
        rng = np.random.default_rng(0)
        total = dict.fromkeys(oof, 0.0)
        for _ in range(BOOTSTRAPS):
            rows = rng.integers(0, len(y), len(y))
            resampled = {k: v[rows] for k, v in oof.items()}
            weights = blending._greedy_selection(resampled, y[rows], metric).weights
            for name, weight in weights.items():
                total[name] += weight / BOOTSTRAPS
        return total

    def oob_choice(oof: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
        """Equal weights, greedy selection or the best library alone: whichever scores best on the rows
        left out of bootstrap resamples (each fitted on the rows in), then fitted on every row."""
        rng = np.random.default_rng(0)
        choices: dict[str, Callable[[Mapping[str, np.ndarray], np.ndarray], dict[str, float]]] = {
            "equal": lambda o, t: {k: 1.0 / len(o) for k in o},
            "greedy": lambda o, t: blending._greedy_selection(o, t, metric).weights,
            "single": best_oof,
        }
        losses: dict[str, list[float]] = {name: [] for name in choices}
        for _ in range(BOOTSTRAPS):
            rows = rng.integers(0, len(y), len(y))
            out = np.setdiff1d(np.arange(len(y)), rows)
            if len(out) == 0:
                continue
            for name, choose in choices.items():
                weights = choose({k: v[rows] for k, v in oof.items()}, y[rows])
                losses[name].append(metric.loss(y[out], blending.blend({k: v[out] for k, v in oof.items()},
                                                                       weights)))
        best = min(choices, key=lambda name: float(np.mean(losses[name])))
        return choices[best](oof, y)

    def guarded(weights: dict[str, float], oof: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
        result = blending.BlendResult("x", weights, metric.score(y, blending.blend(oof, weights)))
        return blending._never_worse_than_best_single(result, oof, y, metric).weights

    def best_oof(oof: Mapping[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
        best = min(oof, key=lambda k: metric.loss(y, oof[k]))
        return {k: float(k == best) for k in oof}

    return {
        "weighted": lambda oof, y: blending.fit_blend("weighted", oof, y, metric).weights,
        "weighted-raw": lambda oof, y: blending._greedy_selection(oof, y, metric).weights,
        "bagged": bagged,
        "bagged-guard": lambda oof, y: guarded(bagged(oof, y), oof, y),
        "oob-choice": oob_choice,
        "shrunk": lambda oof, y: {k: 0.5 * w + 0.5 / len(oof)
                                  for k, w in blending._greedy_selection(oof, y, metric).weights.items()},
        "stack": lambda oof, y: blending.fit_blend("stack", oof, y, metric).weights,
        "mean": lambda oof, y: blending.fit_blend("mean", oof, y, metric).weights,
        "equal": lambda oof, y: {k: 1.0 / len(oof) for k in oof},
        "best-oof": best_oof,
        "classic": lambda oof, y: {k: 0.5 if k in ("catboost", "xgboost") else 0.0 for k in oof},
    }


def score_split(run: dict[str, Any], problem_type: str
                ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Test loss of every method and library alone; the weights each method chose."""
    from ensemble_byoc.bundle.ensemble import blend
    from ensemble_byoc.training.scores import get_metric

    metric = get_metric(problem_type, run["metric"])
    losses = {f"{k} alone": metric.loss(run["y_test"], v) for k, v in run["test"].items()}
    losses.update({f"{k} oof": metric.loss(run["y"], v) for k, v in run["oof"].items()})
    chosen = {}
    for name, method in methods(problem_type, run["metric"]).items():
        weights = method(run["oof"], run["y"])
        chosen[name] = weights
        losses[name] = metric.loss(run["y_test"], blend(run["test"], weights))
    return losses, chosen


def optimism_table(results: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    """Each library's out-of-fold loss (what the blend learns from) next to its test loss."""
    first = next(iter(next(iter(results.values())).values()))
    libraries = [k.removesuffix(" oof") for k in first if k.endswith(" oof")]
    lines = ["| set | " + " | ".join(f"{lib}: oof / test" for lib in libraries) + " |",
             "|---|" + "---:|" * len(libraries)]
    for name, per_split in results.items():
        cells = []
        for lib in libraries:
            oof = float(np.mean([losses[f"{lib} oof"] for losses in per_split.values()]))
            test = float(np.mean([losses[f"{lib} alone"] for losses in per_split.values()]))
            cells.append(f"{oof:.4g} / {test:.4g} ({test / oof - 1:+.0%})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _systems(results: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    return [k for k in next(iter(next(iter(results.values())).values())) if not k.endswith(" oof")]


def summary(results: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    """Per system over the sets: mean rank, mean normalized error, sets at least as good as the best
    single library on test, and the worst gap to it."""
    systems = _systems(results)
    norm: dict[str, list[float]] = {s: [] for s in systems}
    ranks: dict[str, list[float]] = {s: [] for s in systems}
    gaps: dict[str, list[float]] = {s: [] for s in systems}
    for per_split in results.values():
        for losses in per_split.values():
            low, high = min(losses[s] for s in systems), max(losses[s] for s in systems)
            order = sorted(losses[s] for s in systems)
            for s in systems:
                norm[s].append((losses[s] - low) / (high - low) if high > low else 0.0)
                ranks[s].append(order.index(losses[s]) + 1.0)
        mean = {s: float(np.mean([losses[s] for losses in per_split.values()])) for s in systems}
        single = min(v for k, v in mean.items() if k.endswith(" alone"))
        for s in systems:
            gaps[s].append(mean[s] / single - 1.0)
    lines = ["| system | mean rank | mean normalized error | sets at least as good as the best single "
             "library (within 0.5%) | worst gap to it |", "|---|---:|---:|---:|---:|"]
    for s in sorted(systems, key=lambda k: float(np.mean(norm[k]))):
        good = sum(g <= TOLERANCE for g in gaps[s])
        lines.append(f"| {s} | {np.mean(ranks[s]):.2f} | {np.mean(norm[s]):.3f} | {good} of {len(gaps[s])} | "
                     f"{max(gaps[s]) * 100:+.2f}% |")
    return lines


def per_set_table(results: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    systems = _systems(results)
    lines = ["| set | splits | " + " | ".join(systems) + " |", "|---|---:|" + "---:|" * len(systems)]
    for name, per_split in results.items():
        mean = {s: float(np.mean([losses[s] for losses in per_split.values()])) for s in systems}
        best = min(mean.values())
        cells = [f"**{mean[s]:.4g}**" if mean[s] == best else f"{mean[s]:.4g}" for s in systems]
        lines.append(f"| {name} | {len(per_split)} | " + " | ".join(cells) + " |")
    return lines


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--group", choices=(suite_data.CHOOSE, suite_data.CONFIRM, "all"), default="choose")
    parser.add_argument("--sets", help="comma-separated set names (overrides --group)")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(args_list)
    specs = suite_data.select("full", args.sets)
    if not args.sets and args.group != "all":
        specs = [s for s in specs if s.group == args.group]
    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    results: dict[str, dict[int, dict[str, float]]] = {}
    weights_seen: dict[str, dict[int, dict[str, dict[str, float]]]] = {}
    loads: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="blend-methods-") as tmp:
        for spec in specs:
            frame, label = spec.load()
            for index in range(args.splits):
                train, test = suite_data.split(frame, label, spec.problem_type, index)
                loads.append(suite_load.settle())
                run = train_units(train, test, label, spec.problem_type, Path(tmp) / spec.name / str(index))
                losses, chosen = score_split(run, spec.problem_type)
                results.setdefault(spec.name, {})[index] = losses
                weights_seen.setdefault(spec.name, {})[index] = chosen
                print(f"{spec.name} split {index}: fit {run['fit_seconds']:.1f} s, load {loads[-1]}; "
                      + ", ".join(f"{k} {v:.4g}" for k, v in losses.items()), file=sys.stderr, flush=True)
    minutes = (time.perf_counter() - clock) / 60
    text = section(args_list, specs, results, weights_seen, loads, started, minutes, section_name(args))
    print(text)
    if not args.no_write:
        replace_section(REPO / "bench" / "RESULTS.md", text, section_name(args))
    return 0


def section_name(args: argparse.Namespace) -> str:
    """One section per group (``blend_methods-choose``), so confirming does not overwrite choosing."""
    return "blend_methods-" + ("sets" if args.sets else args.group)


def section(argv: Sequence[str], specs: Sequence[Any], results: dict[str, dict[int, dict[str, float]]],
            weights_seen: dict[str, Any], loads: list[dict[str, float]], started: dt.datetime,
            minutes: float, name: str) -> str:
    start, end = markers(name)
    worst_load = max(x["load1_before"] for x in loads)
    worst_other = max(x["other_cpu_before"] for x in loads)
    command = " ".join([os.path.relpath(sys.executable, REPO), "bench/blend_methods.py", *argv])
    head = [
        start, f"## Blend methods on unseen rows (issue #12): {name.split('-', 1)[1]}", "",
        f"- Command: `{command}`",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; {minutes:.1f} min; before each training: 1-minute load at "
        f"most {worst_load:.2f}, other processes' CPU at most {worst_other:.2f} cores (accuracy does not "
        "depend on load: no time limit)",
        f"- nproc {os.cpu_count()}; code: ours {suite_product.code_fingerprint()}",
        "- Sets: " + "; ".join(f"{s.name} ({s.problem_type}, {s.group})" for s in specs),
        "- Error: test RMSE or log loss, the mean over the splits; normalized error per (set, split) over "
        "the rows of this table; \"best single library\" is the best on test (an oracle no method has).",
        "",
    ]
    shown = ("weighted", "bagged", "oob-choice")
    weights = ["", "Weights chosen (first split of each set):", "",
               *(f"- {name}: " + "; ".join(f"{m} " + ", ".join(f"{k} {w:.2f}" for k, w in ws.items())
                                            for m, ws in per[0].items() if m in shown)
                 for name, per in weights_seen.items())]
    optimism = ["", "Each library's out-of-fold loss (what every method learns from) and its test loss:", "",
                *optimism_table(results)]
    tables = [*per_set_table(results), "", *summary(results), *optimism, *weights]
    return "\n".join([*head, *tables, "", end]) + "\n"


if __name__ == "__main__":
    sys.exit(main())
