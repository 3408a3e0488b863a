"""Multi-model endpoints from the launcher: the requests that moto records, and what is refused first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto_recorder import IMAGE_URI, REGION, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)
from test_command_line import COMMON, run_cli
from test_launcher_requests import launcher, versions_named

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher import MultiModel, RealTime, Serverless, predict

PREFIX = "s3://bucket/models/"
SENT_ENVIRONMENT = {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MULTI_MODEL": "true"}
"""What ``SAGEMAKER_MODEL_SERVER_WORKERS=2`` becomes in a multi-model container."""


def multi_model_requests(endpoint: str, environment: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    version = f"{endpoint}-<version>"
    return [
        (
            "CreateModel",
            {
                "ModelName": version,
                "ExecutionRoleArn": ROLE_ARN,
                "PrimaryContainer": {
                    "Image": IMAGE_URI,
                    "Mode": "MultiModel",
                    "ModelDataUrl": PREFIX,
                    "Environment": environment,
                },
            },
        ),
        (
            "CreateEndpointConfig",
            {
                "EndpointConfigName": version,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": version,
                        "InstanceType": "ml.c5.xlarge",
                        "InitialInstanceCount": 2,
                        "InitialVariantWeight": 1.0,
                    }
                ],
            },
        ),
        ("CreateEndpoint", {"EndpointName": endpoint, "EndpointConfigName": version}),
    ]


def test_multi_model_deploy_sends_a_multi_model_container_on_the_prefix_then_a_real_time_endpoint(
    aws: MotoServer,
) -> None:
    submission = launcher().deploy(MultiModel(PREFIX), RealTime("ml.c5.xlarge", 2), endpoint_name="mme",
                                   environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})

    assert versions_named(aws.requests()) == multi_model_requests("mme", SENT_ENVIRONMENT)
    assert submission.name == "mme"


def test_a_multi_model_environment_says_so_even_when_the_caller_did(aws: MotoServer) -> None:
    launcher().deploy(MultiModel(PREFIX), RealTime("ml.c5.xlarge", 2), endpoint_name="mme-env",
                      environment={"SAGEMAKER_MULTI_MODEL": "TRUE"})

    assert versions_named(aws.requests())[0] == multi_model_requests(
        "mme-env", {"SAGEMAKER_MULTI_MODEL": "true"})[0]


def test_updating_an_endpoint_to_a_multi_model_prefix_prints_a_multi_model_then_update_endpoint(
    aws: MotoServer,
) -> None:
    # moto has no UpdateEndpoint: the dry run's requests, as test_lifecycle checks single-model updates.
    update = launcher(dry_run=True).update_endpoint("mme-up", MultiModel(PREFIX), RealTime("ml.c5.xlarge", 2),
                                                    environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})

    model, config, (_, endpoint) = multi_model_requests("mme-up", SENT_ENVIRONMENT)
    assert versions_named([(item["operation"], item["request"]) for item in update.requests()]) == [
        model, config, ("UpdateEndpoint", endpoint)]
    assert aws.requests() == []


@pytest.mark.parametrize("prefix", ["s3://bucket/models", "bucket/models/", "https://bucket/models/",
                                    "s3:///models/", ""])
def test_a_multi_model_prefix_that_is_not_an_s3_folder_fails_before_any_request(
    prefix: str, aws: MotoServer
) -> None:
    with pytest.raises(UserError, match=re.escape(f"multi-model prefix {prefix!r} is not an S3 prefix")):
        launcher().deploy(MultiModel(prefix), endpoint_name="mme")
    assert aws.requests() == []


def test_a_serverless_multi_model_endpoint_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="A multi-model endpoint cannot be serverless"):
        launcher().deploy(MultiModel(PREFIX), Serverless(), endpoint_name="mme")
    assert aws.requests() == []


@pytest.mark.parametrize(("model_data", "value", "kind"), [
    (MultiModel(PREFIX), "false", "multi-model"),
    ("s3://bucket/output/model.tar.gz", "true", "single-model"),
])
def test_a_multi_model_setting_against_the_kind_of_deploy_fails_before_any_request(
    model_data: Any, value: str, kind: str, aws: MotoServer
) -> None:
    with pytest.raises(UserError, match=f"SAGEMAKER_MULTI_MODEL='{value}' does not fit a {kind} deploy"):
        launcher().deploy(model_data, endpoint_name="mme", environment={"SAGEMAKER_MULTI_MODEL": value})
    assert aws.requests() == []


def test_a_serving_setting_the_container_refuses_fails_a_multi_model_deploy_before_any_request(
    aws: MotoServer,
) -> None:
    with pytest.raises(UserError, match="--env: .*SAGEMAKER_MODEL_SERVER_WORKERS"):
        launcher().deploy(MultiModel(PREFIX), endpoint_name="mme",
                          environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "0"})
    assert aws.requests() == []


def test_predict_with_a_target_model_sends_it_in_the_target_model_header(aws: MotoServer) -> None:
    answer = predict("mme", [[1.0, 2.0], [3.0, 4.0]], target_model="churn/model.tar.gz",
                     session=boto3.Session(region_name=REGION), region=REGION)

    assert aws.runtime_requests() == [{
        "path": "/endpoints/mme/invocations",
        "body": "1.0,2.0\n3.0,4.0",
        "headers": {"content-type": "text/csv", "accept": "text/csv",
                    "x-amzn-sagemaker-target-model": "churn/model.tar.gz"},
    }]
    assert answer == [["body"]]  # moto's fixed answer: the request is what is under test


def test_predict_dry_run_with_a_target_model_returns_the_request_with_target_model() -> None:
    call = predict("mme", [[1.0, 2.0]], target_model="a.tar.gz", dry_run=True)

    assert call.to_dict() == {"operation": "InvokeEndpoint", "request": {
        "EndpointName": "mme", "Body": "1.0,2.0", "ContentType": "text/csv", "Accept": "text/csv",
        "TargetModel": "a.tar.gz"}}


@pytest.mark.parametrize(("target", "message"), [
    ("", "--target-model is empty"),
    ("m" * 1025, "--target-model is 1025 characters long; SageMaker takes at most 1024"),
    (" model.tar.gz", "has the leading white space ' '"),
    ("model\n.tar.gz", "has the character '\\\\n'"),
    ("modèle.tar.gz", "has the character 'è'"),
])
def test_a_target_model_sagemaker_refuses_fails_before_any_request(
    target: str, message: str, aws: MotoServer
) -> None:
    with pytest.raises(UserError, match=message):
        predict("mme", [[1.0]], target_model=target, session=boto3.Session(region_name=REGION), region=REGION)
    assert aws.runtime_requests() == []


def test_the_longest_printable_target_model_is_taken() -> None:
    target = "m" * 1012 + " ~!(x).tar.gz"[:12]

    assert predict("mme", [[1.0]], target_model=target, dry_run=True).request["TargetModel"] == target


def test_the_multi_model_flag_dry_run_prints_what_a_real_run_sends(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy", *COMMON, "--multi-model", PREFIX, "--endpoint-name", "mme", "--instance-type",
            "ml.c5.xlarge", "--instance-count", "2", "--env", "SAGEMAKER_MODEL_SERVER_WORKERS=2"]
    status, printed, _ = run_cli([*args, "--dry-run"], capsys)
    assert status == 0
    assert aws.requests() == []

    assert run_cli(args, capsys)[0] == 0

    expected = multi_model_requests("mme", SENT_ENVIRONMENT)
    assert versions_named([(item["operation"], item["request"]) for item in printed]) == expected
    assert versions_named(aws.requests()) == expected


@pytest.mark.parametrize(("extra", "message"), [
    (["--multi-model", "s3://bucket/models"], "is not an S3 prefix ending in '/'"),
    (["--multi-model", PREFIX, "--serverless"], "A multi-model endpoint cannot be serverless"),
])
def test_a_multi_model_flag_the_launcher_refuses_fails_before_any_request(
    extra: list[str], message: str, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_cli(["deploy", *COMMON, "--endpoint-name", "mme", *extra], capsys)

    assert status != 0
    assert message in err
    assert aws.requests() == []


@pytest.mark.parametrize(("extra", "message"), [
    (["--multi-model", PREFIX, "--model-data", "s3://b/model.tar.gz"],
     "argument --model-data: not allowed with argument --multi-model"),
    ([], "one of the arguments --model-data --multi-model is required"),
])
def test_deploy_takes_exactly_one_of_model_data_and_multi_model(
    extra: list[str], message: str, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_cli(["deploy", *COMMON, "--endpoint-name", "mme", *extra], capsys)

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert aws.requests() == []


def test_the_target_model_flag_reaches_the_invoke_endpoint_request(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "rows.csv"
    payload.write_text("1.0,2.0\n")
    args = ["predict", "--endpoint-name", "mme", "--data", str(payload), "--target-model", "churn.tar.gz",
            "--region", REGION]

    status, printed, _ = run_cli([*args, "--dry-run"], capsys)
    assert status == 0
    assert printed["request"]["TargetModel"] == "churn.tar.gz"
    assert aws.runtime_requests() == []

    assert main_status(args, capsys) == 0
    assert [item["headers"]["x-amzn-sagemaker-target-model"] for item in aws.runtime_requests()] == [
        "churn.tar.gz"]


def main_status(args: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    from ensemble_byoc.launcher.command_line import main

    status = main(args)
    capsys.readouterr()
    return status
