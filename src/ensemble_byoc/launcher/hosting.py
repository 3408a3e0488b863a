"""Serving requests: the model, real-time and serverless endpoint configurations, batch transform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker.core import shapes
from sagemaker.core.utils.utils import serialize

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.api_calls import check_instance_count

VARIANT_NAME = "AllTraffic"
"""The variant name the SageMaker SDK gives a single-model endpoint."""
SERVERLESS_MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
MULTI_MODEL_VARIABLE = "SAGEMAKER_MULTI_MODEL"
"""What ``container/serve`` reads to answer SageMaker's model API instead of one model's /invocations."""


@dataclass(frozen=True)
class RealTime:
    """A real-time endpoint on dedicated instances."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1

    def variant(self, model_name: str) -> shapes.ProductionVariant:
        check_instance_count(self.instance_count)
        return shapes.ProductionVariant(
            variant_name=VARIANT_NAME,
            model_name=model_name,
            instance_type=self.instance_type,
            initial_instance_count=self.instance_count,
            initial_variant_weight=1.0,
        )


@dataclass(frozen=True)
class Serverless:
    """A serverless endpoint: memory (1024-6144 MB, in 1024 MB steps) and concurrent invocations.

    The three libraries and their fold models load in well under 2 GB on the data sets we test.
    """

    memory_size_mb: int = 2048
    max_concurrency: int = 5

    def variant(self, model_name: str) -> dict[str, Any]:
        if self.memory_size_mb not in SERVERLESS_MEMORY_SIZES_MB:
            sizes = ", ".join(map(str, SERVERLESS_MEMORY_SIZES_MB))
            msg = f"memory_size_mb == {self.memory_size_mb}, must be one of {sizes}."
            raise UserError(msg)
        if not 1 <= self.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
            limit = SERVERLESS_MAX_CONCURRENCY
            msg = f"max_concurrency == {self.max_concurrency}, must be between 1 and {limit}."
            raise UserError(msg)
        # Written as the API's dict: sagemaker-core 2.27 serializes the shape's memory_size_in_mb as
        # "MemorySizeInMb", which the service model (and so check_request) rejects.
        variant: dict[str, Any] = serialize(
            shapes.ProductionVariant(variant_name=VARIANT_NAME, model_name=model_name)
        )
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": self.memory_size_mb,
            "MaxConcurrency": self.max_concurrency,
        }
        return variant


@dataclass(frozen=True)
class MultiModel:
    """The models of a multi-model endpoint: every ``model.tar.gz`` under one S3 prefix.

    Given in place of one model's ``model_data``; an InvokeEndpoint's ``TargetModel`` then names a model
    by its path under the prefix (``churn/model.tar.gz``), which SageMaker loads on first use.

    Raises:
        UserError: a prefix that is not ``s3://bucket/...`` ending in ``/`` (SageMaker appends the
            target model's path to it as written).
    """

    prefix: str

    def __post_init__(self) -> None:
        bucket = self.prefix.removeprefix("s3://").partition("/")[0]
        if not self.prefix.startswith("s3://") or not bucket or not self.prefix.endswith("/"):
            msg = (f"multi-model prefix {self.prefix!r} is not an S3 prefix ending in '/': write "
                   "s3://bucket/models/, the folder that holds the model.tar.gz files.")
            raise UserError(msg)


def check_mode(model_data: str | MultiModel, mode: RealTime | Serverless) -> None:
    """Refuse a multi-model endpoint on serverless hosting, which SageMaker does not offer."""
    if isinstance(model_data, MultiModel) and isinstance(mode, Serverless):
        msg = ("A multi-model endpoint cannot be serverless (SageMaker hosts multi-model endpoints on "
               "real-time instances only); drop --serverless or --multi-model.")
        raise UserError(msg)


def model_environment(model_data: str | MultiModel, environment: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: ``SAGEMAKER_MULTI_MODEL=true`` added for a multi-model endpoint.

    Raises:
        UserError: ``SAGEMAKER_MULTI_MODEL`` set against the kind of model, which would start a server
            that answers the other API (no model at all, or no /models).
    """
    multi = isinstance(model_data, MultiModel)
    given = environment.get(MULTI_MODEL_VARIABLE)
    if given is not None and (given.strip().lower() == "true") != multi:
        fix = "drop it (a multi-model deploy sets it)" if multi else "deploy with --multi-model S3_PREFIX"
        kind = "multi-model" if multi else "single-model"
        msg = f"--env {MULTI_MODEL_VARIABLE}={given!r} does not fit a {kind} deploy; {fix}."
        raise UserError(msg)
    return {**environment, MULTI_MODEL_VARIABLE: "true"} if multi else dict(environment)


@dataclass(frozen=True)
class BatchTransform:
    """A batch transform: S3 input split into lines, sent in MultiRecord batches, output per file.

    ``input_filter``/``join_source``/``output_filter`` are SageMaker's DataProcessing options, e.g.
    ``input_filter="$[1:]"`` drops a label in the first column, ``join_source="Input"`` keeps the
    input next to each prediction.
    """

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    content_type: str = "text/csv"
    accept: str = "text/csv"
    split_type: str = "Line"
    batch_strategy: str = "MultiRecord"
    max_payload_mb: int = 6
    max_concurrent_transforms: int | None = None
    """None lets SageMaker ask the container (GET /execution-parameters)."""
    input_filter: str | None = None
    join_source: str | None = None
    output_filter: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    def transform_input(self, input_path: str) -> shapes.TransformInput:
        return shapes.TransformInput(
            data_source=shapes.TransformDataSource(
                s3_data_source=shapes.TransformS3DataSource(s3_data_type="S3Prefix", s3_uri=input_path)
            ),
            content_type=self.content_type,
            split_type=self.split_type,
        )

    def transform_output(self, output_path: str, kms_key: str | None = None) -> shapes.TransformOutput:
        assemble_with = "Line" if self.split_type == "Line" else None
        return shapes.TransformOutput(
            s3_output_path=output_path, accept=self.accept, assemble_with=assemble_with, kms_key_id=kms_key
        )

    def transform_resources(self, volume_kms_key: str | None = None) -> shapes.TransformResources:
        check_instance_count(self.instance_count)
        return shapes.TransformResources(instance_type=self.instance_type, instance_count=self.instance_count,
                                         volume_kms_key_id=volume_kms_key)

    def data_processing(self) -> shapes.DataProcessing | None:
        if self.input_filter is None and self.join_source is None and self.output_filter is None:
            return None
        return shapes.DataProcessing(
            input_filter=self.input_filter, join_source=self.join_source, output_filter=self.output_filter
        )


def container(
    image_uri: str, model_data: str | MultiModel, environment: Mapping[str, str]
) -> shapes.ContainerDefinition:
    """Our image with the training job's ``model.tar.gz``, or in MultiModel mode with the prefix of many;
    ``environment`` sets e.g. SAGEMAKER_* settings."""
    mode, url = (None, model_data) if isinstance(model_data, str) else ("MultiModel", model_data.prefix)
    return shapes.ContainerDefinition(
        image=image_uri, mode=mode, model_data_url=url, environment=dict(environment) or None
    )
