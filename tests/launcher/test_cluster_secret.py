"""The launcher gives every training job of more than one instance its own secret for the Dask cluster's
TLS, in the job's environment (moto records the CreateTrainingJob requests that arrive)."""

from __future__ import annotations

import boto3
from moto_recorder import IMAGE_URI, REGION, ROLE_ARN, MotoServer, aws_fixture, moto_server_fixture  # noqa: F401 (fixtures)

from ensemble_byoc.launcher import Channels, Compute, Launcher

SECRET = "ENSEMBLE_BYOC_CLUSTER_SECRET"


def launcher() -> Launcher:
    return Launcher(image_uri=IMAGE_URI, role_arn=ROLE_ARN, region=REGION,
                    session=boto3.Session(region_name=REGION))


def test_each_multi_instance_job_gets_a_new_long_random_secret_beside_the_callers_environment(
    aws: MotoServer,
) -> None:
    for name in ("three-hosts-a", "three-hosts-b"):
        launcher().train(Channels("s3://bucket/train/"), "s3://bucket/output/",
                         compute=Compute(instance_count=3), environment={"MY_SETTING": "1"}, job_name=name)
    (_, first), (_, second) = aws.requests()
    assert first["Environment"]["MY_SETTING"] == "1"
    assert len(first["Environment"][SECRET]) >= 43
    assert first["Environment"][SECRET] != second["Environment"][SECRET]


def test_a_single_instance_job_gets_no_secret_and_a_callers_own_secret_is_sent_as_given(
    aws: MotoServer,
) -> None:
    launcher().train(Channels("s3://bucket/train/"), "s3://bucket/output/", job_name="one-host")
    launcher().train(Channels("s3://bucket/train/"), "s3://bucket/output/",
                     compute=Compute(instance_count=2), job_name="own-secret",
                     environment={SECRET: "my-own-secret-of-enough-length"})
    (_, single), (_, own) = aws.requests()
    assert "Environment" not in single
    assert own["Environment"] == {SECRET: "my-own-secret-of-enough-length"}


def test_a_multi_instance_tuning_jobs_training_jobs_get_a_secret_too(aws: MotoServer) -> None:
    launcher().tune(Channels("s3://bucket/train/"), "s3://bucket/output/", compute=Compute(instance_count=2),
                    problem_type="regression", job_name="tuned-on-two")

    ((_, request),) = aws.requests()
    assert len(request["TrainingJobDefinition"]["Environment"][SECRET]) >= 43
