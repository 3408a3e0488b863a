"""The ``ensemble-byoc`` subcommands: each parsed command to the launcher call that carries it out."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ensemble_byoc.errors import UserError

WAITS_ON = {"train": "training-job", "tune": "tuning-job", "transform": "transform-job",
            "deploy": "endpoint", "update-endpoint": "endpoint"}
"""What ``--wait`` waits for after each launch."""


def run(args: argparse.Namespace, session: Any) -> Any:
    """Carry out one parsed command with ``session`` (a ``boto3.Session``): a Submission for what sends
    requests, the endpoint's answer for predict, the service's answer for describe, best-job and wait."""
    from ensemble_byoc.launcher import launcher as api

    _check_modes(args)
    if args.command == "predict":
        return _predict(args, session)
    if args.command in ("describe", "wait", "stop", "delete-endpoint", "best-job"):
        return _after_launch(args, session)
    if args.command == "push-image":
        from ensemble_byoc.launcher.images import ImagePush, push_image

        push = ImagePush(args.repository, args.tag, args.context, args.tool, tuple(args.build_arg))
        return push_image(push, session=session, dry_run=args.dry_run, account=args.account)
    needs_image = args.command != "transform" or args.model_data is not None
    for option, variable in (("image", "ENSEMBLE_BYOC_IMAGE_URI"), ("role", "ENSEMBLE_BYOC_ROLE_ARN")):
        if needs_image and not getattr(args, option):
            msg = f"--{option} is required (or set ${variable})."
            raise UserError(msg)
    launcher = api.Launcher(image_uri=args.image or "", role_arn=args.role or "", region=args.region,
                            session=session, dry_run=args.dry_run, security=_security(args),
                            tags=dict(args.tag))
    if args.command in ("train", "tune"):
        return _train_or_tune(args, launcher)
    if args.command == "deploy":
        return _deploy(args, launcher)
    if args.command == "update-endpoint":
        mode = _hosting_mode(args) if _mode_given(args) else _current_mode(args, session)
        return launcher.update_endpoint(args.endpoint_name, _model_data(args), mode,
                                        environment=dict(args.env))
    return _transform(args, launcher)


def _after_launch(args: argparse.Namespace, session: Any) -> Any:
    from ensemble_byoc.launcher import lifecycle
    from ensemble_byoc.launcher.api_calls import Submission

    where = {"session": session, "region": args.region}
    if args.command == "stop":
        return Submission(args.name, (lifecycle.stop(args.kind, args.name, dry_run=args.dry_run, **where),))
    if args.command == "delete-endpoint":
        calls = lifecycle.delete_endpoint(args.name, dry_run=args.dry_run, **where)
        return Submission(args.name, tuple(calls))
    if args.dry_run:
        msg = f"{args.command} only reads; it has no dry run."
        raise UserError(msg)
    if args.command == "best-job":
        return lifecycle.best_training_job(args.name, **where)
    waiter = lifecycle.Waiter(session, args.region, timeout_s=getattr(args, "wait_timeout", None))
    if args.command == "describe":
        return waiter.describe(lifecycle.kind_of(args.kind), args.name)
    return waiter.wait(args.kind, args.name)


def _security(args: argparse.Namespace) -> Any:
    from ensemble_byoc.launcher.security import Security

    return Security(
        inter_container_encryption=False if getattr(args, "no_inter_container_encryption", False) else None,
        network_isolation=args.network_isolation,
        subnets=args.subnets,
        security_group_ids=args.security_group_ids,
        volume_kms_key=getattr(args, "volume_kms_key", None),
        output_kms_key=getattr(args, "output_kms_key", None),
    )


def _hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """``--hyperparameters-file`` (a JSON object), then each ``-p``, which wins."""
    values: dict[str, Any] = {}
    if args.hyperparameters_file is not None:
        try:
            loaded = json.loads(args.hyperparameters_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            msg = f"--hyperparameters-file {args.hyperparameters_file}: not a JSON file ({error})."
            raise UserError(msg) from None
        if not isinstance(loaded, dict) or any(isinstance(v, (dict, list)) for v in loaded.values()):
            msg = f"--hyperparameters-file {args.hyperparameters_file}: write one JSON object of values."
            raise UserError(msg)
        values.update(loaded)
    values.update(dict(args.hyperparameter))
    return values


def _check_modes(args: argparse.Namespace) -> None:
    """Refuse flags that the chosen mode would ignore."""
    if args.command in ("deploy", "update-endpoint"):
        unused = ("--instance-type", "--instance-count") if args.serverless else ("--memory-size",
                                                                                 "--max-concurrency")
        given = [flag for flag in unused if getattr(args, flag[2:].replace("-", "_")) is not None]
        if given:
            mode = "a serverless endpoint" if args.serverless else "a real-time endpoint (add --serverless)"
            pronoun = "it" if len(given) == 1 else "them"
            msg = f"{' and '.join(given)} cannot be used with {mode}; drop {pronoun}."
            raise UserError(msg)
    if args.command == "transform" and (args.model_data is None) == (args.model_name is None):
        msg = "give exactly one of --model-data (creates a model) and --model-name (an existing model)."
        raise UserError(msg)
    if args.command in ("train", "tune") and args.max_wait is not None and not args.spot:
        msg = "--max-wait applies to spot training only; add --spot or drop it."
        raise UserError(msg)
    if getattr(args, "save_requests", None) is not None and args.command in ("predict", "push-image"):
        msg = "--save-requests writes SageMaker requests; predict and push-image have none to save."
        raise UserError(msg)
    if getattr(args, "save_requests", None) is not None and not args.dry_run:
        msg = "--save-requests writes what a dry run would send; add --dry-run."
        raise UserError(msg)


def _predict(args: argparse.Namespace, session: Any) -> Any:
    from sagemaker.core.deserializers import StringDeserializer
    from sagemaker.core.serializers import IdentitySerializer

    from ensemble_byoc.launcher.explanations import explain_accept
    from ensemble_byoc.launcher.predictions import predict

    accept = explain_accept(args.accept) if args.explain else args.accept or "text/csv"
    return predict(
        args.endpoint_name,
        args.data.read_bytes(),
        serializer=IdentitySerializer(content_type=args.content_type),
        deserializer=StringDeserializer(accept=accept),
        session=session,
        region=args.region,
        dry_run=args.dry_run,
        target_model=args.target_model,
        explain=args.explain,
    )


def _train_or_tune(args: argparse.Namespace, launcher: Any) -> Any:
    from ensemble_byoc.launcher.training_jobs import Channels, Compute
    from ensemble_byoc.launcher.tuning import TuningSettings, range_from_text

    channels = Channels(args.train, args.validation, args.content_type, args.input_mode)
    compute = Compute(args.instance_type, args.instance_count, args.volume_size, args.max_runtime,
                      args.spot, args.max_wait, args.checkpoint_s3)
    hyperparameters = _hyperparameters(args)
    if args.command == "train":
        return launcher.train(channels, args.output, hyperparameters, compute, problem_type=args.problem_type,
                              environment=dict(args.env), job_name=args.job_name)
    ranges = {name: range_from_text(name, parts) for name, parts in args.ranges} or None
    settings = TuningSettings(args.max_jobs, args.max_parallel_jobs, args.strategy,
                              False if args.no_early_stopping else None)
    return launcher.tune(channels, args.output, hyperparameters, ranges, settings, compute,
                         problem_type=args.problem_type, environment=dict(args.env), job_name=args.job_name)


def _mode_given(args: argparse.Namespace) -> bool:
    return args.serverless or any(getattr(args, name) is not None for name in
                                  ("instance_type", "instance_count", "memory_size", "max_concurrency"))


def _current_mode(args: argparse.Namespace, session: Any) -> Any:
    """The endpoint's own instances (or serverless settings), so an update never resizes it unasked."""
    from ensemble_byoc.launcher.hosting import RealTime, Serverless
    from ensemble_byoc.launcher.lifecycle import current_variant

    if args.dry_run:
        msg = ("update-endpoint --dry-run reads nothing from the endpoint, so say how it is hosted: "
               "--instance-type and --instance-count, or --serverless.")
        raise UserError(msg)
    variant = current_variant(args.endpoint_name, session=session, region=args.region)
    serverless = variant.get("ServerlessConfig")
    if serverless:
        return Serverless(serverless["MemorySizeInMB"], serverless["MaxConcurrency"])
    return RealTime(variant["InstanceType"], variant["InitialInstanceCount"])


def _hosting_mode(args: argparse.Namespace) -> Any:
    from ensemble_byoc.launcher.hosting import RealTime, Serverless

    if args.serverless:
        return Serverless(args.memory_size or 2048, args.max_concurrency or 5)
    return RealTime(args.instance_type or "ml.m5.large", args.instance_count or 1)


def _model_data(args: argparse.Namespace) -> Any:
    """``--model-data``, or ``--multi-model`` as a :class:`MultiModel` (its prefix checked here)."""
    from ensemble_byoc.launcher.hosting import MultiModel

    return MultiModel(args.multi_model) if args.multi_model is not None else args.model_data


def _deploy(args: argparse.Namespace, launcher: Any) -> Any:
    return launcher.deploy(_model_data(args), _hosting_mode(args), endpoint_name=args.endpoint_name,
                           environment=dict(args.env))


def _transform(args: argparse.Namespace, launcher: Any) -> Any:
    from ensemble_byoc.launcher.hosting import BatchTransform

    batch = BatchTransform(args.instance_type, args.instance_count, args.content_type, args.accept,
                           input_filter=args.input_filter, join_source=args.join_source,
                           environment=dict(args.env))
    return launcher.transform(args.input, args.output, model_data=args.model_data,
                              model_name=args.model_name, batch=batch, job_name=args.job_name)
