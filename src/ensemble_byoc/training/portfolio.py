"""A small, fixed portfolio of configurations per library, instead of a search.

Member 1 of each library is the library under the shared hyperparameters alone. Further members add
settings known to make boosters differ from each other (deeper or shallower trees, extremely randomised
splits, stronger column sampling), so the blend has diverse out-of-fold predictions to choose from. The
user's ``<library>__<param>`` overrides apply to every member of that library and win over these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PORTFOLIO_SIZE = 3

PORTFOLIO: Mapping[str, tuple[Mapping[str, Any], ...]] = {
    "catboost": ({}, {"depth": 8, "l2_leaf_reg": 6.0}, {"depth": 4, "l2_leaf_reg": 1.0}),
    "lightgbm": (
        {},
        {"extra_trees": True, "num_leaves": 63, "min_data_in_leaf": 10, "feature_fraction": 0.8},
        {"num_leaves": 15, "min_data_in_leaf": 30, "lambda_l2": 1.0},
    ),
    "xgboost": (
        {},
        {"max_depth": 8, "min_child_weight": 2.0, "colsample_bytree": 0.7, "subsample": 0.8},
        {"max_depth": 4, "colsample_bytree": 0.5},
    ),
}


@dataclass(frozen=True)
class Member:
    """One model of the ensemble: a library and the settings that make it this member."""

    name: str
    library: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


def portfolio_members(
    libraries: tuple[str, ...], size: int, user_overrides: Mapping[str, Mapping[str, Any]]
) -> list[Member]:
    """The members of each library, in library order: ``xgboost``, ``xgboost-2``, ...

    A library without portfolio entries (a newly added adapter) gets its first member only.
    """
    members = []
    for library in libraries:
        configurations = PORTFOLIO.get(library, ({},))[:size]
        for index, configuration in enumerate(configurations):
            name = library if index == 0 else f"{library}-{index + 1}"
            members.append(Member(name, library, {**configuration, **user_overrides.get(library, {})}))
    return members
