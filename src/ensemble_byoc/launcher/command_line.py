"""``ensemble-byoc``: train, tune, deploy, predict and transform from a shell.

Every subcommand takes ``--dry-run``, which prints the exact API requests as JSON and sends nothing
(no credentials needed). ``--image`` and ``--role`` default to ``$ENSEMBLE_BYOC_IMAGE_URI`` and
``$ENSEMBLE_BYOC_ROLE_ARN``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.cli_parser import build_parser

__all__ = ["build_parser", "main", "run"]

def run(args: argparse.Namespace) -> Any:
    """Carry out one parsed command; returns a Submission (or the endpoint's answer for predict)."""
    # The SDK is imported here, so `ensemble-byoc --help` answers at once.
    try:
        import boto3

        from ensemble_byoc.launcher import launcher as api
    except ImportError as error:
        msg = f"{error}; the launcher needs its extra: pip install 'ensemble-byoc[launcher]'."
        raise UserError(msg) from error
    _check_modes(args)
    # A session per command: the SDK caches clients per session, and this one reads the environment now.
    session = boto3.Session(region_name=args.region)
    if args.command == "predict":
        return _predict(args, session)
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
    return _transform(args, launcher)


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
    if args.command == "deploy":
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
    if args.save_requests is not None and not args.dry_run:
        msg = "--save-requests writes what a dry run would send; add --dry-run."
        raise UserError(msg)


def _predict(args: argparse.Namespace, session: Any) -> Any:
    from sagemaker.core.deserializers import StringDeserializer
    from sagemaker.core.serializers import IdentitySerializer

    from ensemble_byoc.launcher import launcher as api

    return api.predict(
        args.endpoint_name,
        args.data.read_bytes(),
        serializer=IdentitySerializer(content_type=args.content_type),
        deserializer=StringDeserializer(accept=args.accept),
        session=session,
        region=args.region,
        dry_run=args.dry_run,
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
                         problem_type=args.problem_type, job_name=args.job_name)


def _deploy(args: argparse.Namespace, launcher: Any) -> Any:
    from ensemble_byoc.launcher.hosting import RealTime, Serverless

    if args.serverless:
        mode: Any = Serverless(args.memory_size or 2048, args.max_concurrency or 5)
    else:
        mode = RealTime(args.instance_type or "ml.m5.large", args.instance_count or 1)
    return launcher.deploy(args.model_data, mode, endpoint_name=args.endpoint_name,
                           environment=dict(args.env))


def _transform(args: argparse.Namespace, launcher: Any) -> Any:
    from ensemble_byoc.launcher.hosting import BatchTransform

    batch = BatchTransform(args.instance_type, args.instance_count, args.content_type, args.accept,
                           input_filter=args.input_filter, join_source=args.join_source,
                           environment=dict(args.env))
    return launcher.transform(args.input, args.output, model_data=args.model_data,
                              model_name=args.model_name, batch=batch, job_name=args.job_name)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Exit 0 on success, 2 on a usage error, 1 when AWS refuses; one line each,
    without a traceback."""
    from ensemble_byoc.launcher.aws_errors import aws_error_line

    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except UserError as error:
        for line in _error_lines(error):
            print(f"ensemble-byoc {args.command}: error: {line}", file=sys.stderr)
        return 2
    except Exception as error:
        line = aws_error_line(error)
        if line is None:
            raise
        print(f"ensemble-byoc {args.command}: error: {line}", file=sys.stderr)
        return 1
    _print_result(args, result)
    return 0


def _error_lines(error: UserError) -> list[str]:
    from ensemble_byoc.launcher.api_calls import InvalidRequestError
    from ensemble_byoc.launcher.flags import explain

    if isinstance(error, InvalidRequestError):
        return [explain(violation) for violation in error.violations]
    return [str(error)]


def _print_result(args: argparse.Namespace, result: Any) -> None:
    if args.command == "predict":
        text = json.dumps(result.to_dict(), indent=2, default=_text) if args.dry_run else result
        print(text, end="" if str(text).endswith("\n") else "\n")
    elif args.dry_run:
        print(json.dumps(result.requests(), indent=2, default=_text))
        if args.save_requests is not None:
            _save_requests(args.save_requests, result.requests())
    else:
        responses = [dict(call.response or {}) for call in result.calls]
        print(json.dumps({"name": result.name, "responses": responses}, indent=2, default=str))


def _save_requests(directory: Any, requests: list[dict[str, Any]]) -> None:
    """One file per request, ``01-CreateModel.json``: the request alone, as the AWS CLI's
    ``--cli-input-json`` takes it."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, item in enumerate(requests, start=1):
        path = directory / f"{number:02d}-{item['operation']}.json"
        path.write_text(json.dumps(item["request"], indent=2, default=_text) + "\n", encoding="utf-8")


def _text(value: Any) -> Any:
    """A request body (bytes) printed as text where it is UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
