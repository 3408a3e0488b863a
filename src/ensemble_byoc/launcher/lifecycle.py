"""After a launch: describe, wait (with the job's CloudWatch log), stop, and the best job of a tuning job.

Every call goes through :func:`~ensemble_byoc.launcher.api_calls.send`, as the launches do, so a dry
run shows each request and a real run records each answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from botocore.exceptions import ClientError

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.api_calls import ApiCall, send


@dataclass(frozen=True)
class Kind:
    """One kind of SageMaker resource: how it is described, stopped and logged."""

    describe: str
    name_field: str
    status_field: str
    done: frozenset[str]
    succeeded: str
    stop: str | None = None
    log_group: str | None = None
    """CloudWatch log group of its containers; streams start with the resource's name."""


KINDS: dict[str, Kind] = {
    "training-job": Kind("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus",
                         frozenset({"Completed", "Failed", "Stopped"}), "Completed", "StopTrainingJob",
                         "/aws/sagemaker/TrainingJobs"),
    "tuning-job": Kind("DescribeHyperParameterTuningJob", "HyperParameterTuningJobName",
                       "HyperParameterTuningJobStatus", frozenset({"Completed", "Failed", "Stopped"}),
                       "Completed", "StopHyperParameterTuningJob"),
    "transform-job": Kind("DescribeTransformJob", "TransformJobName", "TransformJobStatus",
                          frozenset({"Completed", "Failed", "Stopped"}), "Completed", "StopTransformJob",
                          "/aws/sagemaker/TransformJobs"),
    "endpoint": Kind("DescribeEndpoint", "EndpointName", "EndpointStatus",
                     frozenset({"InService", "Failed", "OutOfService", "UpdateRollbackFailed"}), "InService"),
}


def succeeded(kind_name: str, answer: dict[str, Any]) -> bool:
    """Done as asked: a job completed; an endpoint in service with no failure reason (an update that
    failed leaves the endpoint in service on its old model, with the reason why)."""
    kind = kind_of(kind_name)
    return answer.get(kind.status_field) == kind.succeeded and not answer.get("FailureReason")


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        msg = f"Unknown kind {name!r}; choose one of {', '.join(KINDS)}."
        raise UserError(msg) from None


@dataclass(frozen=True)
class Waiter:
    """Polls a resource until it is done, printing its new log lines and status changes as they come."""

    session: Any
    region: str | None = None
    poll_s: float = 15.0
    timeout_s: float | None = None
    """Give up after this long (the job or endpoint goes on); None waits until it is done."""
    out: TextIO | None = None
    sleep: Callable[[float], None] = time.sleep

    def wait(self, kind_name: str, name: str) -> dict[str, Any]:
        """The final description; prints the log, status changes, and for a training job its metrics."""
        kind = kind_of(kind_name)
        seen: dict[str, int | None] = {}
        status = None
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        logs = kind.log_group
        while True:
            answer = self.describe(kind, name)
            if answer[kind.status_field] != status:
                status = answer[kind.status_field]
                self._print(f"== {kind_name} {name}: {status}")
            if logs:
                try:
                    for line in self._new_log_lines(logs, name, seen):
                        self._print(line)
                except ClientError as exc:  # e.g. no logs:GetLogEvents: the status is still worth following
                    self._print(f"== the log cannot be read ({exc.response['Error'].get('Code')}); "
                                "following the status only")
                    logs = None
            if status in kind.done:
                break
            if deadline is not None and time.monotonic() > deadline:
                msg = (f"{kind_name} {name} is still {status} after {self.timeout_s:g} s; it goes on "
                       f"(ensemble-byoc wait {kind_name} {name} follows it again).")
                raise UserError(msg)
            self.sleep(self.poll_s)
        for line in summary_lines(answer):
            self._print(line)
        return answer

    def describe(self, kind: Kind, name: str) -> dict[str, Any]:
        call = send(kind.describe, {kind.name_field: name}, dry_run=False, session=self.session,
                    region=self.region)
        return dict(call.response or {})

    def _new_log_lines(self, group: str, prefix: str, seen: dict[str, int | None]) -> Iterator[str]:
        logs = self.session.client("logs", region_name=self.region)
        try:
            # The job's streams are "<name>/<host>-<id>": the slash keeps out jobs whose names begin alike.
            streams = logs.describe_log_streams(logGroupName=group,
                                                logStreamNamePrefix=f"{prefix}/")["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return  # no container has written yet
        for stream in sorted(item["logStreamName"] for item in streams):
            token = seen.get(stream)
            arguments = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            while True:
                page = logs.get_log_events(**arguments, **({"nextToken": token} if token else {}))
                for event in page["events"]:
                    yield event["message"].rstrip("\n")
                if page.get("nextForwardToken") in (None, token):
                    break
                token = page["nextForwardToken"]
            seen[stream] = token

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def summary_lines(answer: dict[str, Any]) -> list[str]:
    """A finished resource in a few lines: why it failed, its final metrics, its model."""
    lines = []
    if answer.get("FailureReason"):
        lines.append(f"== failure reason: {answer['FailureReason']}")
    for metric in answer.get("FinalMetricDataList") or []:
        lines.append(f"== final metric {metric['MetricName']} = {metric['Value']}")
    model = (answer.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model:
        lines.append(f"== model: {model}")
    best = answer.get("BestTrainingJob")
    if best:
        lines.append(f"== best training job: {best['TrainingJobName']}")
    return lines


def stop(
    kind_name: str, name: str, *, dry_run: bool, session: Any = None, region: str | None = None
) -> ApiCall:
    kind = kind_of(kind_name)
    if kind.stop is None:
        msg = f"A {kind_name} cannot be stopped; delete it instead (delete-endpoint)."
        raise UserError(msg)
    return send(kind.stop, {kind.name_field: name}, dry_run=dry_run, session=session, region=region)


def best_training_job(tuning_job: str, *, session: Any = None, region: str | None = None) -> dict[str, Any]:
    """The tuning job's best training job so far: name, objective, hyperparameters and model."""
    waiter = Waiter(session, region)
    answer = waiter.describe(KINDS["tuning-job"], tuning_job)
    best = answer.get("BestTrainingJob")
    if not best:
        status = answer.get("HyperParameterTuningJobStatus")
        msg = f"Tuning job {tuning_job!r} has no finished training job yet (status {status})."
        raise UserError(msg)
    job = waiter.describe(KINDS["training-job"], best["TrainingJobName"])
    return {
        "TrainingJobName": best["TrainingJobName"],
        "Objective": best.get("FinalHyperParameterTuningJobObjectiveMetric"),
        "TunedHyperParameters": best.get("TunedHyperParameters", {}),
        "ModelData": (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
    }


def delete_endpoint(
    name: str, *, dry_run: bool, session: Any = None, region: str | None = None
) -> list[ApiCall]:
    """Delete the endpoint, then its configuration and the models that configuration serves.

    The configuration and models are read from the endpoint first (DescribeEndpoint,
    DescribeEndpointConfig); a dry run sends nothing, so it shows those reads and DeleteEndpoint only.
    """
    def call(operation: str, **request: Any) -> ApiCall:
        return send(operation, request, dry_run=dry_run, session=session, region=region)

    endpoint = call("DescribeEndpoint", EndpointName=name)
    if dry_run:
        return [endpoint, call("DeleteEndpoint", EndpointName=name)]
    config_name = (endpoint.response or {})["EndpointConfigName"]
    config = call("DescribeEndpointConfig", EndpointConfigName=config_name)
    models = [variant["ModelName"] for variant in (config.response or {}).get("ProductionVariants", [])]
    deletes = [call("DeleteEndpoint", EndpointName=name),
               call("DeleteEndpointConfig", EndpointConfigName=config_name)]
    return [endpoint, config, *deletes, *(call("DeleteModel", ModelName=model) for model in models)]


def current_variant(endpoint: str, *, session: Any = None, region: str | None = None) -> dict[str, Any]:
    """The endpoint's first production variant as its configuration holds it (instance type and count,
    or its serverless settings)."""
    def described(operation: str, **request: Any) -> dict[str, Any]:
        return dict(send(operation, request, dry_run=False, session=session, region=region).response or {})

    config = described("DescribeEndpoint", EndpointName=endpoint)["EndpointConfigName"]
    variants = described("DescribeEndpointConfig", EndpointConfigName=config).get("ProductionVariants")
    return dict((variants or [{}])[0])

