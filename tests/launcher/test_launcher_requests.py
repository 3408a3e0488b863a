"""The launcher sends, through the SageMaker SDK, exactly these requests (moto records what arrives).

The metric definitions follow the order of the `models` hyperparameter, the ensemble's first.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from moto_recorder import IMAGE_URI, REGION, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)
from sagemaker.core.parameter import ContinuousParameter

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher import (
    BatchTransform,
    Channels,
    Compute,
    Launcher,
    RealTime,
    Serverless,
    TuningSettings,
)

REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")


def _definition(metric: str, library: str) -> dict[str, str]:
    suffix = f"-{library}" if library else ""
    escaped = suffix.replace("-", "\\-")
    regex = f"(?m)^validation\\-{metric}{escaped}:(-?[0-9\\.]+);$"
    return {"Name": f"validation:{metric}{suffix}", "Regex": regex}


METRIC_DEFINITIONS = [_definition(metric, library) for metric in REGRESSION_METRICS
                      for library in ("", "xgboost", "lightgbm")]
CHANNELS = [
    {
        "ChannelName": "train",
        "ContentType": "text/csv",
        "InputMode": "File",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://bucket/train/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    },
    {
        "ChannelName": "validation",
        "ContentType": "text/csv",
        "InputMode": "File",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://bucket/validation/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    },
]
MODEL_DATA = "s3://bucket/output/job/output/model.tar.gz"
VERSION = re.compile(r"-\d{6}-\d{6}-[0-9a-f]{4}$")
"""The suffix the launcher gives generated names (``unique_name``)."""


def launcher(dry_run: bool = False) -> Launcher:
    # A session of its own, so the SDK's client cache never hands over a client made for other settings.
    return Launcher(
        image_uri=IMAGE_URI,
        role_arn=ROLE_ARN,
        region=REGION,
        dry_run=dry_run,
        session=boto3.Session(region_name=REGION),
    )


def versions_named(value: Any) -> Any:
    """``value`` with each generated name suffix (``-<yymmdd>-<HHMMSS>-<hex>``) as ``-<version>``."""
    if isinstance(value, str):
        return VERSION.sub("-<version>", value)
    if isinstance(value, (list, tuple)):
        return type(value)(versions_named(item) for item in value)
    if isinstance(value, dict):
        return {key: versions_named(item) for key, item in value.items()}
    return value


def create_model_request(name: str) -> dict[str, Any]:
    return {
        "ModelName": name,
        "ExecutionRoleArn": ROLE_ARN,
        "PrimaryContainer": {"Image": IMAGE_URI, "ModelDataUrl": MODEL_DATA},
    }


def test_train_sends_create_training_job_with_metric_definitions_spot_and_checkpoints(
    aws: MotoServer,
) -> None:
    submission = launcher().train(
        Channels("s3://bucket/train/", "s3://bucket/validation/"),
        "s3://bucket/output/",
        {"k_fold": 5, "eta": 0.2, "models": ["xgboost", "lightgbm"]},
        Compute(instance_type="ml.m5.2xlarge", max_runtime_s=3600, spot=True),
        problem_type="regression",
        job_name="ensemble-train-1",
    )

    assert aws.requests() == [
        (
            "CreateTrainingJob",
            {
                "TrainingJobName": "ensemble-train-1",
                "RoleArn": ROLE_ARN,
                "AlgorithmSpecification": {
                    "TrainingImage": IMAGE_URI,
                    "TrainingInputMode": "File",
                    "MetricDefinitions": METRIC_DEFINITIONS,
                    "EnableSageMakerMetricsTimeSeries": True,
                },
                "HyperParameters": {
                    "k_fold": "5",
                    "eta": "0.2",
                    "models": "xgboost,lightgbm",
                    "problem_type": "regression",
                },
                "InputDataConfig": CHANNELS,
                "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
                "ResourceConfig": {"InstanceType": "ml.m5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
                "EnableManagedSpotTraining": True,
                "CheckpointConfig": {
                    "S3Uri": "s3://bucket/output/ensemble-train-1/checkpoints",
                    "LocalPath": "/opt/ml/checkpoints",
                },
            },
        )
    ]
    assert submission.calls[0].response is not None
    assert "TrainingJobArn" in submission.calls[0].response


def test_train_without_spot_sends_no_spot_or_checkpoint_settings(aws: MotoServer) -> None:
    launcher().train(Channels("s3://bucket/train/"), "s3://bucket/output/", problem_type="regression",
                     job_name="plain")

    ((operation, request),) = aws.requests()
    assert operation == "CreateTrainingJob"
    assert request["HyperParameters"] == {"problem_type": "regression"}
    assert "EnableManagedSpotTraining" not in request
    assert "CheckpointConfig" not in request
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert [d["Name"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]] == [
        f"validation:{metric}{suffix}" for metric in REGRESSION_METRICS
        for suffix in ("", "-catboost", "-lightgbm", "-xgboost")
    ]


def test_tune_sends_default_ranges_minimize_ensemble_rmse_and_early_stopping(aws: MotoServer) -> None:
    launcher().tune(
        Channels("s3://bucket/train/", "s3://bucket/validation/"),
        "s3://bucket/output/",
        {"k_fold": 5, "models": "xgboost,lightgbm", "max_depth": 6},
        settings=TuningSettings(max_jobs=12, max_parallel_jobs=3),
        problem_type="regression",
        job_name="ensemble-tune-1",
    )

    assert aws.requests() == [
        (
            "CreateHyperParameterTuningJob",
            {
                "HyperParameterTuningJobName": "ensemble-tune-1",
                "HyperParameterTuningJobConfig": {
                    "Strategy": "Bayesian",
                    "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
                    "ResourceLimits": {"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 3},
                    "ParameterRanges": {
                        "ContinuousParameterRanges": [
                            {
                                "Name": "eta",
                                "MinValue": "0.01",
                                "MaxValue": "0.3",
                                "ScalingType": "Logarithmic",
                            },
                            {
                                "Name": "subsample",
                                "MinValue": "0.5",
                                "MaxValue": "1.0",
                                "ScalingType": "Auto",
                            },
                            {
                                "Name": "colsample_bytree",
                                "MinValue": "0.5",
                                "MaxValue": "1.0",
                                "ScalingType": "Auto",
                            },
                            {
                                "Name": "reg_lambda",
                                "MinValue": "0.01",
                                "MaxValue": "100.0",
                                "ScalingType": "Logarithmic",
                            },
                        ]
                    },
                    "TrainingJobEarlyStoppingType": "Auto",
                },
                "TrainingJobDefinition": {
                    "AlgorithmSpecification": {
                        "TrainingImage": IMAGE_URI,
                        "TrainingInputMode": "File",
                        "MetricDefinitions": METRIC_DEFINITIONS,
                    },
                    "RoleArn": ROLE_ARN,
                    "StaticHyperParameters": {
                        "k_fold": "5",
                        "models": "xgboost,lightgbm",
                        "max_depth": "6",
                        "problem_type": "regression",
                    },
                    "InputDataConfig": CHANNELS,
                    "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
                    "ResourceConfig": {
                        "InstanceType": "ml.m5.xlarge",
                        "InstanceCount": 1,
                        "VolumeSizeInGB": 30,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
                },
            },
        )
    ]


def test_tune_with_own_ranges_sends_only_those_ranges(aws: MotoServer) -> None:
    launcher().tune(
        Channels("s3://bucket/train/"),
        "s3://bucket/output/",
        ranges={"eta": ContinuousParameter(0.05, 0.2)},
        settings=TuningSettings(early_stopping=False, strategy="Random"),
        problem_type="regression",
        job_name="own-ranges",
    )

    ((_, request),) = aws.requests()
    config = request["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"] == {
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.2", "ScalingType": "Auto"}
        ]
    }
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["Strategy"] == "Random"


def test_deploy_real_time_sends_model_endpoint_config_and_endpoint(aws: MotoServer) -> None:
    submission = launcher().deploy(MODEL_DATA, RealTime("ml.c5.xlarge", 2), endpoint_name="ensemble-rt")

    assert versions_named(aws.requests()) == [
        ("CreateModel", create_model_request("ensemble-rt-<version>")),
        (
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "ensemble-rt-<version>",
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": "ensemble-rt-<version>",
                        "InstanceType": "ml.c5.xlarge",
                        "InitialInstanceCount": 2,
                        "InitialVariantWeight": 1.0,
                    }
                ],
            },
        ),
        ("CreateEndpoint", {"EndpointName": "ensemble-rt", "EndpointConfigName": "ensemble-rt-<version>"}),
    ]
    assert submission.name == "ensemble-rt"


def test_deploy_serverless_sends_memory_size_and_max_concurrency(aws: MotoServer) -> None:
    launcher().deploy(
        MODEL_DATA, Serverless(memory_size_mb=3072, max_concurrency=10), endpoint_name="ensemble-sl"
    )

    assert versions_named(aws.requests())[1] == (
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "ensemble-sl-<version>",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "ensemble-sl-<version>",
                    "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 10},
                }
            ],
        },
    )


def test_transform_sends_create_model_then_create_transform_job(aws: MotoServer) -> None:
    launcher().transform(
        "s3://bucket/batch/in/",
        "s3://bucket/batch/out/",
        model_data=MODEL_DATA,
        batch=BatchTransform(input_filter="$[1:]", join_source="Input"),
        job_name="ensemble-bt",
    )

    assert aws.requests() == [
        ("CreateModel", create_model_request("ensemble-bt")),
        (
            "CreateTransformJob",
            {
                "TransformJobName": "ensemble-bt",
                "ModelName": "ensemble-bt",
                "TransformInput": {
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/batch/in/"}
                    },
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                },
                "TransformOutput": {
                    "S3OutputPath": "s3://bucket/batch/out/",
                    "Accept": "text/csv",
                    "AssembleWith": "Line",
                },
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                "BatchStrategy": "MultiRecord",
                "MaxPayloadInMB": 6,
                "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input"},
            },
        ),
    ]


def test_transform_with_an_existing_model_creates_no_model(aws: MotoServer) -> None:
    launcher().deploy(MODEL_DATA, endpoint_name="existing")  # moto needs the model to exist
    aws.start_recording()

    launcher().transform("s3://bucket/in/", "s3://bucket/out/", model_name="existing", job_name="reuse")

    assert [operation for operation, _ in aws.requests()] == ["CreateTransformJob"]


def test_dry_run_sends_nothing_and_returns_the_request_a_real_run_sends(aws: MotoServer) -> None:
    args = (Channels("s3://bucket/train/"), "s3://bucket/output/", {"k_fold": 3})
    dry = launcher(dry_run=True).train(*args, job_name="same")
    assert aws.requests() == []

    launcher().train(*args, job_name="same")

    assert aws.requests() == [(call.operation, call.request) for call in dry.calls]
    assert dry.dry_run


def test_unknown_hyperparameter_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="did you mean 'max_depth'"):
        launcher().train(Channels("s3://bucket/train/"), "s3://bucket/output/", {"max_dpeth": 4})
    assert aws.requests() == []


def test_tuning_a_fixed_hyperparameter_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="'eta' is both fixed and tuned"):
        launcher().tune(
            Channels("s3://bucket/train/"),
            "s3://bucket/output/",
            {"eta": 0.1},
            ranges={"eta": ContinuousParameter(0.01, 0.3)},
        )
    assert aws.requests() == []


def test_range_bound_the_container_rejects_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="'subsample' == 1.5, must be <= 1"):
        launcher().tune(
            Channels("s3://bucket/train/"),
            "s3://bucket/output/",
            ranges={"subsample": ContinuousParameter(0.5, 1.5)},
        )
    assert aws.requests() == []


def test_serverless_memory_size_off_the_allowed_steps_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="memory_size_mb == 1500, must be one of 1024, 2048"):
        launcher().deploy(MODEL_DATA, Serverless(memory_size_mb=1500))
    assert aws.requests() == []


def test_spot_max_wait_shorter_than_max_runtime_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="max_wait_s == 60, must be >= max_runtime_s"):
        launcher().train(
            Channels("s3://bucket/train/"),
            "s3://bucket/output/",
            compute=Compute(spot=True, max_runtime_s=3600, max_wait_s=60),
        )
    assert aws.requests() == []


def test_binary_tuning_maximizes_the_ensemble_auc_and_defines_every_binary_line(aws: MotoServer) -> None:
    launcher().tune(
        Channels("s3://bucket/train/"),
        "s3://bucket/output/",
        {"models": "xgboost", "eval_metric": "auc"},
        problem_type="binary",
        job_name="binary-auc",
    )

    ((_, request),) = aws.requests()
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "validation:auc",
    }
    definitions = request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert [d["Name"] for d in definitions] == [
        "validation:auc",
        "validation:auc-xgboost",
        "validation:logloss",
        "validation:logloss-xgboost",
        "validation:accuracy",
        "validation:accuracy-xgboost",
        "validation:f1",
        "validation:f1-xgboost",
    ]
    assert request["TrainingJobDefinition"]["StaticHyperParameters"] == {
        "models": "xgboost",
        "eval_metric": "auc",
        "problem_type": "binary",
    }


def test_multiclass_tuning_minimizes_the_default_mlogloss(aws: MotoServer) -> None:
    launcher().tune(
        Channels("s3://bucket/train/"),
        "s3://bucket/output/",
        {"problem_type": "multiclass"},
        job_name="multiclass",
    )

    ((_, request),) = aws.requests()
    assert request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": "validation:mlogloss",
    }


def test_an_eval_metric_of_another_problem_type_fails_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="eval_metric 'auc' does not apply to problem_type 'regression'"):
        launcher().tune(Channels("s3://bucket/train/"), "s3://bucket/output/", {"eval_metric": "auc"},
                        problem_type="regression")
    assert aws.requests() == []


def test_two_different_problem_types_fail_before_any_request(aws: MotoServer) -> None:
    with pytest.raises(UserError, match="problem_type 'binary' disagrees with the hyperparameter"):
        launcher().train(
            Channels("s3://bucket/train/"),
            "s3://bucket/output/",
            {"problem_type": "multiclass"},
            problem_type="binary",
        )
    assert aws.requests() == []
