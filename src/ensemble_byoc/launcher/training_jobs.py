"""CreateTrainingJob requests: our image, hyperparameters, channels, spot with checkpoints, metrics.

The metric definitions come from :mod:`ensemble_byoc.training.metric_lines`, the code that prints the
metric lines,
so a regex can never drift from the log format. Hyperparameters are checked
with the container's own parser before anything is sent, so a typo fails here and not on a paid
instance.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker.core import shapes

from ensemble_byoc.contract.logs import CV_METRIC_PREFIX, METRIC_PREFIX
from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.api_calls import check_instance_count
from ensemble_byoc.training.config import TrainConfig
from ensemble_byoc.training.metric_lines import metric_definitions, metric_definitions_for
from ensemble_byoc.training.multihost.layout import CLUSTER_SECRET_VARIABLE
from ensemble_byoc.training.scores import DEFAULT_EVAL_METRIC, PROBLEM_TYPES, eval_metrics_for, get_metric

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
"""Where SageMaker syncs the checkpoint S3 location; the job resumes finished units from it."""

@dataclass(frozen=True)
class Channels:
    """S3 inputs: ``train`` (required) and ``validation`` (optional; its rows join the CV pool, or with
    ``validation_mode`` holdout they score the final ensemble)."""

    train: str
    validation: str | None = None
    content_type: str | None = "text/csv"
    input_mode: str = "File"

    def to_shapes(self) -> list[shapes.Channel]:
        sources = {"train": self.train, "validation": self.validation}
        return [
            shapes.Channel(
                channel_name=name,
                data_source=shapes.DataSource(
                    s3_data_source=shapes.S3DataSource(
                        s3_data_type="S3Prefix", s3_uri=uri, s3_data_distribution_type="FullyReplicated"
                    )
                ),
                content_type=self.content_type,
                input_mode=self.input_mode,
            )
            for name, uri in sources.items()
            if uri is not None
        ]


@dataclass(frozen=True)
class Compute:
    """Instances, volume, time limits and managed spot training of a training job."""

    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_s: int = 24 * 3600
    spot: bool = False
    max_wait_s: int | None = None
    """Spot only: runtime plus time waiting for capacity; default twice ``max_runtime_s``."""
    checkpoint_s3_uri: str | None = None
    """Where finished units are saved for resume; with spot, default ``<output_path>/<job>/checkpoints``."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def stopping_condition(self) -> shapes.StoppingCondition:
        if not self.spot:
            if self.max_wait_s is not None:
                msg = "max_wait_s applies to spot training only; pass spot=True or drop it."
                raise UserError(msg)
            return shapes.StoppingCondition(max_runtime_in_seconds=self.max_runtime_s)
        max_wait = self.max_wait_s if self.max_wait_s is not None else 2 * self.max_runtime_s
        if max_wait < self.max_runtime_s:
            msg = f"max_wait_s == {max_wait}, must be >= max_runtime_s ({self.max_runtime_s}) with spot."
            raise UserError(msg)
        return shapes.StoppingCondition(
            max_runtime_in_seconds=self.max_runtime_s, max_wait_time_in_seconds=max_wait
        )

    def checkpoint_config(self, output_path: str, job_name: str) -> shapes.CheckpointConfig | None:
        uri = self.checkpoint_s3_uri
        if uri is None and self.spot:
            uri = f"{output_path.rstrip('/')}/{job_name}/checkpoints"
        return None if uri is None else shapes.CheckpointConfig(s3_uri=uri, local_path=CHECKPOINT_LOCAL_PATH)

    def resource_config(self, volume_kms_key: str | None = None) -> shapes.ResourceConfig:
        check_instance_count(self.instance_count)
        return shapes.ResourceConfig(
            instance_type=self.instance_type,
            instance_count=self.instance_count,
            volume_size_in_gb=self.volume_size_gb,
            volume_kms_key_id=volume_kms_key,
        )


def job_environment(environment: Mapping[str, str] | None, compute: Compute) -> dict[str, str] | None:
    """The training job's ``Environment``: ``environment``, plus a new random secret for the Dask cluster
    of a job with more than one instance (its hosts derive their TLS certificates from it), unless
    ``environment`` already sets one."""
    sent = dict(environment or {})
    if compute.instance_count > 1 and not sent.get(CLUSTER_SECRET_VARIABLE):
        sent[CLUSTER_SECRET_VARIABLE] = secrets.token_urlsafe(32)
    return sent or None


def encode_hyperparameters(values: Mapping[str, Any]) -> dict[str, str]:
    """The string form SageMaker passes to the container: ``0.1`` -> ``"0.1"``, a list -> ``"a,b"``."""
    encoded = {}
    for name, value in values.items():
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = json.dumps(value)
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(item) for item in value)
        else:
            text = str(value)
        encoded[str(name)] = text
    return encoded


def checked_hyperparameters(
    values: Mapping[str, Any], problem_type: str | None = None
) -> tuple[dict[str, str], TrainConfig]:
    """Encode ``values`` and parse them with the container's rules.

    The problem type is ``values["problem_type"]``, else ``problem_type``; it is sent only when given,
    so that a job left to itself infers it from the label as the container does (a 0/1 label trains
    as binary), and the metric definitions then cover every problem type (:func:`metric_definition_shapes`).

    Raises:
        UserError: an unknown hyperparameter (with the closest name), a value out of range, two
            different problem types, or an ``eval_metric`` the problem type does not print.
    """
    encoded = encode_hyperparameters(values)
    given = encoded.get("problem_type")
    if given is not None and problem_type is not None and given != problem_type:
        msg = f"problem_type {problem_type!r} disagrees with the hyperparameter problem_type={given!r}."
        raise UserError(msg)
    if given or problem_type:
        encoded["problem_type"] = given or problem_type or ""
    config = TrainConfig.from_hyperparameters(encoded)
    if config.problem_type is not None or config.eval_metric is not None:
        objective_metric(config)  # an eval_metric of another problem type fails here
    return encoded, config


def objective_metric(config: TrainConfig) -> tuple[str, str]:
    """AMT's objective: the ensemble's line of ``eval_metric`` (or the problem type's default) and its
    direction, e.g. ``("validation:rmse", "Minimize")``, ``("validation:auc", "Maximize")``.

    Raises:
        UserError: no problem type (a tuning job names its objective before any job runs, so the
            problem type cannot be left to inference), or an ``eval_metric`` it does not print.
    """
    problem_type = config.problem_type or _only_problem_type_of(config.eval_metric)
    if problem_type is None:
        msg = (
            "A tuning job names its objective metric before any training job runs, so the problem type "
            "cannot be inferred from the label: pass --problem-type regression, binary or multiclass "
            "(or the problem_type hyperparameter)."
        )
        raise UserError(msg)
    name = config.eval_metric or DEFAULT_EVAL_METRIC[problem_type]
    if name not in eval_metrics_for(problem_type):
        msg = f"eval_metric {name!r} does not apply to problem_type {problem_type!r}."
        raise UserError(msg)
    metric = get_metric(problem_type, name)
    definition = metric_definitions(metric.name, ())[0]
    return definition["Name"], "Maximize" if metric.greater_is_better else "Minimize"


def _only_problem_type_of(eval_metric: str | None) -> str | None:
    """The problem type an ``eval_metric`` belongs to, when exactly one prints it (``auc``: binary)."""
    if eval_metric is None:
        return None
    owners = [kind for kind in PROBLEM_TYPES if eval_metric in eval_metrics_for(kind)]
    return owners[0] if len(owners) == 1 else None


MAX_METRIC_DEFINITIONS = 40
"""SageMaker's limit on a training job's ``MetricDefinitions``."""


def metric_definition_shapes(config: TrainConfig) -> list[shapes.MetricDefinition]:
    """Every line the job may print: per metric, the ensemble's then each library's. Without a problem
    type (the job infers it), the lines of every problem type, each name once (within SageMaker's 40).

    With ``validation_mode`` holdout, the running ``cv-`` lines follow; when all of them do not fit in
    SageMaker's 40, only the ensemble's ``cv-`` lines are defined, as many as fit."""
    kinds = (config.problem_type,) if config.problem_type else PROBLEM_TYPES
    unique = _unique_definitions(kinds, config.models, METRIC_PREFIX)
    if config.validation_mode == "holdout":
        cv_lines = _unique_definitions(kinds, config.models, CV_METRIC_PREFIX)
        if len(unique) + len(cv_lines) > MAX_METRIC_DEFINITIONS:
            cv_lines = _unique_definitions(kinds, (), CV_METRIC_PREFIX)
        room = MAX_METRIC_DEFINITIONS - len(unique)
        unique |= dict(list(cv_lines.items())[:room])
    return [shapes.MetricDefinition(name=item["Name"], regex=item["Regex"]) for item in unique.values()]


def _unique_definitions(
    kinds: tuple[str, ...], libraries: tuple[str, ...], prefix: str
) -> dict[str, dict[str, str]]:
    return {item["Name"]: item for kind in kinds for item in metric_definitions_for(kind, libraries, prefix)}


def algorithm_specification(
    image_uri: str, config: TrainConfig, input_mode: str
) -> shapes.AlgorithmSpecification:
    return shapes.AlgorithmSpecification(
        training_image=image_uri,
        training_input_mode=input_mode,
        metric_definitions=metric_definition_shapes(config),
        enable_sage_maker_metrics_time_series=True,
    )
