"""Which plan a ``presets=best`` job serves, and what its default plan is."""

from __future__ import annotations

import pytest

from ensemble_byoc.training.best_preset import PlanOutcome, choose
from ensemble_byoc.training.config import PRESETS, TrainConfig


def outcome(name: str, score: float, finished: int = 15, planned: int = 15, cut: int = 0) -> PlanOutcome:
    return PlanOutcome(name, score, finished, planned, cut, seconds=1.0)


def test_a_finished_best_plan_that_scores_better_out_of_fold_is_served() -> None:
    assert choose(outcome("default", 0.50), outcome("best", 0.40), greater_is_better=False)[0] == "best"
    assert choose(outcome("default", 0.80), outcome("best", 0.90), greater_is_better=True)[0] == "best"


@pytest.mark.parametrize(("best", "why"), [
    (outcome("best", 0.10, finished=9, planned=48), "did not finish (9 of 48 units, 0 cut short"),
    (outcome("best", 0.10, cut=1), "1 cut short by time_limit"),
    (outcome("best", 0.60), "does not score better"),
    (outcome("best", 0.50), "does not score better"),
    (None, "did not run"),
], ids=["folds dropped", "a unit cut short", "worse", "a tie", "not trained"])
def test_the_default_plan_is_served_unless_the_best_plan_finished_and_scores_better(
    best: PlanOutcome | None, why: str
) -> None:
    served, reason = choose(outcome("default", 0.50), best, greater_is_better=False)
    assert served == "default"
    assert why in reason


def test_the_default_plan_of_presets_best_resets_only_the_settings_the_preset_filled() -> None:
    config = TrainConfig.from_hyperparameters({"presets": "best", "eta": "0.2", "max_depth": "4"})
    fallback = config.default_plan()
    assert fallback is not None
    assert (config.k_fold, config.eta, config.portfolio_size) == (8, 0.2, 2)
    assert (fallback.k_fold, fallback.eta, fallback.portfolio_size, fallback.num_round) == (5, 0.2, 1, 1000)
    assert (fallback.max_depth, fallback.presets, fallback.early_stopping_rounds) == (4, "best", 50)


def test_presets_best_with_every_preset_setting_given_and_other_presets_have_one_plan() -> None:
    given = {name: str(value) for name, value in PRESETS["best"].items()}
    assert TrainConfig.from_hyperparameters({"presets": "best", **given}).default_plan() is None
    assert TrainConfig.from_hyperparameters({"presets": "fast"}).default_plan() is None
    assert TrainConfig.from_hyperparameters({}).default_plan() is None


def test_the_given_settings_stay_out_of_the_manifest_copy_of_the_config() -> None:
    config = TrainConfig.from_hyperparameters({"presets": "best", "eta": "0.2"})
    assert config.given == frozenset({"presets", "eta"})
    assert "given" not in config.to_dict()
