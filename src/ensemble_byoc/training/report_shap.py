"""The report's global importance from SHAP: the mean |SHAP value| of each feature over a bounded, seeded
sample of the out-of-fold rows, next to the gain importance (``report.feature_importance``).

Each sampled row is explained by the fold models that did not train on it (the models of the fold that
held it out), so the importance describes the models on rows they have not seen, as the CV scores do.
The members' values are blended with the ensemble's weights, as a served explanation is
(``bundle.explain``): per row ``sum_m weight_m * shap_m``; then each feature's ``|value|`` is averaged
over the rows. Regression values are in the units of the prediction; classification values in the
members' margin (log-odds) space, and a multiclass model's sum ``|value|`` over the classes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ensemble_byoc.bundle.ensemble import blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.data import Dataset
from ensemble_byoc.training.units import UnitResult

logger = logging.getLogger("ensemble_byoc.training.job")  # a phase of the job: it logs as the job

SHAP_KEY = "mean_abs_shap"
"""The key of the mean |SHAP| importance in ``feature_importance.json`` (the blend's, per feature)."""
SHAP_ROWS = 1000
"""At most this many out-of-fold rows are explained (a seeded sample of them): each member's library is
called once per fold on that fold's share, so the cost stays at about a thousand rows per member."""
ALL = "*"
"""``left_out``'s key for a reason that leaves every member out."""
SHAP_SECONDS = 5.0
"""Time the importance may take; skipped (logged) when ``time_limit`` leaves less."""


@dataclass(frozen=True)
class ShapImportance:
    """The mean |SHAP| importance: ``values`` per feature (``None`` when none was computed), the rows and
    members it used, its cost in seconds, and the members left out with the reason (``ALL``: every one)."""

    values: dict[str, float] | None
    rows: int = 0
    seconds: float = 0.0
    members: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What ``cv_results.json`` records of it."""
        return {"rows": self.rows, "seconds": round(self.seconds, 4), "members": list(self.members),
                "left_out": dict(self.left_out)}

    def describe(self) -> str:
        """One sentence for the log and the report."""
        notes = "".join(f"; {why}" if name == ALL else f"; {name} left out: {why}"
                        for name, why in self.left_out.items())
        if self.values is None:
            return f"mean |SHAP| importance not computed{notes}."
        return (f"mean |SHAP| importance over {self.rows} out-of-fold rows of {', '.join(self.members)} "
                f"in {self.seconds:.2f} s{notes}.")


def shap_importance(
    results: Sequence[UnitResult],
    data: Any,
    weights: Mapping[str, float],
    seed: int,
    *,
    max_rows: int = SHAP_ROWS,
    seconds_left: float = float("inf"),
) -> ShapImportance:
    """The mean |SHAP| importance of the members weighed by the blend, on at most ``max_rows`` of the rows
    the ``results`` held out (drawn with ``seed``). A member whose models cannot explain (an adapter
    without tree SHAP) is left out, logged. None is computed (logged) when ``seconds_left`` (of
    ``time_limit``) is under ``SHAP_SECONDS``, or when the rows stay on other hosts (a sharded job)."""
    started = time.perf_counter()
    if seconds_left < SHAP_SECONDS:
        return _none(f"{max(seconds_left, 0.0):.1f} s left of time_limit")
    if not isinstance(data, Dataset):
        return _none("the rows stay on the hosts that loaded them (sharded data)")
    sample = _sample(results, seed, max_rows)
    if sample.size == 0:
        return _none("no rows were held out")
    total, members, left_out = _blend(results, weights, data.X, sample)
    if total is None:
        return _logged(ShapImportance(None, left_out=left_out or {ALL: "no member is weighed by the blend"}))
    mean_abs = np.abs(total).sum(axis=1).mean(axis=0)  # summed over the outputs (a multiclass's classes)
    return _logged(ShapImportance(
        values=dict(zip(data.feature_names, map(float, mean_abs), strict=True)), rows=int(sample.size),
        seconds=time.perf_counter() - started, members=tuple(members), left_out=left_out,
    ))


def _sample(results: Sequence[UnitResult], seed: int, max_rows: int) -> np.ndarray:
    """At most ``max_rows`` of the rows the results held out, drawn with ``seed``, in row order."""
    if not results:
        return np.array([], dtype=np.int64)
    held_out = np.unique(np.concatenate([r.valid_rows for r in results]))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(held_out, size=min(max_rows, held_out.size), replace=False))


def _blend(
    results: Sequence[UnitResult], weights: Mapping[str, float], X: np.ndarray, sample: np.ndarray
) -> tuple[np.ndarray | None, list[str], dict[str, str]]:
    """The weighted sum of the members' SHAP values of the sampled rows, the members in it, and the
    members left out with the reason."""
    values_of: dict[str, np.ndarray] = {}
    left_out: dict[str, str] = {}
    for member, weight in weights.items():
        if weight == 0.0:
            continue
        try:
            values = _member_values(member, results, X, sample)
        except UserError as exc:  # an adapter without tree SHAP
            left_out[member] = _text(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - an importance is never worth the job (the model is saved)
            left_out[member] = f"{type(exc).__name__}: {_text(exc)}"
            logger.warning("Feature importance: the SHAP values of %s failed (%s).", member, left_out[member])
            continue
        if values is None:
            left_out[member] = "no fold model of it held the rows out"
            continue
        values_of[member] = values
    members = list(values_of)
    total = blend(values_of, {member: weights[member] for member in members}) if members else None
    return total, members, left_out


def _member_values(
    member: str, results: Sequence[UnitResult], X: np.ndarray, sample: np.ndarray
) -> np.ndarray | None:
    """``(rows, outputs, features)``: each sampled row's SHAP values from the member's model of the fold
    that held it out."""
    values: np.ndarray | None = None
    for result in (r for r in results if r.unit.name == member):
        positions = np.flatnonzero(np.isin(sample, result.valid_rows))
        if positions.size == 0:
            continue
        contributions = result.model.contributions(X[sample[positions]])[:, :, :-1]  # base value dropped
        if values is None:
            values = np.zeros((sample.size, *contributions.shape[1:]))
        values[positions] = contributions
    return values


def _text(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _none(reason: str) -> ShapImportance:
    return _logged(ShapImportance(None, left_out={ALL: reason}))


def _logged(importance: ShapImportance) -> ShapImportance:
    logger.info("Feature importance: %s", importance.describe())
    return importance
