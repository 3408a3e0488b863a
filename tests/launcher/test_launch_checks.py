"""What SageMaker would refuse, the launcher refuses first: one line that names the flag and the fix.

Each case was approved by ``--dry-run`` (exit 0) before these checks; each now exits 2 with one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from conftest import FAST_HYPERPARAMETERS, OptMl, free_port, run_train
from moto_recorder import (  # noqa: F401 (fixtures)
    IMAGE_URI,
    REGION,
    ROLE_ARN,
    MotoServer,
    aws_fixture,
    moto_server,
    moto_server_fixture,
    without_aws_configuration,
)

from ensemble_byoc.launcher.command_line import main

COMMON = ["--image", IMAGE_URI, "--role", ROLE_ARN, "--dry-run"]
TRAIN = ["train", *COMMON, "--train", "s3://b/train/", "--output", "s3://b/out/"]
TUNE = ["tune", *COMMON, "--train", "s3://b/train/", "--output", "s3://b/out/",
        "--problem-type", "regression"]
DEPLOY = ["deploy", *COMMON, "--model-data", "s3://b/model.tar.gz", "--endpoint-name", "ep"]


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a refused command (its exit status is 2, nothing goes to stdout)."""
    try:
        status = main(args)
    except SystemExit as stop:  # argparse's own usage errors
        status = int(stop.code or 0)
    captured = capsys.readouterr()
    assert status == 2, captured.out
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(lines) == 1, captured.err
    return lines[0]


def dry_run(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    status = main(args)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", *COMMON, "--train", "data/train/", "--output", "s3://b/out/"],
         r"--train 'data/train/' is not valid .*write an S3 URI such as s3://.*aws s3 cp"),
        (["train", "--image", IMAGE_URI, "--role", "SageMakerRole", "--dry-run", "--train", "s3://b/t/",
          "--output", "s3://b/o/"], r"--role 'SageMakerRole' is not valid .*arn:aws:iam::123456789012:role/"),
        ([*TRAIN, "--instance-type", "m5.xlarge"], r"'m5.xlarge' .*did you mean ml.m5.xlarge\?"),
        ([*TRAIN, "--job-name", "my job"], r"--job-name 'my job' is not valid .*letters, digits and hyphens"),
        ([*TRAIN, "--job-name", "j" * 64], r"--job-name 'j{20}.*1-63 letters"),
        ([*TUNE, "--job-name", "t" * 33], r"--job-name 't{20}.*1-32 letters"),
        ([*TUNE, "-r", "eta=0.01:0.3:Bogus"], r"Range of 'eta' .*scaling 'Bogus' is not one of Auto, Linear"),
        ([*TUNE, "-r", "eta=0.3:0.01"], r"Range of 'eta' .*min 0.3 is above max 0.01"),
        ([*TUNE, "-r", "eta=0:0.3:Logarithmic"], r"Logarithmic scaling needs bounds above 0"),
        ([*TUNE, "--strategy", "Grid"], r"categorical ranges only, not catboost__depth, colsample"),
        ([*TUNE, "--strategy", "Grid", "-r", "max_depth=4|6", "--max-jobs", "4"],
         r"drop max_jobs \(--max-jobs\)"),
        ([*TRAIN, "--instance-count", "0"], r"argument --instance-count: 0 must be 1 or more"),
        ([*DEPLOY, "--memory-size", "4096"],
         r"--memory-size cannot be used with a real-time endpoint \(add --serverless\); drop it"),
        ([*DEPLOY, "--serverless", "--instance-type", "ml.m5.large"],
         r"--instance-type cannot be used with a serverless endpoint"),
        ([*DEPLOY, "--serverlss"], r"unrecognized arguments: --serverlss \(did you mean --serverless\?\)"),
        ([*DEPLOY, "--serverl"], r"unrecognized arguments: --serverl"),
        ([*TRAIN, "--max-wait", "7200"], r"--max-wait applies to spot training only"),
        (["tune", *COMMON, "--train", "s3://b/t/", "--output", "s3://b/o/"],
         r"problem type cannot be inferred from the label: pass --problem-type regression, binary or"),
    ],
)
def test_a_request_sagemaker_would_refuse_fails_the_dry_run_with_one_line_naming_the_flag(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(args, capsys)

    assert line.startswith("ensemble-byoc")
    assert re.search(expected, line), line


def test_hyperband_runs_with_training_job_early_stopping_off(capsys: pytest.CaptureFixture[str]) -> None:
    (call,) = dry_run([*TUNE, "--strategy", "Hyperband"], capsys)

    assert call["request"]["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"


def tuned_ranges(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    (call,) = dry_run([*TUNE, *args], capsys)
    ranges = call["request"]["HyperParameterTuningJobConfig"]["ParameterRanges"]
    return {r["Name"]: r for kind in ranges.values() for r in kind}


def test_default_tuning_ranges_tune_each_trained_librarys_own_tree_shape_unless_max_depth_is_fixed(
        capsys: pytest.CaptureFixture[str]) -> None:
    ranges = tuned_ranges([], capsys)
    assert sorted(ranges) == ["catboost__depth", "colsample_bytree", "eta", "lightgbm__num_leaves",
                              "reg_lambda", "subsample", "xgboost__max_depth"]
    assert ranges["lightgbm__num_leaves"] == {"Name": "lightgbm__num_leaves", "MinValue": "16",
                                              "MaxValue": "256", "ScalingType": "Logarithmic"}
    only_two = tuned_ranges(["-p", "models=xgboost,lightgbm", "-p", "lightgbm__num_leaves=31"], capsys)
    assert [name for name in only_two if "__" in name] == ["xgboost__max_depth"]
    one_depth = tuned_ranges(["-p", "max_depth=6"], capsys)
    assert sorted(one_depth) == ["colsample_bytree", "eta", "reg_lambda", "subsample"]


def test_grid_search_over_categorical_ranges_sends_no_job_count(capsys: pytest.CaptureFixture[str]) -> None:
    (call,) = dry_run([*TUNE, "--strategy", "Grid", "-r", "max_depth=4|6|8"], capsys)

    limits = call["request"]["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert "MaxNumberOfTrainingJobs" not in limits


def test_transform_of_an_existing_model_needs_no_image_or_role(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENSEMBLE_BYOC_IMAGE_URI", raising=False)
    monkeypatch.delenv("ENSEMBLE_BYOC_ROLE_ARN", raising=False)
    (call,) = dry_run(["transform", "--dry-run", "--model-name", "existing", "--input", "s3://b/in/",
                       "--output", "s3://b/out/"], capsys)

    assert call["operation"] == "CreateTransformJob"
    assert call["request"]["ModelName"] == "existing"


def test_two_tuning_jobs_started_at_once_get_different_names(capsys: pytest.CaptureFixture[str]) -> None:
    first = dry_run(TUNE, capsys)[0]["request"]["HyperParameterTuningJobName"]
    second = dry_run(TUNE, capsys)[0]["request"]["HyperParameterTuningJobName"]

    assert first != second
    assert len(first) <= 32


def test_deploying_twice_under_one_endpoint_name_creates_new_model_and_configuration_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = dry_run(DEPLOY, capsys), dry_run(DEPLOY, capsys)

    assert first[0]["request"]["ModelName"] != second[0]["request"]["ModelName"]
    assert first[1]["request"]["EndpointConfigName"] != second[1]["request"]["EndpointConfigName"]
    assert first[2]["request"]["EndpointName"] == second[2]["request"]["EndpointName"] == "ep"


def test_a_churn_like_label_launched_with_defaults_trains_as_binary_and_its_lines_are_defined(
    opt_ml: OptMl, capsys: pytest.CaptureFixture[str]
) -> None:
    (call,) = dry_run([*TRAIN, *[arg for key, value in FAST_HYPERPARAMETERS.items()
                                 for arg in ("-p", f"{key}={value}")]], capsys)
    request = call["request"]
    assert "problem_type" not in request["HyperParameters"]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4)).round(4)
    y = (X[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(float)
    opt_ml.add_training_csv(X, y)
    opt_ml.hyperparameters(request["HyperParameters"])

    result = run_train(opt_ml)

    assert result.returncode == 0, result.stderr
    assert "binary" in result.stdout + result.stderr
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    assert len(definitions) <= 40
    # As SageMaker reads the log: each definition's regex, line by line.
    log = (result.stdout + result.stderr).splitlines()
    found = {item["Name"] for item in definitions for line in log if re.search(item["Regex"], line)}
    assert "validation:logloss" in found
    assert "validation:rmse" not in found


def test_without_a_region_the_launcher_says_how_to_set_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    without_aws_configuration(monkeypatch, tmp_path)
    rows = tmp_path / "rows.csv"
    rows.write_text("1,2\n")

    line = refused_with_status(["predict", "--endpoint-name", "ep", "--data", str(rows)], capsys, 1)

    assert "no AWS region is set: pass --region, set AWS_REGION, or run `aws configure`" in line


def test_without_credentials_the_launcher_says_how_to_configure_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    without_aws_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", f"http://127.0.0.1:{free_port()}")
    args = [arg for arg in TRAIN if arg != "--dry-run"]

    line = refused_with_status([*args, "--region", REGION], capsys, 1)

    assert "no AWS credentials were found: run `aws configure`" in line


def test_a_missing_data_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = refused(["predict", "--endpoint-name", "ep", "--data", str(tmp_path / "missing.csv")], capsys)

    assert "argument --data: no such file: " in line


def test_an_access_denied_answer_names_the_iam_action_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second moto server that enforces IAM after its first two actions: a user without policies.
    with moto_server(tmp_path, INITIAL_NO_AUTH_ACTION_COUNT="2") as server:
        iam = boto3.client("iam", endpoint_url=server.url, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName="no-rights")
        key = iam.create_access_key(UserName="no-rights")["AccessKey"]
        without_aws_configuration(monkeypatch, tmp_path)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
        monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
        args = [arg for arg in TRAIN if arg != "--dry-run"]

        line = refused_with_status([*args, "--region", REGION, "--problem-type", "regression"], capsys, 1)

    assert "AWS refused CreateTrainingJob" in line
    assert "needs the IAM action sagemaker:CreateTrainingJob (and iam:PassRole on --role)" in line


def refused_with_status(args: list[str], capsys: pytest.CaptureFixture[str], expected: int) -> str:
    status = main(args)
    captured = capsys.readouterr()
    assert status == expected, captured.err
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("ensemble-byoc")]
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_multi_instance_job_encrypts_traffic_between_its_instances_unless_turned_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (one,) = dry_run(TRAIN, capsys)
    (two,) = dry_run([*TRAIN, "--instance-count", "2"], capsys)
    (off,) = dry_run([*TRAIN, "--instance-count", "2", "--no-inter-container-encryption"], capsys)
    (tuned,) = dry_run([*TUNE, "--instance-count", "2"], capsys)

    assert "EnableInterContainerTrafficEncryption" not in one["request"]
    assert two["request"]["EnableInterContainerTrafficEncryption"] is True
    assert "EnableInterContainerTrafficEncryption" not in off["request"]
    assert tuned["request"]["TrainingJobDefinition"]["EnableInterContainerTrafficEncryption"] is True


SECURITY = ["--network-isolation", "--subnets", "subnet-0a1b2c3d,subnet-4e5f6a7b",
            "--security-group-ids", "sg-0123456789abcdef0"]
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC = {"Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "SecurityGroupIds": ["sg-0123456789abcdef0"]}


def test_security_settings_reach_every_request_that_takes_them(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = ["--volume-kms-key", KEY, "--output-kms-key", KEY, "--job-name", "secure"]
    (train,) = dry_run([*TRAIN, *SECURITY, *keys], capsys)
    (tune,) = dry_run([*TUNE, *SECURITY, *keys[:-2]], capsys)
    model, config, _ = dry_run([*DEPLOY, *SECURITY, "--volume-kms-key", KEY], capsys)
    _, transform = dry_run(["transform", *COMMON, "--model-data", "s3://b/model.tar.gz", "--input",
                            "s3://b/in/", "--output", "s3://b/out/", *SECURITY, *keys[:-2]], capsys)

    for request in (train["request"], tune["request"]["TrainingJobDefinition"]):
        assert request["EnableNetworkIsolation"] is True
        assert request["VpcConfig"] == VPC
        assert request["ResourceConfig"]["VolumeKmsKeyId"] == KEY
        assert request["OutputDataConfig"]["KmsKeyId"] == KEY
    assert model["request"]["EnableNetworkIsolation"] is True
    assert model["request"]["VpcConfig"] == VPC
    assert config["request"]["KmsKeyId"] == KEY
    assert transform["request"]["TransformOutput"]["KmsKeyId"] == KEY
    assert transform["request"]["TransformResources"]["VolumeKmsKeyId"] == KEY
    # What the dry run approved, the recorder receives as it is.
    assert main([arg for arg in [*TRAIN, *SECURITY, *keys] if arg != "--dry-run"]) == 0
    assert aws.requests() == [("CreateTrainingJob", train["request"])]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([*TRAIN, "--subnets", "subnet-0a1b2c3d"], r"A VPC needs both subnets \(--subnets\) and security"),
        ([*DEPLOY, "--serverless", "--volume-kms-key", KEY], r"serverless endpoint has no volume to encrypt"),
        ([arg for arg in TRAIN if arg != "--dry-run"] + ["--save-requests", "out"], r"add --dry-run"),
    ],
)
def test_security_settings_that_cannot_apply_are_refused(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert re.search(expected, refused(args, capsys))


def test_env_tags_and_a_hyperparameters_file_reach_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "hyperparameters.json"
    values.write_text(json.dumps({"k_fold": 4, "eta": 0.1, "models": "xgboost,lightgbm"}))

    (call,) = dry_run([*TRAIN, "--hyperparameters-file", str(values), "-p", "eta=0.2",
                       "--env", "LOG_LEVEL=DEBUG", "--tag", "team=fraud"], capsys)

    request = call["request"]
    assert request["HyperParameters"] == {"k_fold": "4", "eta": "0.2", "models": "xgboost,lightgbm"}
    assert request["Environment"] == {"LOG_LEVEL": "DEBUG"}
    assert request["Tags"] == [{"Key": "team", "Value": "fraud"}]


def test_a_hyperparameters_file_that_is_not_one_json_object_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "hyperparameters.json"
    values.write_text('[{"k_fold": 4}]')

    line = refused([*TRAIN, "--hyperparameters-file", str(values)], capsys)

    assert "write one JSON object of values" in line


def test_saved_requests_are_one_file_per_request_that_the_service_model_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ensemble_byoc.launcher.api_calls import check_request

    printed = dry_run([*DEPLOY, "--save-requests", str(tmp_path / "requests")], capsys)

    files = sorted((tmp_path / "requests").iterdir())
    assert [path.name.split("-", 1)[1] for path in files] == [
        "CreateModel.json", "CreateEndpointConfig.json", "CreateEndpoint.json"]
    for path, item in zip(files, printed, strict=True):
        saved = json.loads(path.read_text())
        assert saved == item["request"]
        check_request(item["operation"], saved)  # what `aws sagemaker ... --cli-input-json` validates


def test_help_lists_the_hyperparameters_and_version_prints_the_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ensemble_byoc import __version__

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])

    assert "k_fold" in help_text and "early_stopping_rounds" in help_text
    assert "<library>__<parameter>" in help_text
    assert "(default: ml.m5.xlarge)" in help_text and "(default: None)" not in help_text
    assert capsys.readouterr().out.strip() == f"ensemble-byoc {__version__}"
