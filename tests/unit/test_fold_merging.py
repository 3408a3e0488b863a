"""Merging k fold models of a library into one predictor, so serving makes one library call per library.

Tolerances, and why:

- CatBoost and LightGBM keep leaf values as doubles; the merged model sums the same values divided by k in
  another order, so it agrees with the fold mean to a few double ulps: ``rtol=1e-12``.
- XGBoost adds leaf values in float32 (2**-24, about 6e-8, relative precision per addition), both inside
  each fold model and inside the merged one, in a different order; over the ~100 trees here the rounding
  stays below 1e-6 of the predictions' scale, so the check is ``atol = 1e-6 * max |prediction|`` (an
  absolute tolerance, as a relative one is meaningless for predictions near zero). A real merge mistake,
  such as one fold's base_score instead of their mean, is off by about 1e-2 of the scale.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.bundle.artifacts import save_bundle
from ensemble_byoc.bundle.ensemble import Ensemble, merge_folds, probe_rows
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import BoosterParams, Model
from ensemble_byoc.serving.handlers import model_fn

PARAMS = BoosterParams(learning_rate=0.3, max_depth=3, num_round=40, early_stopping_rounds=5, seed=0)
FEATURES = ("f0", "f1", "f2", "f3", "f4")
K = 3
LIBRARIES = available_libraries()


def fit_folds(library: str, overrides: dict[str, object] | None = None, k: int = K,
              shift: float = 0.0) -> list[Model]:
    """k models of ``library``, each trained without one of k slices of the data, as the trainer does."""
    X, y = make_regression(n_rows=240, n_features=len(FEATURES), seed=11)
    y = y + shift
    spec = load_spec(library)
    slices = np.array_split(np.arange(len(y)), k)
    models = []
    for held_out in slices:
        train = np.setdiff1d(np.arange(len(y)), held_out)
        model = spec.create(PARAMS, overrides or {}, 1)
        models.append(model.fit(X[train], y[train], X_valid=X[held_out], y_valid=y[held_out],
                                feature_names=FEATURES))
    return models


def rows_to_compare() -> np.ndarray:
    X, _ = make_regression(n_rows=300, n_features=len(FEATURES), seed=12)
    X[::5, 1] = np.nan
    X[::7] = np.nan
    return np.vstack([X, probe_rows(len(FEATURES))])


@pytest.fixture(scope="module", params=LIBRARIES)
def folds(request: pytest.FixtureRequest) -> tuple[str, list[Model]]:
    return request.param, fit_folds(request.param)


def fold_mean(models: list[Model], X: np.ndarray) -> np.ndarray:
    return np.mean([model.predict(X) for model in models], axis=0)


def test_every_library_can_merge_its_folds(folds: tuple[str, list[Model]]) -> None:
    library, models = folds
    assert load_spec(library).merge_folds is not None
    assert load_spec(library).merge_folds(models) is not None  # type: ignore[misc]


def test_the_merged_model_predicts_the_mean_of_the_fold_models(folds: tuple[str, list[Model]]) -> None:
    library, models = folds
    merged = load_spec(library).merge_folds(models)  # type: ignore[misc]
    assert merged is not None
    X = rows_to_compare()
    expected = fold_mean(models, X)
    got = merged.predict(X)
    assert got.dtype == np.float64 and got.shape == expected.shape
    if library == "xgboost":  # float32 leaves (see the module docstring)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.max(np.abs(expected)))
    else:  # double leaves
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_merging_holds_for_any_number_of_folds_and_labels_far_from_zero() -> None:
    # A large label mean makes XGBoost's base_score and LightGBM's boost-from-average tree dominate.
    X = rows_to_compare()
    for library in LIBRARIES:
        models = fit_folds(library, k=5, shift=1000.0)
        merged = load_spec(library).merge_folds(models)  # type: ignore[misc]
        assert merged is not None
        expected = fold_mean(models, X)
        rtol = 1e-6 if library == "xgboost" else 1e-12
        np.testing.assert_allclose(merged.predict(X), expected, rtol=rtol)


@pytest.mark.parametrize(
    ("library", "overrides"),
    [("xgboost", {"objective": "count:poisson"}), ("lightgbm", {"objective": "poisson"}),
     ("lightgbm", {"reg_sqrt": True})],
    ids=["xgboost-poisson", "lightgbm-poisson", "lightgbm-sqrt"],
)
def test_a_model_with_a_link_function_is_not_merged(library: str, overrides: dict[str, object]) -> None:
    # The mean of exp(margin) is not exp(mean margin): such folds must stay folds.
    models = fit_folds(library, overrides, shift=20.0)
    assert load_spec(library).merge_folds(models) is None  # type: ignore[misc]


def test_xgboost_merged_model_predicts_the_same_bits_through_the_fast_path() -> None:
    models = fit_folds("xgboost")
    merged = load_spec("xgboost").merge_folds(models)  # type: ignore[misc]
    assert merged is not None
    assert merged.dense_predictor_ is not None  # type: ignore[attr-defined]  # the fast path is on
    X = rows_to_compare()
    slow = merged.booster_.inplace_predict(X, validate_features=False).astype(np.float64)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(merged.predict(X), slow)
    np.testing.assert_array_equal(merged.predict(X[:1]), slow[:1])
    assert merged.predict(X[:0]).shape == (0,)


# -- the served ensemble ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fold_ensemble() -> Ensemble:
    members = {library: fit_folds(library) for library in LIBRARIES}
    weights = {library: 1 / len(LIBRARIES) for library in LIBRARIES}
    return Ensemble(feature_names=FEATURES, members=members, weights=weights)


def test_a_served_model_makes_one_library_call_per_library_and_predicts_the_fold_ensemble(
    fold_ensemble: Ensemble, tmp_path: Path
) -> None:
    save_bundle(tmp_path / "model", fold_ensemble, blend_method="mean", extra={})
    served = model_fn(tmp_path / "model")
    assert ({library: len(models) for library, models in served.members.items()}
            == {lib: 1 for lib in LIBRARIES})
    unmerged = model_fn(tmp_path / "model", merge=False)
    assert ({library: len(models) for library, models in unmerged.members.items()}
            == {lib: K for lib in LIBRARIES})
    X = rows_to_compare()
    expected = fold_ensemble.predict(X)
    np.testing.assert_array_equal(unmerged.predict(X), expected)
    np.testing.assert_allclose(served.predict(X), expected, rtol=0, atol=1e-6 * np.max(np.abs(expected)))


def test_a_merged_model_that_disagrees_with_its_folds_is_dropped_with_a_warning(
    fold_ensemble: Ensemble, caplog: pytest.LogCaptureFixture
) -> None:
    def first_fold_only(models: object) -> Model:
        return fold_ensemble.members["xgboost"][0]

    with caplog.at_level(logging.WARNING, logger="ensemble_byoc.bundle.ensemble"):
        result = merge_folds(fold_ensemble, {"xgboost": first_fold_only}, probe_rows(len(FEATURES)))
    assert len(result.members["xgboost"]) == K
    assert "xgboost: the merged model differs from the fold mean" in caplog.text


def test_a_merger_that_fails_or_declines_leaves_the_folds(
    fold_ensemble: Ensemble, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(models: object) -> Model:
        raise RuntimeError("boom")

    with caplog.at_level(logging.INFO, logger="ensemble_byoc.bundle.ensemble"):
        result = merge_folds(fold_ensemble,
                             {"catboost": failing, "lightgbm": lambda models: None, "xgboost": None},
                             probe_rows(len(FEATURES)))
    assert ({library: len(models) for library, models in result.members.items()}
            == {lib: K for lib in LIBRARIES})
    assert "catboost: merging 3 fold models failed" in caplog.text
    assert "lightgbm: these 3 fold models cannot be merged exactly" in caplog.text


def test_a_served_model_loads_on_one_thread_and_predicts_the_same_on_the_threads_it_is_given(
    fold_ensemble: Ensemble, tmp_path: Path
) -> None:
    save_bundle(tmp_path / "model", fold_ensemble, blend_method="mean", extra={})
    served = model_fn(tmp_path / "model")
    X = rows_to_compare()
    one_thread = served.predict(X)
    served.use_threads(2)
    for library, (model,) in served.members.items():
        assert model.n_threads == 2, library
        if library == "xgboost":  # XGBoost predicts on its booster's own setting, not the adapter's
            config = json.loads(model.fitted("config").save_config())
            assert config["learner"]["generic_param"]["nthread"] == "2"
    np.testing.assert_array_equal(served.predict(X), one_thread)
