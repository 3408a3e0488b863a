"""The model zoo: every adapter found by ``available_libraries()`` honours the same contract, plus k-fold
splits.

Each test is parametrized over ``available_libraries()``, so a new ``<library>_model.py`` is tested as soon as
it exists (it only needs an entry in ``REJECTED_OVERRIDES``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import make_regression

from ensemble_byoc.errors import NotFittedError, UserError
from ensemble_byoc.models import available_libraries, load_spec
from ensemble_byoc.models.base import BoosterParams, Model, ModelSpec
from ensemble_byoc.training.units import make_folds

LIBRARIES = available_libraries()
PARAMS = BoosterParams(learning_rate=0.3, max_depth=3, num_round=40, early_stopping_rounds=5, seed=0)
N_THREADS = 1
FEATURES = ("f0", "f1", "f2", "f3", "f4")

REJECTED_OVERRIDES: dict[str, list[tuple[dict[str, object], str]]] = {
    # library -> [(override the library rejects at fit, the library's own reason the user should read)]
    "catboost": [({"no_such_param": 1}, r"Unknown option"), ({"max_depth": -5}, r"depth")],
    "lightgbm": [({"objective": "no_such_objective"}, r"Unknown objective")],
    "xgboost": [
        ({"objective": "no_such_objective"}, r"Unknown objective"),
        ({"max_depth": -5}, r"should be greater equal to 0"),
    ],
}

REJECTION_CASES = [
    pytest.param(library, override, reason, id=f"{library}-{next(iter(override))}")
    for library in LIBRARIES
    for override, reason in REJECTED_OVERRIDES.get(library, [({}, "")])
]


def _data(n_rows: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_regression(n_rows=n_rows, n_features=len(FEATURES), seed=3)
    cut = int(n_rows * 0.7)
    return X[:cut], y[:cut], X[cut:], y[cut:]


def _fit(spec: ModelSpec, params: BoosterParams = PARAMS, overrides: dict[str, object] | None = None,
         y_valid: np.ndarray | None = None) -> Model:
    X, y, X_valid, default_y_valid = _data()
    return spec.create(params, overrides or {}, N_THREADS).fit(
        X, y, X_valid=X_valid, y_valid=default_y_valid if y_valid is None else y_valid, feature_names=FEATURES
    )


@pytest.fixture(scope="module", params=LIBRARIES)
def fitted(request: pytest.FixtureRequest) -> tuple[ModelSpec, Model]:
    spec = load_spec(request.param)
    return spec, _fit(spec)


# -- discovery --------------------------------------------------------------------------------------------


def test_the_image_has_catboost_lightgbm_and_xgboost_adapters() -> None:
    assert available_libraries() == ("catboost", "lightgbm", "xgboost")


@pytest.mark.parametrize("library", LIBRARIES)
def test_each_adapter_spec_is_named_after_its_file_and_reports_a_version(library: str) -> None:
    spec = load_spec(library)
    assert spec.name == library
    assert spec.file_suffix.startswith(".")
    assert re.match(r"\d+\.\d+", spec.library_version())


def test_asking_for_an_unknown_library_is_a_user_error_listing_the_available_ones() -> None:
    with pytest.raises(UserError, match=r"Unknown library 'nope'.*catboost, lightgbm, xgboost") as info:
        load_spec("nope")
    assert info.value.status_code == 400


# -- fit / predict / save / load --------------------------------------------------------------------------


def test_a_fitted_model_predicts_one_finite_float64_per_row(fitted: tuple[ModelSpec, Model]) -> None:
    _, model = fitted
    X, _, X_valid, _ = _data()
    prediction = model.predict(X_valid)
    assert prediction.dtype == np.float64
    assert prediction.shape == (X_valid.shape[0],)
    assert np.all(np.isfinite(prediction))
    assert model.predict(X).shape == (X.shape[0],)


def test_a_fitted_model_learns_better_than_predicting_the_mean(fitted: tuple[ModelSpec, Model]) -> None:
    _, model = fitted
    _, y, X_valid, y_valid = _data()
    model_rmse = float(np.sqrt(np.mean((model.predict(X_valid) - y_valid) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((y.mean() - y_valid) ** 2)))
    assert model_rmse < mean_rmse


def test_a_saved_and_loaded_model_predicts_exactly_what_the_fitted_one_did(
    fitted: tuple[ModelSpec, Model], tmp_path: Path
) -> None:
    spec, model = fitted
    path = tmp_path / f"model{spec.file_suffix}"
    model.save(path)
    loaded = spec.load(path, N_THREADS)
    X, _, X_valid, _ = _data()
    np.testing.assert_array_equal(loaded.predict(X_valid), model.predict(X_valid))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.best_iteration_ == model.best_iteration_


def test_best_iteration_is_at_least_one_and_at_most_num_round(fitted: tuple[ModelSpec, Model]) -> None:
    _, model = fitted
    assert 1 <= model.best_iteration_ <= PARAMS.num_round


@pytest.mark.parametrize("library", LIBRARIES)
def test_an_early_stopped_model_keeps_only_its_best_iteration_rounds(library: str, tmp_path: Path) -> None:
    spec = load_spec(library)
    _, _, X_valid, _ = _data()
    # Labels unrelated to the features make the held-out score worsen almost at once.
    noise = np.random.default_rng(11).normal(scale=10.0, size=X_valid.shape[0])
    stopped = _fit(spec, y_valid=noise)
    assert 1 <= stopped.best_iteration_ < PARAMS.num_round

    path = tmp_path / f"stopped{spec.file_suffix}"
    stopped.save(path)
    loaded = spec.load(path, N_THREADS)
    assert loaded.best_iteration_ == stopped.best_iteration_

    # The kept trees are exactly the first best_iteration_ ones: a model trained for that many rounds
    # without early stopping predicts the same.
    exact = BoosterParams(learning_rate=0.3, max_depth=3, num_round=stopped.best_iteration_,
                          early_stopping_rounds=0, seed=0)
    reference = _fit(spec, params=exact, y_valid=noise)
    X, _, _, _ = _data()
    np.testing.assert_array_equal(stopped.predict(X), reference.predict(X))
    np.testing.assert_array_equal(loaded.predict(X), reference.predict(X))


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_same_seed_gives_the_same_model(library: str) -> None:
    spec = load_spec(library)
    X, _, _, _ = _data()
    np.testing.assert_array_equal(_fit(spec).predict(X), _fit(spec).predict(X))


@pytest.mark.parametrize("library", LIBRARIES)
def test_predicting_before_fit_raises_not_fitted(library: str) -> None:
    model = load_spec(library).create(PARAMS, {}, N_THREADS)
    X, _, _, _ = _data()
    with pytest.raises(NotFittedError, match="before fit"):
        model.predict(X)


@pytest.mark.parametrize("library", LIBRARIES)
def test_saving_before_fit_raises_not_fitted_and_writes_no_file(library: str, tmp_path: Path) -> None:
    spec = load_spec(library)
    path = tmp_path / f"model{spec.file_suffix}"
    with pytest.raises(NotFittedError, match="before fit"):
        spec.create(PARAMS, {}, N_THREADS).save(path)
    assert not path.exists()


@pytest.mark.parametrize("library", LIBRARIES)
def test_feature_importance_before_fit_raises_not_fitted_naming_the_adapter_and_call(library: str) -> None:
    model = load_spec(library).create(PARAMS, {}, N_THREADS)
    name = type(model).__name__
    with pytest.raises(NotFittedError, match=rf"^{name}\.feature_importance called before fit\.$"):
        model.feature_importance()


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_shared_hyperparameter_reaches_the_library_by_its_own_name_and_a_user_override_wins(
    library: str
) -> None:
    spec = load_spec(library)
    own_name = spec.model.shared_names["reg_lambda"]
    params = replace(PARAMS, reg_lambda=2.0)
    assert spec.create(params, {}, N_THREADS).library_params()[own_name] == 2.0
    overridden = spec.create(params, {own_name: 5.0, "early_stopping_rounds": 0}, N_THREADS).library_params()
    assert overridden[own_name] == 5.0
    assert "early_stopping_rounds" not in overridden  # read by the adapter itself, not a library parameter


def test_without_max_depth_lightgbm_grows_leaf_wise_on_large_data_and_a_given_depth_applies_to_all() -> None:
    def shape(library: str, params: BoosterParams,
              overrides: dict[str, object] | None = None) -> dict[str, object]:
        own = load_spec(library).create(params, overrides or {}, N_THREADS).library_params()
        names = ("depth", "max_depth", "num_leaves", "min_data_in_leaf", "feature_fraction")
        return {name: own[name] for name in names if name in own}

    small, large = replace(PARAMS, max_depth=None, rows=39_999), replace(PARAMS, max_depth=None, rows=40_000)
    for params in (small, large):
        assert shape("catboost", params) == {"depth": 6}
        assert shape("xgboost", params) == {"max_depth": 6}
    assert shape("lightgbm", small) == {"max_depth": 6, "num_leaves": 64}
    assert shape("lightgbm", small, {"num_leaves": 200}) == {"max_depth": 8, "num_leaves": 200}  # not 64
    assert shape("lightgbm", small, {"num_leaves": 15}) == {"max_depth": 6, "num_leaves": 15}
    assert shape("lightgbm", large) == {"max_depth": -1, "num_leaves": 128, "min_data_in_leaf": 3,
                                        "feature_fraction": 0.9}
    assert shape("lightgbm", replace(large, colsample_bytree=0.5), {"num_leaves": 31}) == {
        "max_depth": -1, "num_leaves": 31, "min_data_in_leaf": 3, "feature_fraction": 0.5}
    four = replace(large, max_depth=4)
    assert (shape("catboost", four), shape("xgboost", four), shape("lightgbm", four)) == (
        {"depth": 4}, {"max_depth": 4}, {"max_depth": 4, "num_leaves": 16})


@pytest.mark.parametrize(("objective", "expected"), [
    ("absolute_error", {"catboost": ("loss_function", "MAE"), "lightgbm": ("objective", "regression_l1"),
                        "xgboost": ("objective", "reg:absoluteerror")}),
    ("huber", {"catboost": ("loss_function", "Huber:delta=2.5"), "lightgbm": ("alpha", 2.5),
               "xgboost": ("huber_slope", 2.5)}),
])
def test_the_regression_objective_reaches_each_library_as_its_own_loss(
    objective: str, expected: dict[str, tuple[str, object]]
) -> None:
    params = replace(PARAMS, objective=objective, huber_delta=2.5, eval_metric="mae")
    for library, (name, value) in expected.items():
        own = load_spec(library).create(params, {}, N_THREADS).library_params()
        assert own[name] == value, library
        assert own["metric" if library == "lightgbm" else "eval_metric"] in ("MAE", "l1", "mae"), library


@pytest.mark.parametrize("objective", ["absolute_error", "huber"])
def test_a_model_trained_on_another_regression_loss_predicts_finite_values_near_the_labels(
    objective: str,
) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = 1000.0 + 5.0 * X[:, 0] + rng.standard_t(2, size=300)  # heavy tails, far from 0
    params = replace(PARAMS, objective=objective, huber_delta=1.0)
    for library in ("catboost", "lightgbm", "xgboost"):
        model = load_spec(library).create(params, {}, N_THREADS).fit(
            X[:240], y[:240], X_valid=X[240:], y_valid=y[240:], feature_names=("a", "b", "c"))
        prediction = model.predict(X[240:])
        assert np.isfinite(prediction).all(), library
        assert np.median(np.abs(prediction - y[240:])) < np.median(np.abs(y[240:] - np.median(y))), library


# -- rejected overrides -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("library", "override", "reason"), REJECTION_CASES)
def test_a_parameter_the_library_rejects_is_a_user_error_naming_library_and_parameter(
    library: str, override: dict[str, object], reason: str
) -> None:
    if not override:
        pytest.fail(f"Add an override that {library} rejects at fit to REJECTED_OVERRIDES.")
    (name, value), = override.items()
    with pytest.raises(UserError) as info:
        _fit(load_spec(library), overrides=override)
    message = str(info.value)
    assert message.startswith(f"{library} rejected its parameters")
    assert f"{library}__{name}={value!r}" in message
    assert info.value.status_code == 400


@pytest.mark.parametrize(("library", "override", "reason"), REJECTION_CASES)
def test_a_rejected_parameter_message_carries_the_library_reason_not_a_stack_trace(
    library: str, override: dict[str, object], reason: str
) -> None:
    if not override:
        pytest.fail(f"Add an override that {library} rejects at fit to REJECTED_OVERRIDES.")
    with pytest.raises(UserError) as info:
        _fit(load_spec(library), overrides=override)
    _, _, library_reason = str(info.value).partition("): ")
    assert "[bt]" not in library_reason, f"the reason shown is a native stack-trace frame: {library_reason!r}"
    assert re.search(reason, library_reason), f"the library's reason is lost: {str(info.value)!r}"


def test_lightgbm_models_fitting_at_once_in_two_threads_each_refuse_only_their_own_misspelt_name() -> None:
    spec, rounds = load_spec("lightgbm"), 8
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"num_leafs": [], "num_leaves": []}

    def fit_each_round(name: str) -> None:
        for _ in range(rounds):
            barrier.wait()  # both threads start a fit at the same moment
            try:
                _fit(spec, overrides={name: 8})
                outcomes[name].append("trained")
            except UserError as exc:
                outcomes[name].append(str(exc))

    threads = [threading.Thread(target=fit_each_round, args=(name,)) for name in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert outcomes["num_leaves"] == ["trained"] * rounds
    assert len(outcomes["num_leafs"]) == rounds
    assert all("does not know the parameter(s) lightgbm__num_leafs" in outcome
               for outcome in outcomes["num_leafs"]), outcomes["num_leafs"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_valid_override_is_applied_and_trains(library: str) -> None:
    spec = load_spec(library)
    model = _fit(spec, overrides={"early_stopping_rounds": 0})
    assert model.best_iteration_ == PARAMS.num_round


@pytest.mark.parametrize(("overrides", "section"), [({"max_bin": 16}, "tree_train_param"),
                                                    ({"tree_method": "approx"}, "gbtree_train_param"),
                                                    ({"tree_method": "exact"}, "gbtree_train_param")])
def test_xgboost_trains_with_another_bin_count_or_tree_method_a_user_sets(
    overrides: dict[str, object], section: str
) -> None:
    model = _fit(load_spec("xgboost"), overrides=overrides)
    trained_with = json.loads(model.fitted("config").save_config())["learner"]["gradient_booster"][section]
    assert {name: trained_with[name] for name in overrides} == {k: str(v) for k, v in overrides.items()}
    assert np.isfinite(model.predict(_data()[2])).all()


# -- k-fold splits ----------------------------------------------------------------------------------------


def test_fewer_rows_than_k_fold_is_a_user_error_naming_both_numbers() -> None:
    with pytest.raises(UserError, match=r"3 rows.*k_fold == 5"):
        make_folds(n_rows=3, k_fold=5, seed=0)


def test_as_many_rows_as_k_fold_gives_one_held_out_row_per_fold() -> None:
    folds = make_folds(n_rows=4, k_fold=4, seed=0)
    assert [fold.valid_rows.size for fold in folds] == [1, 1, 1, 1]


@pytest.mark.parametrize(("n_rows", "k_fold"), [(10, 2), (103, 5), (150, 3)])
def test_folds_partition_the_rows(n_rows: int, k_fold: int) -> None:
    folds = make_folds(n_rows=n_rows, k_fold=k_fold, seed=1)
    assert [fold.index for fold in folds] == list(range(k_fold))
    held_out = np.concatenate([fold.valid_rows for fold in folds])
    np.testing.assert_array_equal(np.sort(held_out), np.arange(n_rows))
    for fold in folds:
        assert np.intersect1d(fold.train_rows, fold.valid_rows).size == 0
        np.testing.assert_array_equal(np.union1d(fold.train_rows, fold.valid_rows), np.arange(n_rows))
    sizes = [fold.valid_rows.size for fold in folds]
    assert max(sizes) - min(sizes) <= 1


def test_the_same_seed_gives_the_same_folds_and_another_seed_other_folds() -> None:
    first = make_folds(n_rows=50, k_fold=5, seed=42)
    again = make_folds(n_rows=50, k_fold=5, seed=42)
    other = make_folds(n_rows=50, k_fold=5, seed=43)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.valid_rows, b.valid_rows)
        np.testing.assert_array_equal(a.train_rows, b.train_rows)
    assert any(not np.array_equal(a.valid_rows, c.valid_rows) for a, c in zip(first, other, strict=True))


def test_folds_are_shuffled_not_contiguous_blocks() -> None:
    folds = make_folds(n_rows=50, k_fold=5, seed=0)
    assert any(not np.array_equal(fold.valid_rows, np.arange(fold.valid_rows[0], fold.valid_rows[0] + 10))
               for fold in folds)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_stop_requested_before_the_first_round_ends_keeps_a_model_that_predicts(library: str) -> None:
    spec = load_spec(library)
    X, y, X_valid, y_valid = _data()

    model = spec.create(PARAMS, {}, N_THREADS).fit(X, y, X_valid=X_valid, y_valid=y_valid,
                                                   feature_names=FEATURES, should_stop=lambda: True)

    assert model.best_iteration_ >= 1
    assert np.isfinite(model.predict(X_valid)).all()
