"""The launcher: training, tuning, endpoints, batch transform and predictions over the SageMaker SDK.

One :class:`Launcher` holds what every request shares (image, role, region, session, dry run); each
method builds its requests with the SDK's shapes, checks them against the service model and sends them
with the SDK's client, or, with ``dry_run=True``, returns them unsent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker.core.common_utils import name_from_base
from sagemaker.core.deserializers import CSVDeserializer
from sagemaker.core.deserializers.base import BaseDeserializer
from sagemaker.core.parameter import ParameterRange
from sagemaker.core.resources import Endpoint
from sagemaker.core.serializers import CSVSerializer
from sagemaker.core.serializers.base import BaseSerializer
from sagemaker.core.shapes import (
    HyperParameterAlgorithmSpecification,
    HyperParameterTrainingJobDefinition,
    OutputDataConfig,
)

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher import hosting, training_jobs, tuning
from ensemble_byoc.launcher.api_calls import ApiCall, build_request, check_request, send
from ensemble_byoc.launcher.hosting import BatchTransform, RealTime, Serverless
from ensemble_byoc.launcher.training_jobs import Channels, Compute
from ensemble_byoc.launcher.tuning import TuningSettings

BASE_NAME = "ensemble-byoc"
TUNING_NAME_MAX_LENGTH = 32


@dataclass(frozen=True)
class Submission:
    """What a launcher method did: the name of the job or endpoint and every request, in order."""

    name: str
    calls: tuple[ApiCall, ...]

    @property
    def dry_run(self) -> bool:
        return all(call.response is None for call in self.calls)

    def requests(self) -> list[dict[str, Any]]:
        """``[{"operation": ..., "request": ...}, ...]``, what ``--dry-run`` prints."""
        return [call.to_dict() for call in self.calls]


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
    """

    image_uri: str
    role_arn: str
    region: str | None = None
    session: Any = field(default=None, compare=False, repr=False)
    dry_run: bool = False
    base_name: str = BASE_NAME

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
        name = job_name or name_from_base(self.base_name)
        encoded, config = training_jobs.checked_hyperparameters(hyperparameters or {}, problem_type)
        request = build_request(
            TrainingJobName=name,
            AlgorithmSpecification=training_jobs.algorithm_specification(
                self.image_uri, config, channels.input_mode
            ),
            RoleArn=self.role_arn,
            HyperParameters=encoded or None,
            InputDataConfig=channels.to_shapes(),
            OutputDataConfig=OutputDataConfig(s3_output_path=output_path),
            ResourceConfig=compute.resource_config(),
            StoppingCondition=compute.stopping_condition(),
            EnableManagedSpotTraining=compute.spot or None,
            CheckpointConfig=compute.checkpoint_config(output_path, name),
            Environment=training_jobs.job_environment(environment, compute),
            Tags=compute.tag_shapes(),
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
        problem_type: str | None = None,
        job_name: str | None = None,
    ) -> Submission:
        """Start a tuning job (CreateHyperParameterTuningJob) on the ensemble's CV objective.

        The objective is the ensemble's line of ``eval_metric`` (default: rmse, logloss or mlogloss by
        problem type), minimised or maximised as that metric requires. ``hyperparameters`` stay fixed
        in every training job; ``ranges`` default to
        :func:`~ensemble_byoc.launcher.tuning.default_ranges` less the fixed ones.
        """
        settings = settings or TuningSettings()
        compute = compute or Compute()
        name = job_name or name_from_base(self.base_name, max_length=TUNING_NAME_MAX_LENGTH, short=True)
        encoded, config = training_jobs.checked_hyperparameters(hyperparameters or {}, problem_type)
        tuned = tuning.resolve_ranges(ranges, encoded)
        objective, direction = training_jobs.objective_metric(config)
        definitions = training_jobs.metric_definition_shapes(config)
        definition = HyperParameterTrainingJobDefinition(
            algorithm_specification=HyperParameterAlgorithmSpecification(
                training_image=self.image_uri,
                training_input_mode=channels.input_mode,
                metric_definitions=definitions,
            ),
            role_arn=self.role_arn,
            static_hyper_parameters=encoded or None,
            input_data_config=channels.to_shapes(),
            output_data_config=OutputDataConfig(s3_output_path=output_path),
            resource_config=compute.resource_config(),
            stopping_condition=compute.stopping_condition(),
            enable_managed_spot_training=compute.spot or None,
            checkpoint_config=compute.checkpoint_config(output_path, name),
        )
        request = build_request(
            HyperParameterTuningJobName=name,
            HyperParameterTuningJobConfig=tuning.tuning_job_config(settings, tuned, objective, direction),
            TrainingJobDefinition=definition,
            Tags=compute.tag_shapes(),
        )
        return Submission(name, (self._send("CreateHyperParameterTuningJob", request),))

    def create_model(
        self, model_data: str, *, model_name: str | None = None, environment: Mapping[str, str] | None = None
    ) -> Submission:
        """Register ``model_data`` (a training job's ``model.tar.gz``) with our image (CreateModel)."""
        name = model_name or name_from_base(self.base_name)
        request = build_request(
            ModelName=name,
            PrimaryContainer=hosting.container(self.image_uri, model_data, environment or {}),
            ExecutionRoleArn=self.role_arn,
        )
        return Submission(name, (self._send("CreateModel", request),))

    def deploy(
        self,
        model_data: str,
        hosting_mode: RealTime | Serverless | None = None,
        *,
        endpoint_name: str | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> Submission:
        """Create the model, an endpoint configuration and the endpoint, all named ``endpoint_name``.

        ``hosting_mode`` is :class:`RealTime` (default: one ``ml.m5.large``) or :class:`Serverless`.
        """
        mode = hosting_mode or RealTime()
        name = endpoint_name or name_from_base(self.base_name)
        variant = mode.variant(name)  # checks the settings before anything is sent
        model = self.create_model(model_data, model_name=name, environment=environment)
        config = self._send(
            "CreateEndpointConfig", build_request(EndpointConfigName=name, ProductionVariants=[variant])
        )
        endpoint = self._send("CreateEndpoint", build_request(EndpointName=name, EndpointConfigName=name))
        return Submission(name, (*model.calls, config, endpoint))

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
        name = job_name or name_from_base(self.base_name)
        calls: tuple[ApiCall, ...] = ()
        if model_data is not None:
            created = self.create_model(model_data, model_name=name)
            model_name, calls = created.name, created.calls
        request = build_request(
            TransformJobName=name,
            ModelName=model_name,
            TransformInput=batch.transform_input(input_path),
            TransformOutput=batch.transform_output(output_path),
            TransformResources=batch.transform_resources(),
            BatchStrategy=batch.batch_strategy,
            MaxPayloadInMB=batch.max_payload_mb,
            MaxConcurrentTransforms=batch.max_concurrent_transforms,
            DataProcessing=batch.data_processing(),
            Environment=dict(batch.environment) or None,
        )
        return Submission(name, (*calls, self._send("CreateTransformJob", request)))


def predict(
    endpoint_name: str,
    data: Any,
    *,
    serializer: BaseSerializer | None = None,
    deserializer: BaseDeserializer | None = None,
    session: Any = None,
    region: str | None = None,
    dry_run: bool = False,
) -> Any:
    """Send ``data`` to an endpoint with the SDK's ``Endpoint.invoke`` and its (de)serializers.

    Defaults: ``CSVSerializer`` (rows of features, no label) and ``CSVDeserializer`` (one prediction
    per row). With ``dry_run``, returns the InvokeEndpoint request instead (as an :class:`ApiCall`).
    """
    serializer = serializer or CSVSerializer()
    deserializer = deserializer or CSVDeserializer()
    accept = deserializer.ACCEPT[0] if isinstance(deserializer.ACCEPT, tuple) else deserializer.ACCEPT
    if dry_run:
        body = serializer.serialize(data)
        request = {
            "EndpointName": endpoint_name,
            "Body": body,
            "ContentType": serializer.CONTENT_TYPE,
            "Accept": accept,
        }
        check_request("InvokeEndpoint", request, service="sagemaker-runtime")
        return ApiCall("InvokeEndpoint", request)
    endpoint = Endpoint(endpoint_name=endpoint_name, serializer=serializer, deserializer=deserializer)
    result = endpoint.invoke(
        body=data, content_type=serializer.CONTENT_TYPE, accept=accept, session=session, region=region
    )
    return result.body
