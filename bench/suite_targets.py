"""The targets of issue #12 as pass/fail lines, for one group of data sets ("choose" or "confirm")."""

from __future__ import annotations

from suite_report import NEVER_WORSE, SHARE, Compare, Table, compare, mean_fit, mean_normalized
from suite_systems import LIBRARIES


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "**FAIL**")


def _against(table: Table, other_of: dict[str, str], mine: str = "default") -> dict[str, Compare]:
    out = {}
    for spec in table.specs:
        other = other_of.get(spec.name)
        result = compare(table, spec, mine, other) if other else None
        if result is not None:
            out[spec.name] = result
    return out


def _share_line(name: str, found: dict[str, Compare], extra_ok: bool = True, extra: str = "") -> str:
    if not found:
        return f"- {_verdict(None)}: {name}: no set has both rows"
    good = [n for n, c in found.items() if c.as_good]
    ok = len(good) >= SHARE * len(found) and extra_ok
    bad = "; ".join(f"{n} {c.text()}" for n, c in found.items() if not c.as_good)
    return (f"- {_verdict(ok)}: {name}: at least as good on {len(good)} of {len(found)} sets "
            f"(target >= {SHARE:.0%}){extra}" + (f"; not on: {bad}" if bad else ""))


def best_single(table: Table) -> dict[str, str]:
    out = {}
    for spec in table.specs:
        means = {lib: table.mean(spec, lib) for lib in LIBRARIES}
        means = {k: v for k, v in means.items() if v is not None}
        if means:
            out[spec.name] = min(means, key=means.get)
    return out


def target_lines(table: Table) -> list[str]:
    keys = {s.key for s in table.systems}
    lines = []
    if "default" not in keys:
        return ["- n/a: our default is not among the systems run"]
    singles = _against(table, best_single(table))
    worst_set = max(singles, key=lambda n: singles[n].relative, default=None)
    worst = singles[worst_set].relative if worst_set else None
    never = worst is None or worst <= NEVER_WORSE
    lines.append(_share_line("default vs its best single library", singles, never,
                             f"; worst {100 * worst:+.2f}% on {worst_set} "
                             f"(target never worse than +{100 * NEVER_WORSE:.0f}%)"
                             if worst is not None else ""))
    lines.append(_share_line("default vs the classic recipe",
                             _against(table, {s.name: "classic" for s in table.specs})))
    lines.append(_autogluon_line(table))
    presets = (("preset-best", "presets=best"), ("preset-best-limited", "presets=best with time_limit"))
    for key, name in presets:
        found = _against(table, {s.name: "default" for s in table.specs}, mine=key)
        if not found:
            lines.append(f"- n/a: {name} vs default: not run")
            continue
        bad = "; ".join(f"{n} {c.text()}" for n, c in found.items() if not c.as_good)
        good = sum(1 for c in found.values() if c.as_good)
        lines.append(f"- {_verdict(not bad)}: {name} at least as good as the default on every set "
                     f"({good} of {len(found)})"
                     + (f"; not on: {bad}" if bad else ""))
    return lines


def _autogluon_line(table: Table) -> str:
    ours, theirs = mean_normalized(table, "default"), mean_normalized(table, "ag-medium")
    fit_ours, fit_theirs = mean_fit(table, "default"), mean_fit(table, "ag-medium")
    if None in (ours, theirs, fit_ours, fit_theirs):
        return "- n/a: default vs AutoGluon medium_quality: not both run"
    ok = ours <= theirs and fit_ours <= fit_theirs
    return (f"- {_verdict(ok)}: default's mean normalized error {ours:.3f} vs AutoGluon medium_quality's "
            f"{theirs:.3f} (target <=), mean fit {fit_ours:.1f} s vs {fit_theirs:.1f} s (target <=)")


def comparison_table(table: Table) -> list[str]:
    """Per set: the default against its best single library and each other reference row: mean error
    difference in % (the paired 95% interval of the per-split difference beside it), and whether it is
    at least as good (yes / no)."""
    others = [("best single", best_single(table)), *[(k, {s.name: k for s in table.specs}) for k in
              ("classic", "preset-best", "preset-best-limited", "ag-medium", "ag-best")]]
    keys = {s.key for s in table.systems}
    others = [(name, of) for name, of in others if name == "best single" or name in keys]
    if "default" not in keys:
        return []
    head = ["set", *[f"default vs {name}" for name, _ in others]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---|" * len(others)]
    for spec in table.specs:
        cells = []
        for name, of in others:
            other = of.get(spec.name)
            found = compare(table, spec, "default", other) if other else None
            mine = "" if name != "best single" or not other else f"{other}: "
            cells.append("—" if found is None else
                         f"{mine}{found.text()} ({'yes' if found.as_good else 'no'})")
        lines.append(f"| {spec.name} | " + " | ".join(cells) + " |")
    return lines
