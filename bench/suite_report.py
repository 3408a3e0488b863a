"""Tables and the targets of issue #12 for bench/accuracy_suite.py, from the (set, split, system) records.

Error: RMSE (regression), log loss (binary, multiclass); 1 - AUC is shown for binary sets. "At least as
good" on a set: mean error over the splits at most 0.5% higher, or the paired 95% t-interval of the
per-split error differences includes 0. Normalized error per (set, split) = (error - best) / (worst -
best) over the systems with a result there (0 when all are equal); its mean per system.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from suite_data import BINARY, REGRESSION, DataSpec
from suite_systems import System

TOLERANCE = 0.005
NEVER_WORSE = 0.01
SHARE = 0.8


def primary(problem_type: str) -> str:
    return "rmse" if problem_type == REGRESSION else "logloss"


@dataclass
class Table:
    """Errors by set and system: ``errors[set][key]`` = {split: error}."""

    specs: Sequence[DataSpec]
    systems: Sequence[System]
    records: dict[tuple[str, int, str], dict[str, Any]]

    def errors(self, spec: DataSpec, key: str, metric: str | None = None) -> dict[int, float]:
        metric = metric or primary(spec.problem_type)
        return {split: r["scores"][metric] for (name, split, k), r in self.records.items()
                if name == spec.name and k == key and metric in r.get("scores", {})}

    def mean(self, spec: DataSpec, key: str, metric: str | None = None) -> float | None:
        values = list(self.errors(spec, key, metric).values())
        return sum(values) / len(values) if values else None


def t_interval(diffs: Sequence[float]) -> tuple[float, float] | None:
    """Paired 95% t-interval of the mean difference (None below 2 splits)."""
    n = len(diffs)
    if n < 2:
        return None
    from scipy.stats import t

    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Compare:
    ours: float
    theirs: float
    relative: float  # ours / theirs - 1
    interval: tuple[float, float] | None
    as_good: bool

    def text(self) -> str:
        low, high = self.interval or (0.0, 0.0)
        ci = "" if self.interval is None else f", 95% CI of difference [{low:+.4g}, {high:+.4g}]"
        return f"{100 * self.relative:+.2f}%{ci}"


def compare(table: Table, spec: DataSpec, mine: str, other: str) -> Compare | None:
    """``mine`` against ``other`` on the splits both have."""
    a, b = table.errors(spec, mine), table.errors(spec, other)
    common = sorted(set(a) & set(b))
    if not common:
        return None
    ours, theirs = sum(a[s] for s in common) / len(common), sum(b[s] for s in common) / len(common)
    interval = t_interval([a[s] - b[s] for s in common])
    relative = ours / theirs - 1.0 if theirs else 0.0
    as_good = relative <= TOLERANCE or (interval is not None and interval[0] <= 0.0 <= interval[1])
    return Compare(ours, theirs, relative, interval, as_good)


def normalized(table: Table, spec: DataSpec) -> dict[str, list[float]]:
    """Per system, its normalized error on each split of ``spec``."""
    out: dict[str, list[float]] = {}
    splits = sorted({split for (name, split, _) in table.records if name == spec.name})
    for split in splits:
        errors = {s.key: table.errors(spec, s.key).get(split) for s in table.systems}
        errors = {k: v for k, v in errors.items() if v is not None}
        if not errors:
            continue
        best, worst = min(errors.values()), max(errors.values())
        for key, value in errors.items():
            out.setdefault(key, []).append((value - best) / (worst - best) if worst > best else 0.0)
    return out


def ranks(table: Table, spec: DataSpec) -> dict[str, float]:
    """Rank of each system by mean error on ``spec`` (1 = best; ties share the mean rank)."""
    means = {s.key: table.mean(spec, s.key) for s in table.systems}
    ordered = sorted((v, k) for k, v in means.items() if v is not None)
    out = {}
    for value, key in ordered:
        tied = [i for i, (v, _) in enumerate(ordered) if v == value]
        out[key] = sum(tied) / len(tied) + 1.0
    return out


def per_set_table(table: Table) -> list[str]:
    head = ["set", "type", "group", "splits", *[s.key for s in table.systems]]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---:|" + "---:|" * len(table.systems)]
    for spec in table.specs:
        cells = []
        means = {s.key: table.mean(spec, s.key) for s in table.systems}
        best = min((v for v in means.values() if v is not None), default=None)
        for s in table.systems:
            value = means[s.key]
            text = "—" if value is None else f"{value:,.0f}" if value >= 10_000 else f"{value:.4g}"
            if spec.problem_type == BINARY and table.mean(spec, s.key, "one_minus_auc") is not None:
                text += f" ({table.mean(spec, s.key, 'one_minus_auc'):.3g})"
            cells.append(f"**{text}**" if value is not None and value == best else text)
        n = max((len(table.errors(spec, s.key)) for s in table.systems), default=0)
        lines.append(f"| {spec.name} | {spec.problem_type} | {spec.group} | {n} | "
                     + " | ".join(cells) + " |")
    return lines


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summary_table(table: Table) -> list[str]:
    head = ["system", "sets", "mean rank", "mean normalized error", "mean fit (s)", "mean predict (s)",
            "not quiet"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    rank_by_set = {spec.name: ranks(table, spec) for spec in table.specs}
    norm_by_set = {spec.name: normalized(table, spec) for spec in table.specs}
    for s in table.systems:
        mine = _records_of(table, s.key)
        rank = _mean([rank_by_set[n][s.key] for n in rank_by_set if s.key in rank_by_set[n]])
        norm = _mean([v for n in norm_by_set for v in norm_by_set[n].get(s.key, [])])
        sets = sum(1 for n in rank_by_set if s.key in rank_by_set[n])
        loud = sum(1 for r in mine if not r.get("quiet", False))
        lines.append(f"| {s.label} (`{s.key}`) | {sets} | {_fmt(rank, 2)} | {_fmt(norm)} | "
                     f"{_fmt(_mean([r['fit_seconds'] for r in mine]), 1)} | "
                     f"{_fmt(_mean([r['predict_seconds'] for r in mine]), 2)} | {loud} |")
    return lines


def mean_normalized(table: Table, key: str) -> float | None:
    return _mean([v for spec in table.specs for v in normalized(table, spec).get(key, [])])


def mean_fit(table: Table, key: str) -> float | None:
    return _mean([r["fit_seconds"] for r in _records_of(table, key)])


def _records_of(table: Table, key: str) -> list[dict[str, Any]]:
    """System ``key``'s results on this table's sets (a group's table holds only its own sets' rows)."""
    names = {spec.name for spec in table.specs}
    return [r for (name, _, k), r in table.records.items() if k == key and name in names and "scores" in r]
