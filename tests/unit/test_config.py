"""TrainConfig.from_hyperparameters and decode_value: what SageMaker writes into hyperparameters.json."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import SHARED_CONFIGS

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.hyperparameter_values import decode_value

ALL_LIBRARIES = ("catboost", "lightgbm", "xgboost")


def shared_config(name: str) -> dict[str, Any]:
    path = SHARED_CONFIGS / name
    if not path.is_file():
        pytest.skip(f"shared SageMaker example {path} is not available")
    return json.loads(path.read_text())


# --- decode_value -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5", 5),
        ("0.2", 0.2),
        ("-3", -3),
        ('"xgboost"', "xgboost"),
        ('"reg:squarederror"', "reg:squarederror"),
        ('"5"', "5"),
        ('["xgboost", "lightgbm"]', ["xgboost", "lightgbm"]),
        ("true", True),
        ("xgboost,lightgbm", "xgboost,lightgbm"),
        ("reg:squarederror", "reg:squarederror"),
        ("", ""),
        (7, 7),
        (0.5, 0.5),
        (None, None),
    ],
)
def test_decode_value_undoes_sagemaker_string_encoding_and_keeps_plain_text(raw: Any, expected: Any) -> None:
    assert decode_value(raw) == expected
    assert type(decode_value(raw)) is type(expected)


# --- defaults and plain values ------------------------------------------------------------------


def test_empty_hyperparameters_give_the_documented_defaults() -> None:
    config = TrainConfig.from_hyperparameters({})
    assert config.k_fold == 5
    assert config.models == ALL_LIBRARIES
    assert config.eta == 0.1
    assert config.max_depth is None  # each library's own tree shape
    assert config.seed == 0
    assert config.target is None
    assert config.subsample is None
    assert config.overrides_for("xgboost") == {}
    assert config.validation_mode == "cv"


def test_every_value_arrives_as_a_string_and_is_parsed_to_its_type() -> None:
    config = TrainConfig.from_hyperparameters({
        "k_fold": "3", "eta": "0.25", "max_depth": "4", "num_round": "200", "early_stopping_rounds": "0",
        "seed": "42", "subsample": "0.8", "colsample_bytree": "1", "reg_lambda": "0", "target": "price",
    })
    assert (config.k_fold, config.max_depth, config.num_round, config.early_stopping_rounds, config.seed) == (
        3, 4, 200, 0, 42)
    assert all(isinstance(v, int) for v in (config.k_fold, config.max_depth, config.num_round, config.seed))
    assert config.eta == 0.25
    assert config.subsample == 0.8
    assert config.colsample_bytree == 1.0
    assert config.reg_lambda == 0.0
    assert config.target == "price"


def test_double_json_encoded_values_from_framework_estimators_are_accepted() -> None:
    config = TrainConfig.from_hyperparameters({
        "models": '"xgboost"', "k_fold": '"4"', "eta": '"0.3"', "target": '"price"',
    })
    assert config.models == ("xgboost",)
    assert config.k_fold == 4
    assert config.eta == 0.3
    assert config.target == "price"


def test_whole_number_written_as_float_is_accepted_for_an_integer_setting() -> None:
    assert TrainConfig.from_hyperparameters({"k_fold": "5.0"}).k_fold == 5


def test_sdk2_local_mode_hyperparameters_file_is_parsed() -> None:
    config = TrainConfig.from_hyperparameters(shared_config("sdk2-local-hyperparameters.json"))
    assert config.eta == 0.2
    assert config.max_depth == 5
    assert config.k_fold == 5
    assert config.models == ALL_LIBRARIES


def test_amt_tuning_objective_and_sagemaker_keys_are_accepted_and_ignored() -> None:
    raw = shared_config("amt-hyperparameters.json")
    assert "_tuning_objective_metric" in raw
    assert any(key.startswith("sagemaker_") for key in raw)
    config = TrainConfig.from_hyperparameters(raw)
    assert config.eta == 0.2436
    assert config.max_depth == 4
    assert config.k_fold == 5
    assert config.library_params == {}
    assert not any(key.startswith(("sagemaker_", "_")) for key in config.to_dict())


# --- aliases ------------------------------------------------------------------------------------


def test_learning_rate_is_an_alias_of_eta() -> None:
    assert TrainConfig.from_hyperparameters({"learning_rate": "0.05"}).eta == 0.05


def test_lambda_is_an_alias_of_reg_lambda() -> None:
    assert TrainConfig.from_hyperparameters({"lambda": "2.5"}).reg_lambda == 2.5


@pytest.mark.parametrize(
    ("raw", "first", "second"),
    [
        ({"eta": "0.1", "learning_rate": "0.2"}, "eta", "learning_rate"),
        ({"learning_rate": "0.2", "eta": "0.1"}, "eta", "learning_rate"),
        ({"lambda": "1", "reg_lambda": "1"}, "lambda", "reg_lambda"),
    ],
)
def test_giving_both_spellings_of_one_setting_is_an_error_naming_both(
    raw: dict[str, str], first: str, second: str
) -> None:
    with pytest.raises(UserError, match="same setting; give only one") as caught:
        TrainConfig.from_hyperparameters(raw)
    assert repr(first) in str(caught.value)
    assert repr(second) in str(caught.value)


# --- models -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ("xgboost", ("xgboost",)),
        ("xgboost,lightgbm", ("xgboost", "lightgbm")),
        (" XGBoost , LightGBM ", ("xgboost", "lightgbm")),
        ("xgboost,xgboost,catboost", ("xgboost", "catboost")),
        ('["catboost", "xgboost"]', ("catboost", "xgboost")),
        ('"lightgbm,catboost"', ("lightgbm", "catboost")),
    ],
)
def test_models_accepts_a_comma_list_or_a_json_list(models: str, expected: tuple[str, ...]) -> None:
    assert TrainConfig.from_hyperparameters({"models": models}).models == expected


# --- per-library overrides ----------------------------------------------------------------------


def test_per_library_override_is_decoded_and_offered_to_that_library_only() -> None:
    config = TrainConfig.from_hyperparameters({
        "xgboost__max_bin": "256", "xgboost__tree_method": '"hist"', "lightgbm__num_leaves": "31",
    })
    assert config.overrides_for("xgboost") == {"max_bin": 256, "tree_method": "hist"}
    assert isinstance(config.overrides_for("xgboost")["max_bin"], int)
    assert config.overrides_for("lightgbm") == {"num_leaves": 31}
    assert config.overrides_for("catboost") == {}


def test_to_dict_is_json_serialisable_and_round_trips_the_values() -> None:
    config = TrainConfig.from_hyperparameters({
        "models": "xgboost,lightgbm", "eta": "0.2", "xgboost__max_bin": "256", "target": "y",
    })
    data = json.loads(json.dumps(config.to_dict()))
    assert data["models"] == ["xgboost", "lightgbm"]
    assert data["eta"] == 0.2
    assert data["k_fold"] == 5
    assert data["target"] == "y"
    assert data["library_params"] == {"xgboost": {"max_bin": 256}}


def test_target_that_looks_like_a_number_is_kept_as_written() -> None:
    # A CSV header column may be named "1.50"; the target must name it verbatim.
    assert TrainConfig.from_hyperparameters({"target": "1.50"}).target == "1.50"


# --- errors -------------------------------------------------------------------------------------


ERROR_CASES: list[tuple[dict[str, Any], str]] = [
    # unknown keys, with the closest valid name
    ({"max_dpeth": "3"}, r"Unknown hyperparameter 'max_dpeth' \(did you mean 'max_depth'\?\)"),
    ({"kfold": "3"}, r"Unknown hyperparameter 'kfold' \(did you mean 'k_fold'\?\)"),
    ({"learnig_rate": "0.1"}, r"Unknown hyperparameter 'learnig_rate' \(did you mean 'learning_rate'\?\)"),
    ({"objective": "reg:squarederror"},
     r"Hyperparameter 'objective' == 'reg:squarederror' \(did you mean 'squared_error'\?\); choose one of "
     r"squared_error, absolute_error, huber"),
    ({"huber_delta": "0"}, r"Hyperparameter 'huber_delta' == 0, must be > 0"),
    ({"objective": "absolute_error", "problem_type": "multiclass"},
     r"'objective' == 'absolute_error' is a regression loss, but problem_type is 'multiclass'"),
    # unparseable values name the key and the value
    ({"k_fold": "five"}, r"Hyperparameter 'k_fold': could not parse 'five' as an integer"),
    ({"max_depth": "3.5"}, r"Hyperparameter 'max_depth': could not parse 3\.5 as an integer"),
    ({"seed": "true"}, r"Hyperparameter 'seed': could not parse True as an integer"),
    ({"eta": "fast"}, r"Hyperparameter 'eta': could not parse 'fast' as a number"),
    ({"k_fold": "NaN"}, r"Hyperparameter 'k_fold': could not parse nan as an integer"),
    # out-of-range values name the rule
    ({"k_fold": "1"}, r"Hyperparameter 'k_fold' == 1, must be >= 2"),
    ({"k_fold": "101"}, r"Hyperparameter 'k_fold' == 101, must be <= 100"),
    ({"eta": "0"}, r"Hyperparameter 'eta' == 0, must be > 0"),
    ({"eta": "1.5"}, r"Hyperparameter 'eta' == 1\.5, must be <= 1"),
    ({"learning_rate": "-0.1"}, r"Hyperparameter 'learning_rate' == -0\.1, must be > 0"),
    ({"max_depth": "17"}, r"Hyperparameter 'max_depth' == 17, must be <= 16"),
    ({"max_depth": "0"}, r"Hyperparameter 'max_depth' == 0, must be >= 1"),
    ({"subsample": "0"}, r"Hyperparameter 'subsample' == 0, must be > 0"),
    ({"colsample_bytree": "1.01"}, r"Hyperparameter 'colsample_bytree' == 1\.01, must be <= 1"),
    ({"seed": "-1"}, r"Hyperparameter 'seed' == -1, must be >= 0"),
    ({"seed": "2147483648"}, r"Hyperparameter 'seed' == 2147483648, must be <= 2147483647\."),
    ({"num_round": "0"}, r"Hyperparameter 'num_round' == 0, must be >= 1"),
    ({"num_round": "100001"}, r"Hyperparameter 'num_round' == 100001, must be <= 100000\."),
    ({"early_stopping_rounds": "-1"}, r"Hyperparameter 'early_stopping_rounds' == -1, must be >= 0"),
    ({"lambda": "-1"}, r"Hyperparameter 'lambda' == -1, must be >= 0"),
    ({"eta": "NaN"}, r"Hyperparameter 'eta' == nan, must be a finite number"),
    ({"eta": "nan"}, r"Hyperparameter 'eta' == 'nan', must be a finite number"),
    ({"subsample": "Infinity"}, r"Hyperparameter 'subsample' == inf, must be a finite number"),
    # models
    ({"models": "xgbost"}, r"unknown library 'xgbost' \(did you mean 'xgboost'\?\); "
                           r"choose one or more of catboost, lightgbm, xgboost"),
    ({"models": "xgboost,sklearn"}, r"Hyperparameter 'models': unknown library 'sklearn'"),
    ({"models": ""}, r"Hyperparameter 'models' is empty; choose one or more of catboost, lightgbm, xgboost"),
    ({"models": " , "}, r"Hyperparameter 'models' is empty"),
    ({"models": "[]"}, r"Hyperparameter 'models' is empty"),
    # target
    ({"target": "  "}, r"Hyperparameter 'target' is empty"),
    # validation_mode
    ({"validation_mode": "hold-out"},
     r"Hyperparameter 'validation_mode' == 'hold-out' \(did you mean 'holdout'\?\); "
     r"choose one of cv, holdout"),
    # per-library prefixes
    ({"sklearn__x": "1"}, r"Hyperparameter 'sklearn__x': per-library parameters are written "
                          r"<library>__<parameter> with a library among catboost, lightgbm, xgboost"),
    ({"xgboost__": "1"}, r"Hyperparameter 'xgboost__': per-library parameters are written"),
]


@pytest.mark.parametrize(
    ("hyperparameters", "message"), ERROR_CASES, ids=[json.dumps(case) for case, _ in ERROR_CASES]
)
def test_invalid_hyperparameters_fail_naming_the_key_and_the_rule(
    hyperparameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        TrainConfig.from_hyperparameters(hyperparameters)


def test_unknown_hyperparameter_names_the_closest_valid_name() -> None:
    with pytest.raises(UserError, match=re.escape("did you mean 'max_depth'?")):
        TrainConfig.from_hyperparameters({"k_fold": "3", "max_dpeth": "3"})


def test_invalid_hyperparameter_error_is_a_user_error_with_status_400() -> None:
    with pytest.raises(UserError) as caught:
        TrainConfig.from_hyperparameters({"k_fold": "1"})
    assert caught.value.status_code == 400
    assert caught.value.kind == "UserError"


def test_reserved_keys_are_ignored_even_when_their_values_are_not_valid_settings() -> None:
    config = TrainConfig.from_hyperparameters({
        "_tuning_objective_metric": "validation:rmse", "sagemaker_program": '"train.py"',
        "sagemaker_container_log_level": "20",
    })
    assert config == TrainConfig.from_hyperparameters({})


def test_presets_fill_in_defaults_that_given_hyperparameters_override() -> None:
    fast = TrainConfig.from_hyperparameters({"presets": "fast"})
    assert (fast.k_fold, fast.num_round, fast.early_stopping_rounds, fast.portfolio_size) == (3, 500, 30, 1)
    best = TrainConfig.from_hyperparameters({"presets": "best", "eta": "0.2"})
    assert (best.k_fold, best.eta, best.portfolio_size) == (8, 0.2, 2)
    assert TrainConfig.from_hyperparameters({}).presets == "medium"


def test_portfolio_members_are_named_after_their_library_and_user_overrides_win() -> None:
    config = TrainConfig.from_hyperparameters({"portfolio_size": "2", "models": "xgboost",
                                               "xgboost__max_depth": "3"})
    members = config.members()
    assert [m.name for m in members] == ["xgboost", "xgboost-2"]
    assert all(m.library == "xgboost" for m in members)
    assert members[1].overrides["max_depth"] == 3
    assert members[1].overrides["colsample_bytree"] == 0.7


@pytest.mark.parametrize(("raw", "message"), [
    ({"presets": "slow"}, "Hyperparameter 'presets' == 'slow'; choose one of fast, medium, best."),
    ({"portfolio_size": "4"}, "Hyperparameter 'portfolio_size' == 4, must be <= 3."),
    ({"refit_full": "maybe"}, "Hyperparameter 'refit_full': could not parse 'maybe' as true or false."),
    ({"blend": "median"}, "Hyperparameter 'blend' == 'median' (did you mean 'mean'?); choose one of"),
    ({"problem_type": "ranking"}, "Hyperparameter 'problem_type' == 'ranking'; choose one of regression"),
])
def test_ensemble_options_with_bad_values_fail_naming_the_rule(raw, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        TrainConfig.from_hyperparameters(raw)


def test_label_check_is_on_by_default_and_parsed_as_true_or_false() -> None:
    assert TrainConfig.from_hyperparameters({}).label_check is True
    assert TrainConfig.from_hyperparameters({"label_check": "false"}).label_check is False
    assert TrainConfig.from_hyperparameters({"label_check": '"False"'}).label_check is False
    with pytest.raises(UserError, match=re.escape(
            "Hyperparameter 'label_check': could not parse 'off' as true or false.")):
        TrainConfig.from_hyperparameters({"label_check": "off"})
    with pytest.raises(UserError, match=re.escape(
            "Unknown hyperparameter 'label_chek' (did you mean 'label_check'?).")):
        TrainConfig.from_hyperparameters({"label_chek": "false"})
