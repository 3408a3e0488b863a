"""XGBoost fold models merged into one model document: every fold's trees, leaf values scaled by 1/k.

Works on the models' JSON documents only (``Booster.save_raw("json")``); the adapter turns the merged
document back into a booster.
"""

from __future__ import annotations

from typing import Any

_IDENTITY_OBJECTIVES = frozenset(
    {"reg:squarederror", "reg:linear", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"}
)
"""Objectives whose prediction is the margin itself, so the mean of predictions is the mean of margins."""


def merged_document(documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One model document predicting the mean of the fold documents' models; None when they cannot merge.

    For the objectives in ``_IDENTITY_OBJECTIVES`` a booster predicts ``base_score + sum(leaves)``, so
    the mean of k folds is ``mean(base_score) + sum(leaf / k)`` over every fold's trees; the merged
    model's ``base_score`` (``learner_model_param``) is the mean of the folds'. XGBoost adds leaves in
    float32, so the merged prediction differs from the fold mean by float32 rounding only (at most about
    n_trees * 2**-24 relative). Other objectives, dart and gblinear boosters, multi-output and categorical
    models stay unmerged. The documents are changed in place.
    """
    try:
        return _merged(documents)
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # a model layout this code does not know: keep the folds


def _merged(documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    first = documents[0]["learner"]
    k = len(documents)
    base_scores: list[float] = []
    trees: list[dict[str, Any]] = []
    for document in documents:
        learner = document["learner"]
        param = learner["learner_model_param"]
        model = learner["gradient_booster"].get("model", {})
        if (
            learner["gradient_booster"]["name"] != "gbtree"
            or learner["objective"]["name"] not in _IDENTITY_OBJECTIVES
            or param.get("num_class", "0") != "0"
            or param.get("num_target", "1") != "1"
            or param["num_feature"] != first["learner_model_param"]["num_feature"]
            or learner.get("feature_names") != first.get("feature_names")
            or any(model.get("cats", {}).values())
        ):
            return None
        base_scores.append(_single_value(param["base_score"]))
        for tree in model["trees"]:
            if any(tree["split_type"]) or tree["tree_param"].get("size_leaf_vector", "1") not in ("0", "1"):
                return None
            leaves = [child == -1 for child in tree["left_children"]]
            tree["split_conditions"] = [v / k if leaf else v
                                        for v, leaf in zip(tree["split_conditions"], leaves, strict=True)]
            tree["base_weights"] = [v / k for v in tree["base_weights"]]
            tree["id"] = len(trees)
            trees.append(tree)
    return _with_trees(documents[0], trees, sum(base_scores) / k)


def _with_trees(document: dict[str, Any], trees: list[dict[str, Any]], base_score: float) -> dict[str, Any]:
    """``document`` holding ``trees`` (one per round) and ``base_score``, without a best iteration."""
    learner = document["learner"]
    base = repr(base_score)
    bracketed = str(learner["learner_model_param"]["base_score"]).startswith("[")
    learner["learner_model_param"]["base_score"] = f"[{base}]" if bracketed else base
    learner["attributes"] = {}  # no best_iteration: every tree counts
    model = learner["gradient_booster"]["model"]
    model["trees"] = trees
    model["tree_info"] = [0] * len(trees)
    model["iteration_indptr"] = list(range(len(trees) + 1))
    model["gbtree_model_param"] = {**model["gbtree_model_param"], "num_trees": str(len(trees)),
                                   "num_parallel_tree": "1"}
    return document


def _single_value(text: str) -> float:
    """``"[1.5E2]"`` (XGBoost >= 2) or ``"1.5E2"`` -> 150.0; a vector of several values is refused."""
    values = str(text).strip().strip("[]").split(",")
    if len(values) != 1:
        msg = f"base_score {text!r} holds {len(values)} values"
        raise ValueError(msg)
    return float(values[0])
