"""Explanations of the served ensemble: each library's exact tree SHAP values, blended with its weights.

Blending is linear, so the explanation of the blend is the weighted sum of the members' explanations,
and each member's is the mean over its fold models (one call on a merged model):

- regression: each row's contributions plus its base value sum to the served prediction;
- classification: the blend is of probabilities, which SHAP cannot split additively, so the values are
  in the members' margin (log-odds) space: they sum to the weighted sum of the members' margins (each the
  mean of its fold models' margins), one output for a binary model (the log-odds of the second class)
  and one per class for a multiclass model (its softmax input).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ensemble_byoc.bundle.ensemble import Ensemble, blend
from ensemble_byoc.errors import UserError
from ensemble_byoc.models.base import Model

MARGIN = "margin"
PREDICTION = "prediction"


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a batch of rows: ``values`` is ``(rows, outputs, features)`` and ``base_values``
    ``(rows, outputs)``; ``outputs`` names the outputs (``()`` for a single one, the class labels of a
    multiclass model); ``space`` is what they sum to (``prediction`` or ``margin``)."""

    feature_names: tuple[str, ...]
    outputs: tuple[object, ...]
    values: np.ndarray
    base_values: np.ndarray
    space: str

    @property
    def totals(self) -> np.ndarray:
        """What each row's explanation adds up to, ``(rows, outputs)``."""
        return np.asarray(self.values.sum(axis=2) + self.base_values)


def explain(ensemble: Ensemble, X: np.ndarray) -> Explanation:
    """The blended SHAP values of the rows ``X`` (already in the model's feature order).

    Members with weight 0 are not called, nor any member for no rows. Raises ``UserError`` (400) for a
    library without tree SHAP.
    """
    weights = {member: weight for member, weight in ensemble.weights.items() if weight != 0.0}
    if X.shape[0] == 0 or not weights:
        total = np.zeros((X.shape[0], _n_outputs(ensemble), X.shape[1] + 1))
    else:  # the members' values blended as their predictions are
        values = {member: _mean_contributions(member, ensemble.members[member], X) for member in weights}
        total = blend(values, weights)
    multiclass = ensemble.problem_type == "multiclass"
    return Explanation(
        feature_names=ensemble.feature_names,
        outputs=tuple(ensemble.classes) if multiclass else (),
        values=total[:, :, :-1],
        base_values=total[:, :, -1],
        space=PREDICTION if ensemble.problem_type == "regression" else MARGIN,
    )


def _mean_contributions(member: str, models: Sequence[Model], X: np.ndarray) -> np.ndarray:
    """The mean of the fold models' values; a model its library cannot explain (LightGBM's linear trees,
    say) is the request's 400, naming the member and the library's reason."""
    try:
        values = models[0].contributions(X)
        for model in models[1:]:
            values = values + model.contributions(X)
    except models[0].library_errors as exc:
        msg = f"Member {member!r} ({models[0].name}) cannot explain its predictions: {exc}"
        raise UserError(msg) from exc
    return values / len(models)


def _n_outputs(ensemble: Ensemble) -> int:
    return len(ensemble.classes) if ensemble.problem_type == "multiclass" else 1
