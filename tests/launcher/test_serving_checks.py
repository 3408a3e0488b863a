"""Serving settings are checked before an endpoint exists: by the server's own parser, and
``SAGEMAKER_INFERENCE_OUTPUT`` against the manifest inside the model's ``model.tar.gz`` in S3 (moto)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import boto3
import pytest
from conftest import TrainedTree
from moto_recorder import IMAGE_URI, REGION, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)

from ensemble_byoc.launcher.command_line import main

DEPLOY = ["deploy", "--image", IMAGE_URI, "--role", ROLE_ARN, "--endpoint-name", "checked"]


def model_tar_gz(model_dir: Path) -> bytes:
    """What SageMaker uploads from /opt/ml/model: the folder's files at the archive's top."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(model_dir)))
    return buffer.getvalue()


@pytest.fixture(name="model_data")
def model_data_fixture(aws: MotoServer, trained_tree_for_serving: TrainedTree,
                       monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.url)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws.url)
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="job/output/model.tar.gz",
                  Body=model_tar_gz(trained_tree_for_serving.tree.model_dir))
    s3.put_object(Bucket="models", Key="other/model.tar.gz", Body=model_tar_gz(Path(__file__).parent))
    return "s3://models/job/output/model.tar.gz"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(args)
    return status, capsys.readouterr().err


def test_an_output_the_model_does_not_answer_with_is_refused_before_the_endpoint_exists(
    model_data: str, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run([*DEPLOY, "--model-data", model_data, "--env",
                       "SAGEMAKER_INFERENCE_OUTPUT=predicted_label"], capsys)

    assert status == 2
    assert "--env: SAGEMAKER_INFERENCE_OUTPUT == 'predicted_label': a regression model answers with" in err
    assert "answers with score, not predicted_label" in err
    assert [operation for operation, _ in aws.requests()] == []


def test_output_score_for_a_regression_model_deploys(
    model_data: str, aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run([*DEPLOY, "--model-data", model_data, "--env", "SAGEMAKER_INFERENCE_OUTPUT=score"],
                      capsys)

    assert status == 0, err
    create_model = aws.requests()[0][1]
    assert create_model["PrimaryContainer"]["Environment"] == {"SAGEMAKER_INFERENCE_OUTPUT": "score"}


@pytest.mark.parametrize(("variable", "expected"), [
    ("SAGEMAKER_MAX_PAYLOAD_IN_MB=500", "SAGEMAKER_MAX_PAYLOAD_IN_MB == 500, must be between 1 and 100"),
    ("SAGEMAKER_MODEL_SERVER_WORKERS=many", "SAGEMAKER_MODEL_SERVER_WORKERS == 'many', must be an integer"),
    ("SAGEMAKER_INFERENCE_OUTPUT=margin", "unknown outputs ['margin']"),
])
def test_a_malformed_serving_setting_fails_even_a_dry_run(
    variable: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run([*DEPLOY, "--dry-run", "--model-data", "s3://models/job/output/model.tar.gz",
                       "--env", variable], capsys)

    assert status == 2
    assert expected in err


def test_a_model_archive_without_a_manifest_is_named(
    model_data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run([*DEPLOY, "--model-data", "s3://models/other/model.tar.gz", "--env",
                       "SAGEMAKER_INFERENCE_OUTPUT=score"], capsys)

    assert status == 2
    assert "holds no readable manifest.json: it is not a model trained by this image" in err
