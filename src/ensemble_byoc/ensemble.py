"""The served ensemble: per library, the mean of its fold models; across libraries, a weighted sum."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ensemble_byoc.models.base import Model


@dataclass(frozen=True)
class Ensemble:
    """Fold models of each library and the blend weights, as trained or as loaded from a model directory."""

    feature_names: tuple[str, ...]
    members: Mapping[str, Sequence[Model]]
    weights: Mapping[str, float]

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def predict_members(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Each library's prediction: the mean over its fold models."""
        out = {}
        for library, models in self.members.items():
            total = np.zeros(X.shape[0], dtype=np.float64)
            for model in models:
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
        raise ValueError("blend needs at least one library")
    return result


def mean_weights(libraries: Sequence[str]) -> dict[str, float]:
    """The classic recipe: every library weighs the same."""
    return {library: 1.0 / len(libraries) for library in libraries}
