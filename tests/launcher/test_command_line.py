"""``ensemble-byoc``: every subcommand's --dry-run prints the exact requests a real run sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto_recorder import IMAGE_URI, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)
from test_launcher_requests import versions_named

from ensemble_byoc.launcher.command_line import main

COMMON = ["--image", IMAGE_URI, "--role", ROLE_ARN]
TRAIN = [
    "train",
    *COMMON,
    "--train",
    "s3://bucket/train/",
    "--output",
    "s3://bucket/output/",
    "-p",
    "k_fold=5",
    "-p",
    "eta=0.2",
    "--spot",
    "--job-name",
    "cli-train",
]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    status = main(args)
    captured = capsys.readouterr()
    return status, (json.loads(captured.out) if status == 0 else None), captured.err


def test_train_dry_run_prints_the_request_that_a_real_run_sends(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, printed, _ = run_cli([*TRAIN, "--dry-run"], capsys)
    assert status == 0
    assert aws.requests() == []

    status, sent, _ = run_cli(TRAIN, capsys)

    assert status == 0
    assert aws.requests() == [(item["operation"], item["request"]) for item in printed]
    assert printed[0]["request"]["CheckpointConfig"]["S3Uri"] == "s3://bucket/output/cli-train/checkpoints"
    # No problem_type: the job infers it from the label, as the container alone would.
    assert printed[0]["request"]["HyperParameters"] == {"k_fold": "5", "eta": "0.2"}
    assert sent["name"] == "cli-train"
    assert "TrainingJobArn" in sent["responses"][0]


@pytest.mark.parametrize(
    ("args", "operations"),
    [
        (
            [
                "tune",
                *COMMON,
                "--train",
                "s3://b/t/",
                "--output",
                "s3://b/o/",
                "-r",
                "eta=0.05:0.2:Logarithmic",
                "-r",
                "max_depth=3:8",
                "--problem-type",
                "regression",
                "--job-name",
                "cli-tune",
            ],
            ["CreateHyperParameterTuningJob"],
        ),
        (
            ["deploy", *COMMON, "--model-data", "s3://b/model.tar.gz", "--endpoint-name", "cli-rt"],
            ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"],
        ),
        (
            [
                "deploy",
                *COMMON,
                "--model-data",
                "s3://b/model.tar.gz",
                "--endpoint-name",
                "cli-sl",
                "--serverless",
                "--memory-size",
                "4096",
                "--max-concurrency",
                "20",
            ],
            ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"],
        ),
        (
            [
                "transform",
                *COMMON,
                "--model-data",
                "s3://b/model.tar.gz",
                "--input",
                "s3://b/in/",
                "--output",
                "s3://b/out/",
                "--job-name",
                "cli-bt",
            ],
            ["CreateModel", "CreateTransformJob"],
        ),
    ],
)
def test_each_subcommand_dry_run_prints_what_a_real_run_sends(
    args: list[str], operations: list[str], aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, printed, _ = run_cli([*args, "--dry-run"], capsys)
    assert status == 0
    assert [item["operation"] for item in printed] == operations
    assert aws.requests() == []

    assert run_cli(args, capsys)[0] == 0

    # Generated model and configuration names differ by their time and random suffix, nothing else.
    assert versions_named(aws.requests()) == versions_named(
        [(item["operation"], item["request"]) for item in printed]
    )


def test_tune_command_line_ranges_become_integer_and_continuous_ranges(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, printed, _ = run_cli(
        [
            "tune",
            *COMMON,
            "--train",
            "s3://b/t/",
            "--output",
            "s3://b/o/",
            "--dry-run",
            "--problem-type",
            "regression",
            "-r",
            "eta=0.05:0.2:Logarithmic",
            "-r",
            "max_depth=3:8",
        ],
        capsys,
    )

    assert status == 0
    assert printed[0]["request"]["HyperParameterTuningJobConfig"]["ParameterRanges"] == {
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.2", "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [
            {"Name": "max_depth", "MinValue": "3", "MaxValue": "8", "ScalingType": "Auto"}
        ],
    }


def test_predict_dry_run_prints_the_invoke_endpoint_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "rows.csv"
    payload.write_text("1.0,2.0\n3.0,4.0\n")

    status, printed, _ = run_cli(
        [
            "predict",
            "--endpoint-name",
            "cli-rt",
            "--data",
            str(payload),
            "--dry-run",
            "--region",
            "us-east-1",
        ],
        capsys,
    )

    assert status == 0
    assert printed == {
        "operation": "InvokeEndpoint",
        "request": {
            "EndpointName": "cli-rt",
            "Body": "1.0,2.0\n3.0,4.0\n",
            "ContentType": "text/csv",
            "Accept": "text/csv",
        },
    }


def test_a_misspelt_hyperparameter_is_a_usage_error_naming_the_closest_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run_cli([*TRAIN, "-p", "max_dpeth=4", "--dry-run"], capsys)

    assert status == 2
    assert "Unknown hyperparameter 'max_dpeth' (did you mean 'max_depth'?)" in err


def test_a_missing_image_is_a_usage_error_naming_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ENSEMBLE_BYOC_IMAGE_URI", raising=False)

    status, _, err = run_cli(
        ["deploy", "--role", ROLE_ARN, "--model-data", "s3://b/m.tar.gz", "--dry-run"], capsys
    )

    assert status == 2
    assert "--image is required (or set $ENSEMBLE_BYOC_IMAGE_URI)" in err
