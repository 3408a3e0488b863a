"""``predict --explain``: the request carries ``CustomAttributes: explain=shap`` and asks for JSON (checked
against what moto records), and the answer prints as one block of contributions per row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_recorder import REGION, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)
from sagemaker.core.deserializers import CSVDeserializer

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher import explanation_table, predict
from ensemble_byoc.launcher.command_line import main

REGRESSION = {"predictions": [
    {"score": 8.75, "explanations": {f"f{i}": (-1) ** i * (i + 1) * 0.25 for i in range(13)},
     "base_value": 7.0},
]}
"""One row of 13 features: f12 (+3.25) is the largest, f0 (+0.25) the smallest; they sum to 1.75."""
BINARY = {"predictions": [
    {"predicted_label": "churn", "probability": 0.75, "explanations": {"age": -0.25, "calls": 1.5},
     "base_value": -0.125},
]}
MULTICLASS = {"predictions": [
    {"predicted_label": "b", "probability": 0.5,
     "explanations": {"a": {"x": 0.5, "y": -1.0}, "b": {"x": 1.0, "y": 0.25}, "c": {"x": -2.0, "y": 0.0}},
     "base_value": {"a": 0.125, "b": -0.25, "c": 0.0}},
]}


def test_a_regression_row_shows_the_ten_largest_contributions_the_rest_summed_and_the_score_they_add_to(
) -> None:
    lines = explanation_table(json.dumps(REGRESSION)).splitlines()

    assert lines[0] == "row 1: score 8.75"
    assert lines[1].split() == ["contribution", "feature"]
    shown = [line.split() for line in lines[2:12]]
    assert [name for _, name in shown] == [f"f{i}" for i in range(12, 2, -1)]  # by |contribution|
    assert [float(value) for value, _ in shown] == [3.25, -3, 2.75, -2.5, 2.25, -2, 1.75, -1.5, 1.25, -1]
    assert lines[12].split() == ["+0.5", "...", "3", "more"]  # f2 + f1 + f0 = 0.75 - 0.5 + 0.25
    assert lines[13].split() == ["+7", "base", "value"]
    assert lines[14].split() == ["=8.75", "sum:", "the", "score"]  # 7 + 1.75: the score
    assert len(lines) == 15


def test_a_classifier_row_shows_its_label_and_probability_and_contributions_summing_to_the_margin() -> None:
    text = explanation_table(json.dumps(BINARY).encode())

    assert text.splitlines()[0] == "row 1: predicted_label churn, probability 0.75"
    assert [line.split() for line in text.splitlines()[2:]] == [
        ["+1.5", "calls"], ["-0.25", "age"], ["-0.125", "base", "value"],
        ["=1.125", "sum:", "the", "margin", "(log-odds)"],
    ]


def test_a_multiclass_row_shows_one_block_per_class_with_its_own_base_value_and_margin() -> None:
    lines = explanation_table(MULTICLASS).splitlines()

    classes = [line for line in lines if line.startswith("  class")]
    assert classes == ["  class a:", "  class b:", "  class c:"]
    block_c = [line.split() for line in lines[lines.index("  class c:") + 2:]]
    assert block_c == [["-2", "x"], ["+0", "y"], ["+0", "base", "value"], ["=-2", "sum:", "the", "margin",
                                                                             "(log-odds)"]]


def test_an_answer_of_no_rows_says_so() -> None:
    assert explanation_table('{"predictions": []}') == "The answer holds no predictions.\n"


def test_every_row_gets_its_own_block() -> None:
    answer = {"predictions": [BINARY["predictions"][0], {**BINARY["predictions"][0], "probability": 0.5}]}

    blocks = explanation_table(answer).split("\n\n")

    assert [block.splitlines()[0] for block in blocks] == [
        "row 1: predicted_label churn, probability 0.75", "row 2: predicted_label churn, probability 0.5"]


@pytest.mark.parametrize(("answer", "message"), [
    ("body", "The endpoint's answer is not JSON (it starts 'body'); explanations need application/json."),
    ('{"predictions": [{"score": 1.0}]}',
     "Prediction 1 of the answer has no \"explanations\" object; the endpoint's image may not know the "
     "custom attribute 'explain=shap'."),
    ('{"scores": []}', "The endpoint's answer has no \"predictions\" list of objects."),
    ('{"predictions": [{"explanations": {"a": [1, 2]}, "base_value": {"a": 0}}]}',
     "The endpoint's answer holds [1, 2] where an object of contributions belongs."),
])
def test_an_answer_without_explanations_is_a_user_error_saying_what_is_missing(
    answer: str, message: str
) -> None:
    with pytest.raises(UserError) as raised:
        explanation_table(answer)
    assert str(raised.value) == message


def test_predict_with_explain_sends_the_custom_attribute_and_asks_for_json(aws: MotoServer) -> None:
    aws.answer_invocations(json.dumps(REGRESSION))

    answer = predict("explained", [[8.5, 9.5]], explain=True, session=boto3.Session(region_name=REGION),
                     region=REGION)

    assert aws.runtime_requests() == [{
        "path": "/endpoints/explained/invocations",
        "body": "8.5,9.5",
        "headers": {"content-type": "text/csv", "accept": "application/json",
                    "x-amzn-sagemaker-custom-attributes": "explain=shap"},
    }]
    assert answer == REGRESSION


def test_predict_without_explain_sends_no_custom_attribute(aws: MotoServer) -> None:
    predict("unexplained", [[7.0]], session=boto3.Session(region_name=REGION), region=REGION)

    assert [request["headers"] for request in aws.runtime_requests()] == [
        {"content-type": "text/csv", "accept": "text/csv"}]


def test_predict_dry_run_with_explain_and_a_target_model_returns_both_in_the_checked_request() -> None:
    call = predict("mme", [[1.0, 2.0]], explain=True, target_model="a.tar.gz", dry_run=True)

    assert call.to_dict() == {"operation": "InvokeEndpoint", "request": {
        "EndpointName": "mme", "Body": "1.0,2.0", "ContentType": "text/csv", "Accept": "application/json",
        "TargetModel": "a.tar.gz", "CustomAttributes": "explain=shap"}}


def test_explain_with_a_deserializer_of_another_format_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="Explanations come in the JSON answer; Accept 'text/csv' cannot"):
        predict("csv", [[1.0]], deserializer=CSVDeserializer(), explain=True,
                session=boto3.Session(region_name=REGION), region=REGION)
    assert aws.runtime_requests() == []


def explain_args(tmp_path: Path, endpoint: str, *extra: str, row: str = "1.0,2.0") -> list[str]:
    payload = tmp_path / "rows.csv"
    payload.write_text(row + "\n")
    return ["predict", "--endpoint-name", endpoint, "--data", str(payload), "--explain", "--region", REGION,
            *extra]


def test_the_explain_flag_prints_the_table_of_the_answer(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.answer_invocations(json.dumps(BINARY))

    assert main(explain_args(tmp_path, "cli-explained", row="3.0,4.0")) == 0

    assert capsys.readouterr().out == explanation_table(BINARY)
    assert [(r["headers"]["accept"], r["headers"]["x-amzn-sagemaker-custom-attributes"])
            for r in aws.runtime_requests()] == [("application/json", "explain=shap")]


def test_the_explain_flag_with_dry_run_prints_the_request_with_its_custom_attributes(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(explain_args(tmp_path, "cli-dry", "--dry-run")) == 0

    printed: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert printed == {"operation": "InvokeEndpoint", "request": {
        "EndpointName": "cli-dry", "Body": "1.0,2.0\n", "ContentType": "text/csv",
        "Accept": "application/json", "CustomAttributes": "explain=shap"}}
    assert aws.runtime_requests() == []


@pytest.mark.parametrize(("extra", "answer", "message"), [
    (["--accept", "text/csv"], None,
     "Explanations come in the JSON answer; Accept 'text/csv' cannot carry them"),
    ([], "body", "The endpoint's answer is not JSON (it starts 'body')"),
])
def test_the_explain_flag_fails_with_one_line_on_a_csv_accept_or_an_answer_without_explanations(
    extra: list[str], answer: str | None, message: str, aws: MotoServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if answer is not None:
        aws.answer_invocations(answer, content_type="text/csv")

    assert main(explain_args(tmp_path, "cli-refused", *extra, row="5.0,6.0")) == 2

    assert f"ensemble-byoc predict: error: {message}" in capsys.readouterr().err
    assert len(aws.runtime_requests()) == (0 if extra else 1)
