"""The launcher: training, tuning, endpoints, batch transform and predictions over the SageMaker SDK.

One :class:`Launcher` holds what every request shares (image, role, region, session, dry run); each
method builds its requests with the SDK's shapes, checks them against the service model and sends them
with the SDK's client, or, with ``dry_run=True``, returns them unsent.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker.core.parameter import ParameterRange
from sagemaker.core.shapes import (
    HyperParameterAlgorithmSpecification,
    HyperParameterTrainingJobDefinition,
    OutputDataConfig,
    Tag,
)

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher import hosting, training_jobs, tuning
from ensemble_byoc.launcher.api_calls import ApiCall, Submission, build_request, send
from ensemble_byoc.launcher.hosting import BatchTransform, MultiModel, RealTime, Serverless
from ensemble_byoc.launcher.security import Security
from ensemble_byoc.launcher.serving_checks import check_serving_environment
from ensemble_byoc.launcher.training_jobs import Channels, Compute
from ensemble_byoc.launcher.tuning import TuningSettings

BASE_NAME = "ensemble-byoc"
TUNING_NAME_MAX_LENGTH = 32


def unique_name(base: str, max_length: int = 63) -> str:
    """``<base>-<yymmdd-HHMMSS>-<4 random hex digits>``, at most ``max_length`` characters: two jobs
    started in the same second (or two deploys of one endpoint name) never share a name."""
    suffix = f"-{time.strftime('%y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
    return base[: max_length - len(suffix)].rstrip("-") + suffix


@dataclass(frozen=True)
class Launcher:
    """Launch our image on SageMaker.

    Args:
        image_uri: the image in ECR,
            e.g. ``123456789012.dkr.ecr.us-east-1.amazonaws.com/ensemble-byoc:latest``.
        role_arn: the SageMaker execution role.
        region: the AWS region; None uses the session's (``AWS_REGION``, ``~/.aws/config``).
        session: a ``boto3.Session``; None uses the default credential chain.
        dry_run: build and check every request, send none (needs no credentials).
        base_name: prefix of the generated job, model and endpoint names.
        security: network isolation, VPC, encryption between instances and KMS keys for every request.
    """

    image_uri: str
    role_arn: str
    region: str | None = None
    session: Any = field(default=None, compare=False, repr=False)
    dry_run: bool = False
    base_name: str = BASE_NAME
    security: Security = field(default_factory=Security)
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every job, model, endpoint configuration and endpoint created."""

    def _tags(self, compute: Compute | None = None) -> list[Tag] | None:
        """The launcher's tags and the compute's (those win), as the API's list."""
        merged = {**self.tags, **(compute.tags if compute is not None else {})}
        return [Tag(key=key, value=value) for key, value in merged.items()] or None

    def _check_serving(self, environment: Mapping[str, str], model_data: str | MultiModel) -> None:
        import boto3

        session = self.session or boto3.Session(region_name=self.region)
        single = model_data if isinstance(model_data, str) else None  # a prefix has no one manifest
        check_serving_environment(environment, single, session=session, dry_run=self.dry_run)

    def _output_config(self, output_path: str) -> OutputDataConfig:
        return OutputDataConfig(s3_output_path=output_path, kms_key_id=self.security.output_kms_key)

    def _endpoint_volume_key(self, mode: RealTime | Serverless) -> str | None:
        if isinstance(mode, Serverless) and self.security.volume_kms_key:
            msg = "A serverless endpoint has no volume to encrypt; drop the volume key (--volume-kms-key)."
            raise UserError(msg)
        return self.security.volume_kms_key

    def _send(self, operation: str, request: Mapping[str, Any]) -> ApiCall:
        return send(operation, request, dry_run=self.dry_run, session=self.session, region=self.region)

    def train(
        self,
        channels: Channels,
        output_path: str,
        hyperparameters: Mapping[str, Any] | None = None,
        compute: Compute | None = None,
        *,
        problem_type: str | None = None,
        environment: Mapping[str, str] | None = None,
        job_name: str | None = None,
    ) -> Submission:
        """Start a training job (CreateTrainingJob) with the metric definitions of our log lines.

        ``problem_type`` (``regression``, ``binary``, ``multiclass``; or the ``problem_type``
        hyperparameter; default regression) is sent as a hyperparameter, so the job prints exactly
        the lines the metric definitions were made for.

        Raises:
            UserError: a hyperparameter the container would reject, or inconsistent spot settings.
        """
        compute = compute or Compute()
        name = job_name or unique_name(self.base_name)
        encoded, config = training_jobs.checked_hyperparameters(hyperparameters or {}, problem_type)
        request = build_request(
            TrainingJobName=name,
            AlgorithmSpecification=training_jobs.algorithm_specification(
                self.image_uri, config, channels.input_mode
            ),
            RoleArn=self.role_arn,
            HyperParameters=encoded or None,
            InputDataConfig=channels.to_shapes(),
            OutputDataConfig=self._output_config(output_path),
            ResourceConfig=compute.resource_config(self.security.volume_kms_key),
            VpcConfig=self.security.vpc_config(),
            StoppingCondition=compute.stopping_condition(),
            EnableNetworkIsolation=self.security.isolation(),
            EnableInterContainerTrafficEncryption=self.security.encrypt_between(compute.instance_count),
            EnableManagedSpotTraining=compute.spot or None,
            CheckpointConfig=compute.checkpoint_config(output_path, name),
            Environment=training_jobs.job_environment(environment, compute),
            Tags=self._tags(compute),
        )
        return Submission(name, (self._send("CreateTrainingJob", request),))

    def tune(
        self,
        channels: Channels,
        output_path: str,
        hyperparameters: Mapping[str, Any] | None = None,
        ranges: Mapping[str, ParameterRange] | None = None,
        settings: TuningSettings | None = None,
        compute: Compute | None = None,
        *,
        job_name: str | None = None,
        problem_type: str | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> Submission:
        """Start a tuning job (CreateHyperParameterTuningJob) on the ensemble's CV objective: the ensemble's
        line of ``eval_metric`` (default: rmse, logloss or mlogloss by problem type), minimised or maximised
        as that metric requires. ``hyperparameters`` stay fixed in every training job; ``ranges`` default
        to :func:`~ensemble_byoc.launcher.tuning.default_ranges` for the fixed ones.
        """
        compute = compute or Compute()
        name = job_name or unique_name(self.base_name, TUNING_NAME_MAX_LENGTH)
        encoded, config = training_jobs.checked_hyperparameters(hyperparameters or {}, problem_type)
        tuned = tuning.resolve_ranges(ranges, encoded)
        objective, direction = training_jobs.objective_metric(config)
        definition = HyperParameterTrainingJobDefinition(
            algorithm_specification=HyperParameterAlgorithmSpecification(
                training_image=self.image_uri,
                training_input_mode=channels.input_mode,
                metric_definitions=training_jobs.metric_definition_shapes(config),
            ),
            role_arn=self.role_arn,
            static_hyper_parameters=encoded or None,
            input_data_config=channels.to_shapes(),
            output_data_config=self._output_config(output_path),
            resource_config=compute.resource_config(self.security.volume_kms_key),
            vpc_config=self.security.vpc_config(),
            stopping_condition=compute.stopping_condition(),
            enable_network_isolation=self.security.isolation(),
            enable_inter_container_traffic_encryption=self.security.encrypt_between(compute.instance_count),
            environment=training_jobs.job_environment(environment, compute),
            enable_managed_spot_training=compute.spot or None,
            checkpoint_config=compute.checkpoint_config(output_path, name),
        )
        request = build_request(
            HyperParameterTuningJobName=name,
            HyperParameterTuningJobConfig=tuning.tuning_job_config(
                settings or TuningSettings(), tuned, objective, direction),
            TrainingJobDefinition=definition,
            Tags=self._tags(compute),
        )
        return Submission(name, (self._send("CreateHyperParameterTuningJob", request),))

    def create_model(self, model_data: str | MultiModel, *, model_name: str | None = None,
                     environment: Mapping[str, str] | None = None) -> Submission:
        """Register ``model_data`` (a training job's ``model.tar.gz``, or a :class:`MultiModel` prefix)
        with our image (CreateModel).

        The serving settings in ``environment`` are checked first, as the server will check them.
        """
        environment = hosting.model_environment(model_data, environment or {})
        self._check_serving(environment, model_data)
        name = model_name or unique_name(self.base_name)
        request = build_request(
            ModelName=name,
            PrimaryContainer=hosting.container(self.image_uri, model_data, environment),
            ExecutionRoleArn=self.role_arn,
            VpcConfig=self.security.vpc_config(),
            EnableNetworkIsolation=self.security.isolation(),
            Tags=self._tags(),
        )
        return Submission(name, (self._send("CreateModel", request),))

    def deploy(
        self,
        model_data: str | MultiModel,
        hosting_mode: RealTime | Serverless | None = None,
        *,
        endpoint_name: str | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> Submission:
        """Create the model and an endpoint configuration (both named ``<endpoint_name>-<time>-<hex>``),
        then the endpoint ``endpoint_name``.

        ``hosting_mode`` is :class:`RealTime` (default: one ``ml.m5.large``) or :class:`Serverless`;
        ``model_data`` a ``model.tar.gz``, or a :class:`MultiModel` prefix (real-time hosting only).
        """
        mode = hosting_mode or RealTime()
        name = endpoint_name or unique_name(self.base_name)
        version, calls = self._model_and_configuration(name, model_data, mode, environment)
        endpoint = self._send("CreateEndpoint", build_request(EndpointName=name, EndpointConfigName=version,
                                                           Tags=self._tags()))
        return Submission(name, (*calls, endpoint))

    def update_endpoint(
        self,
        endpoint_name: str,
        model_data: str | MultiModel,
        hosting_mode: RealTime | Serverless | None = None,
        *,
        environment: Mapping[str, str] | None = None,
    ) -> Submission:
        """Serve ``model_data`` from an existing endpoint without downtime: a new model and configuration,
        then UpdateEndpoint (SageMaker moves traffic once the new instances are healthy)."""
        version, calls = self._model_and_configuration(endpoint_name, model_data, hosting_mode or RealTime(),
                                                       environment)
        update = self._send("UpdateEndpoint",
                            build_request(EndpointName=endpoint_name, EndpointConfigName=version))
        return Submission(endpoint_name, (*calls, update))

    def _model_and_configuration(
        self, endpoint_name: str, model_data: str | MultiModel, mode: RealTime | Serverless,
        environment: Mapping[str, str] | None,
    ) -> tuple[str, tuple[ApiCall, ...]]:
        """A model and an endpoint configuration named ``<endpoint_name>-<time>-<hex>``, so a new deploy or
        update never collides with the names of an earlier one."""
        version = unique_name(endpoint_name)
        hosting.check_mode(model_data, mode)
        variant = mode.variant(version)  # checks the settings before anything is sent
        model = self.create_model(model_data, model_name=version, environment=environment)
        config = self._send(
            "CreateEndpointConfig",
            build_request(EndpointConfigName=version, ProductionVariants=[variant],
                          KmsKeyId=self._endpoint_volume_key(mode), Tags=self._tags()),
        )
        return version, (*model.calls, config)

    def transform(
        self,
        input_path: str,
        output_path: str,
        *,
        model_data: str | None = None,
        model_name: str | None = None,
        batch: BatchTransform | None = None,
        job_name: str | None = None,
    ) -> Submission:
        """Run a batch transform (CreateTransformJob) over every object under ``input_path``.

        Give ``model_data`` to create a model first, or ``model_name`` to use an existing one.
        """
        batch = batch or BatchTransform()
        if (model_data is None) == (model_name is None):
            msg = "Give exactly one of model_data and model_name."
            raise UserError(msg)
        name = job_name or unique_name(self.base_name)
        calls: tuple[ApiCall, ...] = ()
        if model_data is not None:
            self._check_serving(batch.environment, model_data)
            created = self.create_model(model_data, model_name=name)
            model_name, calls = created.name, created.calls
        request = build_request(
            TransformJobName=name,
            ModelName=model_name,
            TransformInput=batch.transform_input(input_path),
            TransformOutput=batch.transform_output(output_path, self.security.output_kms_key),
            TransformResources=batch.transform_resources(self.security.volume_kms_key),
            BatchStrategy=batch.batch_strategy,
            MaxPayloadInMB=batch.max_payload_mb,
            MaxConcurrentTransforms=batch.max_concurrent_transforms,
            DataProcessing=batch.data_processing(),
            Environment=dict(batch.environment) or None,
            Tags=self._tags(),
        )
        return Submission(name, (*calls, self._send("CreateTransformJob", request)))
