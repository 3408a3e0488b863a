"""Asking for explanations: ``explain=shap`` or ``explain=none`` in the custom-attributes header, over the
endpoint's default; the cap on explained rows; and the columns explanations add to an answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ensemble_byoc.bundle.explain import MARGIN, PREDICTION, Explanation
from ensemble_byoc.errors import TooManyRowsToExplainError, UserError
from ensemble_byoc.serving.codecs.response_codecs import Prediction
from ensemble_byoc.serving.custom_attributes import Requested, read_header
from ensemble_byoc.serving.explaining import check_rows_to_explain
from ensemble_byoc.serving.handlers import output_fn

LIBRARIES = ("catboost", "lightgbm", "xgboost")


@pytest.mark.parametrize(("header", "default", "expected"), [
    (None, False, False),
    (None, True, True),
    ("explain=shap", False, True),
    ("Explain=SHAP", False, True),
    ("explain=none", True, False),
    ("trace=1; models=xgboost; explain=shap", False, True),
    ("explain=shap; explain=none", False, True),
])
def test_the_explain_attribute_or_else_the_endpoint_default_decides(
    header: str | None, default: bool, expected: bool
) -> None:
    assert read_header(header, LIBRARIES, "regression", explain=default).explain is expected


def test_explain_combines_with_models_and_outputs() -> None:
    requested = read_header("models=xgboost; outputs=probabilities; explain=shap", LIBRARIES, "binary")
    assert requested == Requested(libraries=("xgboost",), outputs=("probabilities",), explain=True)


@pytest.mark.parametrize(("header", "shown"), [
    ("explain=bogus", "'bogus'"), ("explain=", "''"), ("explain=shap,none", "'shap,none'"),
    ("explain=true", "'true'"),
])
def test_any_other_explain_value_is_a_400_naming_it_and_the_choices(header: str, shown: str) -> None:
    with pytest.raises(UserError, match=rf"explain == {shown}, must be one of shap, none\.") as raised:
        read_header(header, LIBRARIES, "regression", explain=True)
    assert raised.value.status_code == 400


def test_explaining_more_rows_than_the_cap_is_a_413_naming_the_cap_the_rows_and_the_variable() -> None:
    check_rows_to_explain(10, 10)
    expected = r"explain 11 rows; at most 10 rows are explained per request \(ENSEMBLE_BYOC_EXPLAIN_MAX_ROWS"
    with pytest.raises(TooManyRowsToExplainError, match=expected) as raised:
        check_rows_to_explain(11, 10)
    assert raised.value.status_code == 413


def explained(outputs: tuple[object, ...], space: str) -> Prediction:
    """Two answers, the second a gap (a blank batch line), two features and ``len(outputs) or 1`` outputs."""
    k = len(outputs) or 1
    values = np.arange(2.0 * k * 2).reshape(2, k, 2) / 4
    values[1] = np.nan
    base = np.array([[0.5] * k, [np.nan] * k])
    return Prediction(scores=np.array([1.0, np.nan]),
                      explanation=Explanation(("a", "b"), outputs, values, base, space))


def test_a_single_output_explanation_is_a_feature_object_and_a_base_value_per_row() -> None:
    body, _ = output_fn(explained((), PREDICTION), "application/jsonlines")
    assert [json.loads(line) for line in body.decode().splitlines()] == [
        {"score": 1.0, "explanations": {"a": 0.0, "b": 0.25}, "base_value": 0.5},
        {"score": None, "explanations": None, "base_value": None},
    ]
    csv_body, _ = output_fn(explained((), PREDICTION), "text/csv")
    assert csv_body == b"1.0,0.0,0.25,0.5\n,,,\n"


def test_a_multiclass_explanation_is_keyed_by_class_label_and_one_csv_block_per_class() -> None:
    body, _ = output_fn(explained((0, "b"), MARGIN), "application/json")
    first = json.loads(body)["predictions"][0]
    assert first["explanations"] == {"0": {"a": 0.0, "b": 0.25}, "b": {"a": 0.5, "b": 0.75}}
    assert first["base_value"] == {"0": 0.5, "b": 0.5}
    csv_body, _ = output_fn(explained((0, "b"), MARGIN), "text/csv")
    assert csv_body == b"1.0,0.0,0.25,0.5,0.5,0.75,0.5\n,,,,,,\n"
