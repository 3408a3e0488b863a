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

from ensemble_byoc.bundle.ensemble import blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.training.scores import REGRESSION, Metric, get_metric, metrics_for

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


def fit_blend(
    method: str, oof: Mapping[str, np.ndarray], y: np.ndarray, metric: Metric | None = None, seed: int = 0
) -> BlendResult:
    """Fit the blend weights of ``method`` on out-of-fold predictions ``oof`` (one array per library).

    ``metric`` (default RMSE) is what the blend optimises and reports. For classification the
    predictions are probabilities and the weights sum to one, so the blend is a probability too.
    """
    metric = metric or get_metric(REGRESSION, "rmse")
    libraries = list(oof)
    probabilities = metric.name not in metrics_for(REGRESSION)
    if method == "mean":
        weights = {lib: 1.0 / len(libraries) for lib in libraries}
        result = BlendResult(method, weights, metric.score(y, blend(oof, weights)))
    elif method == "weighted":
        result = _greedy_selection(oof, y, metric)
    elif method == "stack":
        result = _stack(oof, y, metric, seed, normalise=probabilities)
    else:
        msg = f"Unknown blend method {method!r}; choose one of {', '.join(BLEND_METHODS)}."
        raise UserError(msg)
    return _never_worse_than_best_single(result, oof, y, metric)


def _never_worse_than_best_single(
    result: BlendResult, oof: Mapping[str, np.ndarray], y: np.ndarray, metric: Metric
) -> BlendResult:
    losses = {lib: metric.loss(y, prediction) for lib, prediction in oof.items()}
    best = min(losses, key=lambda lib: losses[lib])
    blend_loss = -result.score if metric.greater_is_better else result.score
    if blend_loss <= losses[best]:
        return result
    weights = {lib: 1.0 if lib == best else 0.0 for lib in oof}
    return BlendResult(result.method, weights, metric.score(y, oof[best]), fallback=best)


def _greedy_selection(
    oof: Mapping[str, np.ndarray], y: np.ndarray, metric: Metric, rounds: int = SELECTION_ROUNDS
) -> BlendResult:
    libraries = list(oof)
    counts = dict.fromkeys(libraries, 0)
    total = np.zeros_like(next(iter(oof.values())), dtype=np.float64)
    best_counts: dict[str, int] = {}
    best_loss = np.inf
    for step in range(1, rounds + 1):
        trial = {lib: metric.loss(y, (total + oof[lib]) / step) for lib in libraries}
        chosen = min(libraries, key=lambda lib: (trial[lib], libraries.index(lib)))
        counts[chosen] += 1
        total += oof[chosen]
        if trial[chosen] < best_loss:
            best_loss, best_counts = trial[chosen], dict(counts)
    size = sum(best_counts.values())
    weights = {lib: best_counts[lib] / size for lib in libraries}
    return BlendResult("weighted", weights, metric.score(y, blend(oof, weights)))


def _design(oof: Mapping[str, np.ndarray], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One column per library; multiclass probabilities are flattened against one-hot targets."""
    first = next(iter(oof.values()))
    if first.ndim == 1:
        return np.column_stack(list(oof.values())), np.asarray(y, dtype=np.float64)
    n_classes = first.shape[1]
    P = np.column_stack([prediction.reshape(-1) for prediction in oof.values()])
    target = np.eye(n_classes)[np.asarray(y, dtype=np.int64)].reshape(-1)
    return P, target


def _ridge_weights(P: np.ndarray, target: np.ndarray, alpha: float, normalise: bool) -> np.ndarray:
    model = Ridge(alpha=alpha, fit_intercept=False, positive=True)
    model.fit(P, target)
    coef = np.asarray(model.coef_, dtype=np.float64)
    if normalise:
        total = coef.sum()
        coef = coef / total if total > 0 else np.full(coef.size, 1.0 / coef.size)
    return coef


def _stack(
    oof: Mapping[str, np.ndarray], y: np.ndarray, metric: Metric, seed: int, normalise: bool
) -> BlendResult:
    libraries = list(oof)
    n_splits = min(STACK_FOLDS, len(y))
    splits = list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y))))

    def cv_blend(alpha: float) -> np.ndarray:
        out = np.zeros_like(next(iter(oof.values())), dtype=np.float64)
        for train, test in splits:
            P, target = _design({lib: oof[lib][train] for lib in libraries}, y[train])
            coef = _ridge_weights(P, target, alpha, normalise)
            out[test] = blend({lib: oof[lib][test] for lib in libraries},
                              dict(zip(libraries, coef, strict=True)))
        return out

    losses = {alpha: metric.loss(y, cv_blend(alpha)) for alpha in STACK_ALPHAS}
    alpha = min(STACK_ALPHAS, key=lambda a: (losses[a], -a))
    P, target = _design(oof, y)
    coef = _ridge_weights(P, target, alpha, normalise)
    weights = {lib: float(c) for lib, c in zip(libraries, coef, strict=True)}
    if not any(weights.values()):
        weights = {lib: 1.0 / len(libraries) for lib in libraries}
    logger.debug("stack: alpha %g chosen by cross-validation (%s)", alpha, losses)
    # The honest score: the meta-model's own cross-validated predictions, not its fit on all rows.
    score = -losses[alpha] if metric.greater_is_better else losses[alpha]
    return BlendResult("stack", weights, score)
