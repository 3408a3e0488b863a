"""Learning the blend weights from out-of-fold predictions.

Three methods, chosen by the ``blend`` hyperparameter:

- ``mean``: every library weighs the same (the classic recipe);
- ``weighted``: greedy ensemble selection with replacement (Caruana et al., 2004): start from the best
  library, repeatedly add the library whose addition improves the out-of-fold score most, and keep the
  best bag seen; weights are the counts;
- ``stack``: a ridge regression without intercept and with non-negative coefficients on the libraries'
  out-of-fold predictions, its penalty chosen by cross-validation, and its own score measured by
  cross-validation over the rows, so the reported score is honest.

Every method ends with a guard: if the blend scores worse on out-of-fold data than the best single
library, that library alone is served. Serving only ever sees weights, so a new method changes the
manifest, not the server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from ensemble_byoc.ensemble import blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.metrics import rmse

logger = logging.getLogger(__name__)

BLEND_METHODS = ("mean", "weighted", "stack")
SELECTION_ROUNDS = 50
STACK_ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
STACK_FOLDS = 5


@dataclass(frozen=True)
class BlendResult:
    """The weights to serve, the method that produced them and their out-of-fold score."""

    method: str
    weights: dict[str, float]
    score: float
    fallback: str | None = None

    def describe(self) -> str:
        shown = ", ".join(f"{lib} {w:.3f}" for lib, w in self.weights.items())
        note = f" (fell back to {self.fallback} alone)" if self.fallback else ""
        return f"{self.method} blend: {shown}{note}"


def fit_blend(method: str, oof: Mapping[str, np.ndarray], y: np.ndarray, seed: int = 0) -> BlendResult:
    """Fit the blend weights of ``method`` on out-of-fold predictions ``oof`` (one vector per library)."""
    libraries = list(oof)
    if method == "mean":
        weights = {lib: 1.0 / len(libraries) for lib in libraries}
        result = BlendResult(method, weights, rmse(y, blend(oof, weights)))
    elif method == "weighted":
        result = _greedy_selection(oof, y)
    elif method == "stack":
        result = _stack(oof, y, seed)
    else:
        raise UserError(f"Unknown blend method {method!r}; choose one of {', '.join(BLEND_METHODS)}.")
    return _never_worse_than_best_single(result, oof, y)


def _never_worse_than_best_single(result: BlendResult, oof: Mapping[str, np.ndarray], y: np.ndarray) -> BlendResult:
    scores = {lib: rmse(y, prediction) for lib, prediction in oof.items()}
    best = min(scores, key=lambda lib: scores[lib])
    if result.score <= scores[best]:
        return result
    weights = {lib: 1.0 if lib == best else 0.0 for lib in oof}
    return BlendResult(result.method, weights, scores[best], fallback=best)


def _greedy_selection(oof: Mapping[str, np.ndarray], y: np.ndarray, rounds: int = SELECTION_ROUNDS) -> BlendResult:
    libraries = list(oof)
    counts = dict.fromkeys(libraries, 0)
    total = np.zeros_like(y, dtype=np.float64)
    best_counts: dict[str, int] = {}
    best_score = np.inf
    for step in range(1, rounds + 1):
        trial = {lib: rmse(y, (total + oof[lib]) / step) for lib in libraries}
        chosen = min(libraries, key=lambda lib: (trial[lib], libraries.index(lib)))
        counts[chosen] += 1
        total += oof[chosen]
        if trial[chosen] < best_score:
            best_score, best_counts = trial[chosen], dict(counts)
    size = sum(best_counts.values())
    weights = {lib: best_counts[lib] / size for lib in libraries}
    return BlendResult("weighted", weights, rmse(y, blend(oof, weights)))


def _ridge_weights(P: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    model = Ridge(alpha=alpha, fit_intercept=False, positive=True)
    model.fit(P, y)
    return np.asarray(model.coef_, dtype=np.float64)


def _stack(oof: Mapping[str, np.ndarray], y: np.ndarray, seed: int) -> BlendResult:
    libraries = list(oof)
    P = np.column_stack([oof[lib] for lib in libraries])
    n_splits = min(STACK_FOLDS, len(y))
    splits = list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(P))

    def cv_predictions(alpha: float) -> np.ndarray:
        out = np.empty_like(y, dtype=np.float64)
        for train, test in splits:
            out[test] = P[test] @ _ridge_weights(P[train], y[train], alpha)
        return out

    scored = {alpha: rmse(y, cv_predictions(alpha)) for alpha in STACK_ALPHAS}
    alpha = min(STACK_ALPHAS, key=lambda a: (scored[a], -a))
    coef = _ridge_weights(P, y, alpha)
    weights = {lib: float(c) for lib, c in zip(libraries, coef)}
    if not any(weights.values()):
        weights = {lib: 1.0 / len(libraries) for lib in libraries}
    logger.debug("stack: alpha %g chosen by cross-validation (%s)", alpha, scored)
    # The honest score: the meta-model's own cross-validated predictions, not its fit on all rows.
    return BlendResult("stack", weights, scored[alpha])
