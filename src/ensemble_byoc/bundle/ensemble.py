"""The served ensemble: per library, the mean of its fold models; across libraries, a weighted sum."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ensemble_byoc.models.base import Model

logger = logging.getLogger(__name__)

FoldMerger = Callable[[Sequence[Model]], "Model | None"]
"""``merger(fold_models)`` -> one model predicting their mean, or None (see ``ModelSpec.merge_folds``)."""

MERGE_TOLERANCE = 1e-4
"""Load-time check of a merged model against its folds, relative to the largest prediction: far above
float32 rounding over thousands of trees (about n_trees * 2**-24), far below any real merge mistake."""


@dataclass(frozen=True)
class Ensemble:
    """Fold models of each library and the blend weights, as trained or as loaded from a model directory."""

    feature_names: tuple[str, ...]
    members: Mapping[str, Sequence[Model]]
    weights: Mapping[str, float]
    problem_type: str = "regression"
    """``regression``: ``predict`` gives values; ``binary``: P(second class); ``multiclass``: a row of
    class probabilities, in the order of ``classes``."""
    classes: tuple[Any, ...] = ()
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical features and their levels: such a column holds the level's index (NaN if missing)."""

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def use_threads(self, n_threads: int) -> None:
        """Every fold model predicts on ``n_threads`` threads from now on."""
        for models in self.members.values():
            for model in models:
                model.use_threads(n_threads)

    def predict_members(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Each library's prediction: the mean over its fold models."""
        out = {}
        for library, models in self.members.items():
            if len(models) == 1:  # one model, or the folds merged into one: one library call
                out[library] = models[0].predict(X)
                continue
            total = models[0].predict(X).astype(np.float64)  # a vector, or a row of class probabilities
            for model in models[1:]:
                total += model.predict(X)
            out[library] = total / len(models)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return blend(self.predict_members(X), self.weights)


def blend(predictions: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted sum of per-library predictions, in the order of ``weights``."""
    result: np.ndarray | None = None
    for library, weight in weights.items():
        term = weight * predictions[library]
        result = term if result is None else result + term
    if result is None:
        msg = "blend needs at least one library"
        raise ValueError(msg)
    return result


def merge_folds(ensemble: Ensemble, mergers: Mapping[str, FoldMerger | None], probe: np.ndarray) -> Ensemble:
    """The same ensemble with each library's fold models replaced by one merged model where possible.

    A merged model is kept only if it predicts the fold mean on the ``probe`` rows (``MERGE_TOLERANCE``);
    otherwise, or when the library has no merger or the merger declines, the fold models stay.
    """
    members: dict[str, Sequence[Model]] = {}
    for library, models in ensemble.members.items():
        merger = mergers.get(library)
        merged = _merge(library, models, merger, probe) if merger is not None and len(models) > 1 else None
        members[library] = [merged] if merged is not None else models
    return replace(ensemble, members=members)


def _merge(library: str, models: Sequence[Model], merger: FoldMerger, probe: np.ndarray) -> Model | None:
    try:
        merged = merger(models)
    except Exception:  # noqa: BLE001 - merging is an optimisation; the folds are always a correct model
        logger.warning("%s: merging %d fold models failed; serving them one by one.", library, len(models),
                       exc_info=True)
        return None
    if merged is None:
        logger.info("%s: these %d fold models cannot be merged exactly; serving them one by one.",
                    library, len(models))
        return None
    expected = np.mean([model.predict(probe) for model in models], axis=0)
    got = merged.predict(probe)
    scale = float(np.max(np.abs(expected), initial=1.0))
    if not np.allclose(got, expected, rtol=0.0, atol=MERGE_TOLERANCE * scale, equal_nan=True):
        worst = float(np.max(np.abs(got - expected)))
        logger.warning("%s: the merged model differs from the fold mean by up to %.3g; serving the %d folds "
                       "one by one.", library, worst, len(models))
        return None
    return merged


def probe_rows(n_features: int, n_rows: int = 64, seed: int = 0) -> np.ndarray:
    """Rows spread over many magnitudes, plus all-zero and all-missing rows, to compare predictors on."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n_rows, n_features)) * 10.0 ** rng.integers(-2, 4, size=(n_rows, n_features))
    rows[rng.random(size=rows.shape) < 0.1] = np.nan
    return np.vstack([rows, np.zeros((1, n_features)), np.full((1, n_features), np.nan)])
