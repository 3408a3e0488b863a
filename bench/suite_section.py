"""The ``accuracy_suite`` section of bench/RESULTS.md: run facts, per-set errors, the per-system summary
and the targets of issue #12, separately for the "choose" and "confirm" groups."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import results_file
import suite_load
from suite_data import CHOOSE, CONFIRM, DataSpec
from suite_report import Table, per_set_table, summary_table
from suite_systems import System
from suite_targets import comparison_table, target_lines

SECTION = "accuracy_suite"


def _load_facts(records: dict[tuple[str, int, str], dict[str, Any]]) -> tuple[str, bool]:
    """What the load was before and during every system whose result is shown (cached ones included)."""
    ran = [r for r in records.values() if "load" in r]
    if not ran:
        return "no result of a fitted system", True
    loud = [r for r in ran if not r.get("quiet", False)]
    load1 = max(r["load"]["load1_before"] for r in ran)
    others = max(r["load"].get("other_cpu_mean", r["load"]["other_cpu_before"]) for r in ran)
    text = (f"before each system: 1-minute load at most {load1:.2f} "
            f"(threshold {suite_load.load_threshold():.2f}"
            f" = cores + {suite_load.MAX_LOAD_OVER_CORES}); other processes' CPU during a system at most "
            f"{others:.2f} cores on average (threshold {suite_load.MAX_OTHER_CPU}); "
            f"{len(loud)} of {len(ran)} results not quiet")
    return text, not loud


def _group(name: str, specs: Sequence[DataSpec], systems: Sequence[System],
           records: dict[tuple[str, int, str], dict[str, Any]]) -> list[str]:
    chosen = [s for s in specs if s.group == name]
    if not chosen:
        return [f"### Group \"{name}\": no data set of this group ran", ""]
    table = Table(chosen, systems, {k: r for k, r in records.items() if "scores" in r})
    return [
        f"### Group \"{name}\" ({len(chosen)} sets: {', '.join(s.name for s in chosen)})", "",
        "Mean error over the splits (RMSE or log loss; binary: (1 - AUC) in brackets); best in bold:", "",
        *per_set_table(table), "",
        *summary_table(table), "",
        "Our default against the others (mean error difference; yes = at least as good):", "",
        *comparison_table(table), "",
        "Targets of issue #12:", "",
        *target_lines(table), "",
    ]


def section(specs: Sequence[DataSpec], systems: Sequence[System],
            records: dict[tuple[str, int, str], dict[str, Any]], facts: dict[str, Any]) -> tuple[str, bool]:
    start, end = results_file.markers(facts.get("section", SECTION))
    load_text, quiet = _load_facts(records)
    failed = [f"{k[0]} split {k[1]} {k[2]}: {r['failed'][:160]}" for k, r in records.items() if "failed" in r]
    title = "## Accuracy suite: ours, each library, the classic recipe, AutoGluon (issue #12)"
    parts = [
        start, title + ("" if quiet else " — **NOT QUIET: timings and AutoGluon best_quality unreliable**"),
        "",
        f"- Command: `{facts['command']}` (tier {facts['tier']}, {facts['splits']} split(s) per set)",
        f"- Date: {facts['started']:%Y-%m-%d %H:%M} UTC; {facts['minutes']:.1f} min; load average (1 min) "
        f"{facts['load_start']:.2f} at start, {os.getloadavg()[0]:.2f} at end; "
        f"CPU pressure {suite_load.pressure()}",
        f"- Machine load: {load_text}",
        f"- nproc {os.cpu_count()}; Python {platform.python_version()}; {facts['versions']}",
        f"- Code: {facts['codes']['ours']}; {facts['codes']['autogluon']}",
        "- Data sets: " + "; ".join(f"{s.name} ({s.problem_type}, {s.group}: {s.source}; {s.traits})"
                                    for s in specs),
        "- Systems: " + "; ".join(f"`{s.key}` {s.label}" for s in systems),
        "- Definitions: error = RMSE or log loss; \"at least as good\" = mean error over the splits at most "
        "0.5% higher, or the paired 95% t-interval of the per-split differences includes 0; normalized "
        "error per (set, split) = (error - best) / (worst - best) over the systems with a result there. "
        "Fit time: ours, the entry point of `container/train` in a child process (after imports); "
        "AutoGluon, `predictor.fit`; classic, its two parts added. Predict: load the model + predict.",
        *(["- Failed: " + "; ".join(failed)] if failed else []),
        "",
    ]
    for group in (CHOOSE, CONFIRM):
        parts += _group(group, specs, systems, records)
    parts.append(end)
    return "\n".join(parts) + "\n", quiet


def strip_markers(text: str, name: str = SECTION) -> str:
    start, end = results_file.markers(name)
    return text.replace(start + "\n", "").replace(end + "\n", "")


def write(args: argparse.Namespace, text: str, quiet: bool) -> int:
    if args.no_write:
        return 0
    if args.require_quiet and not quiet:
        print(f"not writing {args.results}: some results came from a machine that was not quiet "
              "(see 'Machine load' above); rerun them on a quiet machine", file=sys.stderr)
        return 3
    results_file.replace_section(args.results, text, args.section)
    print(f"wrote the {args.section} section of {args.results}", file=sys.stderr)
    return 0
