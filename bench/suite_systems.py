"""Systems of bench/accuracy_suite.py: ours (each library alone, the default, each preset, levers), the
classic recipe, and AutoGluon's medium_quality and best_quality restricted to LightGBM, CatBoost and
XGBoost."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LIBRARIES = ("catboost", "lightgbm", "xgboost")
CLASSIC_PARTS = ("catboost", "xgboost")
AG_BEST_FLOOR_S = 120.0
AG_BEST_FACTOR = 3.0
AG_BEST_STEP_S = 30.0
"""AutoGluon best_quality's time_limit on a split: max(120 s, 3 x our default's fit time there, rounded
up to a multiple of 30 s)."""
DEFAULT_TIME = "<our default's fit time>"
AG_BEST_TIME = "<max(120 s, 3 x our default's fit time)>"


@dataclass(frozen=True)
class System:
    key: str
    label: str
    kind: str  # "ours", "autogluon" or "derived" (the plain mean of other rows' test predictions)
    settings: dict[str, str] = field(default_factory=dict)
    role: str = ""  # "default", "single", "classic", "preset", "ag_medium", "ag_best", "lever"

    def needs_default_time(self) -> bool:
        return any(v in (DEFAULT_TIME, AG_BEST_TIME) for v in self.settings.values())

    def resolved(self, default_fit_s: float | None) -> dict[str, str]:
        """Settings with the time tokens replaced by this split's numbers (whole seconds, so a cached
        result stays valid while our default's cached fit time does)."""
        if not self.needs_default_time():
            return dict(self.settings)
        if default_fit_s is None:
            raise ValueError(f"{self.key} needs our default's fit time on the split, which has none")
        out = {}
        for key, value in self.settings.items():
            if value == DEFAULT_TIME:
                value = f"{max(1.0, round(default_fit_s)):g}"
            elif value == AG_BEST_TIME:  # in steps of 30 s: a rerun default's noise keeps AutoGluon cached
                step = AG_BEST_STEP_S * math.ceil(AG_BEST_FACTOR * default_fit_s / AG_BEST_STEP_S)
                value = f"{max(AG_BEST_FLOOR_S, step):g}"
            out[key] = value
        return out


def build(presets: Sequence[str], default_preset: str, levers: dict[str, dict[str, str]],
          extra: dict[str, str]) -> list[System]:
    """Every system in table order. ``extra`` is added to every row of ours (e.g. a fast smoke override)."""
    out = [System("default", f"ours: default (preset {default_preset})", "ours", dict(extra), "default")]
    out += [System(lib, f"ours: {lib} alone", "ours", {"models": lib, **extra}, "single")
            for lib in LIBRARIES]
    out.append(System("classic", "classic recipe: mean of catboost alone and xgboost alone", "derived",
                      {"mean_of": ",".join(CLASSIC_PARTS)}, "classic"))
    for name in presets:
        if name == default_preset:
            continue
        out.append(System(f"preset-{name}", f"ours: presets={name}", "ours", {"presets": name, **extra},
                          "preset"))
        if name == "best":
            out.append(System("preset-best-limited", "ours: presets=best, time_limit = default's fit time",
                              "ours", {"presets": name, "time_limit": DEFAULT_TIME, **extra},
                              "preset_limited"))
    for name, hyperparameters in levers.items():
        out.append(System(f"lever-{name}", f"ours: lever {name}: "
                          + ", ".join(f"{k}={v}" for k, v in hyperparameters.items()),
                          "ours", {**extra, **hyperparameters}, "lever"))
    out.append(System("ag-medium", "AutoGluon medium_quality (GBM, CAT, XGB), no time limit", "autogluon",
                      {"presets": "medium_quality"}, "ag_medium"))
    out.append(System("ag-best", "AutoGluon best_quality (GBM, CAT, XGB), time_limit max(120 s, 3x default)",
                      "autogluon", {"presets": "best_quality", "time_limit": AG_BEST_TIME}, "ag_best"))
    return out


def choose(systems: list[System], keys: str | None) -> list[System]:
    """``--systems``: a subset, plus what a chosen row needs (the classic recipe needs its two parts, a
    time limit needs our default)."""
    if not keys:
        return systems
    wanted = {k.strip() for k in keys.split(",") if k.strip()}
    known = {s.key for s in systems}
    if wanted - known:
        raise SystemExit(f"--systems: unknown {', '.join(sorted(wanted - known))}; known: {', '.join(known)}")
    by_key = {s.key: s for s in systems}
    for key in list(wanted):
        if by_key[key].kind == "derived":
            wanted |= set(by_key[key].settings["mean_of"].split(","))
        if by_key[key].needs_default_time():
            wanted.add("default")
    return [s for s in systems if s.key in wanted]


def parse_lever(text: str) -> tuple[str, dict[str, str]]:
    """``NAME=k=v;k=v`` or ``NAME={"k": "v"}``; in ``k=v`` lists a comma piece without ``=`` belongs to
    the value before it, so ``models=catboost,lightgbm`` stays one value."""
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise SystemExit(f"--lever {text!r}: write NAME=key=value[,key=value...] or NAME={{json}}")
    if rest.lstrip().startswith("{"):
        return name.strip(), {str(k): str(v) for k, v in json.loads(rest).items()}
    pairs: dict[str, str] = {}
    last = None
    for piece in rest.replace(";", ",").split(","):
        if "=" in piece:
            last, _, value = piece.partition("=")
            last = last.strip()
            pairs[last] = value.strip()
        elif last is not None and piece.strip():
            pairs[last] += "," + piece.strip()
        else:
            raise SystemExit(f"--lever {text!r}: {piece!r} is not key=value")
    return name.strip(), pairs


def fingerprint(system: System, settings: dict[str, str], code: str) -> str:
    """What a cached result is valid for: the system's resolved settings and the code it ran
    (``code``: the product's version and source hash for ours, AutoGluon's version for AutoGluon)."""
    text = json.dumps({"kind": system.kind, "settings": settings, "code": code}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
