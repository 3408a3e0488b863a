"""After a launch: wait with the job's log, describe, stop, update and delete an endpoint, best job.

moto records the requests and answers them; the job's CloudWatch log is written into moto by the test,
as the container would write it on SageMaker.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from moto_recorder import IMAGE_URI, REGION, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)
from test_launcher_requests import versions_named

from ensemble_byoc.launcher.command_line import main

COMMON = ["--image", IMAGE_URI, "--role", ROLE_ARN]
TRAIN = ["train", *COMMON, "--train", "s3://b/train/", "--output", "s3://b/out/", "--problem-type",
         "regression"]
DEPLOY = ["deploy", *COMMON, "--model-data", "s3://b/m1/model.tar.gz", "--endpoint-name", "churn"]


@pytest.fixture(name="logs")
def logs_fixture(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", aws.url)
    return boto3.client("logs", region_name=REGION, endpoint_url=aws.url)


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    captured = capsys.readouterr()
    print(captured.err)  # shown when a test fails
    return status, captured.out, captured.err


def test_train_with_wait_prints_the_job_log_then_its_outcome_and_model(
    aws: MotoServer, logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    stream = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "waited/algo-1-1700000000"}
    now = int(time.time() * 1000)
    logs.create_log_stream(**stream)
    logs.put_log_events(**stream,
                        logEvents=[{"timestamp": now, "message": "validation-rmse:0.512000;"},
                                   {"timestamp": now + 1, "message": "Reporting training SUCCESS"}])

    status, out, _ = cli([*TRAIN, "--job-name", "waited", "--wait"], capsys)

    assert status == 0
    lines = out.splitlines()
    assert "== training-job waited: Completed" in lines
    assert lines.index("validation-rmse:0.512000;") < lines.index("Reporting training SUCCESS")
    assert "== model: s3://b/out/waited/output/model.tar.gz" in lines


def test_describe_prints_the_service_answer(aws: MotoServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([*TRAIN, "--job-name", "described"], capsys)[0] == 0

    status, out, _ = cli(["describe", "training-job", "described"], capsys)

    assert status == 0
    assert json.loads(out)["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(("kind", "operation", "field"), [
    ("training-job", "StopTrainingJob", "TrainingJobName"),
    ("tuning-job", "StopHyperParameterTuningJob", "HyperParameterTuningJobName"),
    ("transform-job", "StopTransformJob", "TransformJobName"),
])
def test_stop_dry_run_prints_the_stop_request(
    kind: str, operation: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = cli(["stop", kind, "job-1", "--dry-run"], capsys)

    assert status == 0
    assert json.loads(out) == [{"operation": operation, "request": {field: "job-1"}}]


def test_delete_endpoint_removes_the_endpoint_its_configuration_and_its_model(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(DEPLOY, capsys)[0] == 0
    created = aws.requests()
    aws.start_recording()

    status, _, _ = cli(["delete-endpoint", "churn"], capsys)

    assert status == 0
    requests = aws.requests()
    assert [operation for operation, _ in requests] == [
        "DescribeEndpoint", "DescribeEndpointConfig", "DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]
    assert requests[2][1] == {"EndpointName": "churn"}
    assert requests[3][1] == {"EndpointConfigName": created[1][1]["EndpointConfigName"]}
    assert requests[4][1] == {"ModelName": created[0][1]["ModelName"]}


def test_update_endpoint_sends_update_endpoint_with_a_new_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = cli(["update-endpoint", *COMMON, "--dry-run", "--model-data", "s3://b/m2/model.tar.gz",
                          "--endpoint-name", "churn", "--instance-type", "ml.m5.large"], capsys)

    assert status == 0
    calls = versions_named(json.loads(out))
    assert [call["operation"] for call in calls] == ["CreateModel", "CreateEndpointConfig", "UpdateEndpoint"]
    assert calls[2]["request"] == {"EndpointName": "churn", "EndpointConfigName": "churn-<version>"}


def test_wait_on_an_endpoint_exits_0_once_it_is_in_service(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(DEPLOY, capsys)[0] == 0

    status, out, _ = cli(["wait", "endpoint", "churn"], capsys)

    assert status == 0
    assert "== endpoint churn: InService" in out.splitlines()


def test_best_job_names_the_tuning_jobs_best_training_job_and_its_model(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    tune = ["tune", *COMMON, "--train", "s3://b/t/", "--output", "s3://b/o/", "--problem-type", "regression",
            "--job-name", "tuned"]
    assert cli(tune, capsys)[0] == 0
    # moto answers every tuning job's best training job with this name; make that job exist.
    assert cli([*TRAIN, "--job-name", "FakeTrainingJobName"], capsys)[0] == 0

    status, out, _ = cli(["best-job", "tuned"], capsys)

    assert status == 0
    best = json.loads(out)
    assert best["TrainingJobName"] == "FakeTrainingJobName"
    assert best["ModelData"] == "s3://b/out/FakeTrainingJobName/output/model.tar.gz"


def test_read_only_commands_have_no_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(["describe", "endpoint", "churn", "--dry-run"], capsys)

    assert status == 2
    assert "describe only reads; it has no dry run" in err


def test_update_endpoint_keeps_the_endpoints_instances_unless_told_otherwise(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli([*DEPLOY, "--instance-type", "ml.c5.xlarge", "--instance-count", "2"], capsys)[0] == 0
    aws.start_recording()

    # moto has no UpdateEndpoint (it answers 500, which the command reports); the requests before it are
    # what this test is about.
    cli(["update-endpoint", *COMMON, "--model-data", "s3://b/m2/model.tar.gz", "--endpoint-name", "churn"],
        capsys)

    config = next(request for operation, request in aws.requests() if operation == "CreateEndpointConfig")
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 2)


def test_update_endpoint_dry_run_needs_the_hosting_mode_said(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli(["update-endpoint", *COMMON, "--dry-run", "--model-data", "s3://b/m.tar.gz",
                          "--endpoint-name", "churn"], capsys)

    assert status == 2
    assert "reads nothing from the endpoint, so say how it is hosted" in err


def test_an_update_that_failed_and_rolled_back_is_a_failed_wait() -> None:
    from ensemble_byoc.launcher.lifecycle import succeeded

    rolled_back = {"EndpointStatus": "InService", "FailureReason": "The new model failed its health check."}

    assert not succeeded("endpoint", rolled_back)
    assert succeeded("endpoint", {"EndpointStatus": "InService"})
    assert not succeeded("endpoint", {"EndpointStatus": "UpdateRollbackFailed"})
