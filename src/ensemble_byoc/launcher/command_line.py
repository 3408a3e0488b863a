"""``ensemble-byoc``: train, tune, deploy, predict and transform from a shell.

Every subcommand takes ``--dry-run``, which prints the exact API requests as JSON and sends nothing
(no credentials needed). ``--image`` and ``--role`` default to ``$ENSEMBLE_BYOC_IMAGE_URI`` and
``$ENSEMBLE_BYOC_ROLE_ARN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ensemble_byoc.errors import UserError

DESCRIPTION = "Launch the ensemble_byoc image on SageMaker (training, tuning, endpoints, batch transform)."


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        msg = f"expected NAME=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name, value


def _range(text: str) -> tuple[str, list[str]]:
    """``eta=0.01:0.3:Logarithmic``, ``max_depth=3:10`` or ``models=xgboost|lightgbm`` (categorical)."""
    name, value = _key_value(text)
    if "|" in value:
        return name, ["categorical", *value.split("|")]
    parts = value.split(":")
    if len(parts) not in (2, 3):
        msg = f"expected NAME=MIN:MAX[:SCALING] or NAME=A|B|C, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name, parts


def _common(parser: argparse.ArgumentParser, *, image: bool = True) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the API requests as JSON, send nothing")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    if image:
        parser.add_argument(
            "--image",
            default=os.environ.get("ENSEMBLE_BYOC_IMAGE_URI"),
            help="image URI in ECR (default: $ENSEMBLE_BYOC_IMAGE_URI)",
        )
        parser.add_argument(
            "--role",
            default=os.environ.get("ENSEMBLE_BYOC_ROLE_ARN"),
            help="SageMaker execution role ARN (default: $ENSEMBLE_BYOC_ROLE_ARN)",
        )


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="S3 prefix of the train channel")
    parser.add_argument("--validation", help="S3 prefix of the validation channel (optional)")
    parser.add_argument("--output", required=True, help="S3 prefix for model.tar.gz and output")
    parser.add_argument("--content-type", default="text/csv", help="channel content type (default text/csv)")
    parser.add_argument("--input-mode", default="File", choices=("File", "FastFile"))
    parser.add_argument(
        "-p",
        "--hyperparameter",
        action="append",
        type=_key_value,
        default=[],
        metavar="NAME=VALUE",
        help="a hyperparameter (repeat), e.g. -p k_fold=5",
    )
    parser.add_argument("--instance-type", default="ml.m5.xlarge")
    parser.add_argument("--instance-count", type=int, default=1)
    parser.add_argument("--volume-size", type=int, default=30, help="GB (default 30)")
    parser.add_argument("--max-runtime", type=int, default=24 * 3600, help="seconds (default 86400)")
    parser.add_argument("--spot", action="store_true", help="managed spot training, with checkpoints")
    parser.add_argument(
        "--max-wait", type=int, help="spot: seconds including waiting (default 2x max-runtime)"
    )
    parser.add_argument(
        "--checkpoint-s3", help="checkpoint S3 prefix (default <output>/<job>/checkpoints with --spot)"
    )
    parser.add_argument(
        "--problem-type",
        choices=("regression", "binary", "multiclass"),
        help="default: the problem_type hyperparameter, else regression",
    )
    parser.add_argument("--job-name", help="default: ensemble-byoc-<timestamp>")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ensemble-byoc", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="start a training job")
    _common(train)
    _training_arguments(train)

    tune = commands.add_parser("tune", help="start a hyperparameter tuning job")
    _common(tune)
    _training_arguments(tune)
    tune.add_argument(
        "-r",
        "--range",
        action="append",
        type=_range,
        default=[],
        dest="ranges",
        metavar="NAME=MIN:MAX[:SCALING]",
        help="a tuned range (repeat); default: the built-in ranges",
    )
    tune.add_argument("--max-jobs", type=int, default=20)
    tune.add_argument("--max-parallel-jobs", type=int, default=2)
    tune.add_argument("--strategy", default="Bayesian", choices=("Bayesian", "Random", "Hyperband", "Grid"))
    tune.add_argument("--no-early-stopping", action="store_true", help="never stop a training job early")

    deploy = commands.add_parser("deploy", help="create a model and a real-time or serverless endpoint")
    _common(deploy)
    deploy.add_argument("--model-data", required=True, help="S3 URI of the training job's model.tar.gz")
    deploy.add_argument("--endpoint-name", help="default: ensemble-byoc-<timestamp>")
    deploy.add_argument("--instance-type", default="ml.m5.large")
    deploy.add_argument("--instance-count", type=int, default=1)
    deploy.add_argument("--serverless", action="store_true", help="a serverless endpoint instead")
    deploy.add_argument("--memory-size", type=int, default=2048, help="serverless: MB (default 2048)")
    deploy.add_argument("--max-concurrency", type=int, default=5, help="serverless (default 5)")

    predict = commands.add_parser("predict", help="send a file to an endpoint and print the answer")
    _common(predict, image=False)
    predict.add_argument("--endpoint-name", required=True)
    predict.add_argument("--data", required=True, type=Path, help="a file of rows without the label")
    predict.add_argument("--content-type", default="text/csv", choices=("text/csv", "application/json"))
    predict.add_argument("--accept", default="text/csv", choices=("text/csv", "application/json"))

    transform = commands.add_parser("transform", help="start a batch transform job")
    _common(transform)
    transform.add_argument("--model-data", help="S3 URI of model.tar.gz (creates a model)")
    transform.add_argument("--model-name", help="an existing model instead of --model-data")
    transform.add_argument("--input", required=True, help="S3 prefix of the rows to predict")
    transform.add_argument("--output", required=True, help="S3 prefix for the predictions")
    transform.add_argument("--instance-type", default="ml.m5.large")
    transform.add_argument("--instance-count", type=int, default=1)
    transform.add_argument("--content-type", default="text/csv")
    transform.add_argument("--accept", default="text/csv")
    transform.add_argument("--input-filter", help='e.g. "$[1:]" to drop a label in the first column')
    transform.add_argument("--join-source", choices=("Input", "None"))
    transform.add_argument("--job-name", help="default: ensemble-byoc-<timestamp>")
    return parser


def run(args: argparse.Namespace) -> Any:
    """Carry out one parsed command; returns a Submission (or the endpoint's answer for predict)."""
    # The SDK is imported here, so `ensemble-byoc --help` answers at once.
    try:
        from ensemble_byoc.launcher import launcher as api
    except ImportError as error:
        msg = f"{error}; the launcher needs its extra: pip install 'ensemble-byoc[launcher]'."
        raise UserError(msg) from error
    import boto3

    from ensemble_byoc.launcher.hosting import BatchTransform, RealTime, Serverless
    from ensemble_byoc.launcher.training_jobs import Channels, Compute
    from ensemble_byoc.launcher.tuning import TuningSettings, range_from_text

    # A session per command: the SDK caches clients per session, and this one reads the environment now.
    session = boto3.Session(region_name=args.region)
    if args.command == "predict":
        from sagemaker.core.deserializers import StringDeserializer
        from sagemaker.core.serializers import IdentitySerializer

        return api.predict(
            args.endpoint_name,
            args.data.read_bytes(),
            serializer=IdentitySerializer(content_type=args.content_type),
            deserializer=StringDeserializer(accept=args.accept),
            session=session,
            region=args.region,
            dry_run=args.dry_run,
        )
    for option in ("image", "role"):
        if not getattr(args, option):
            variable = "ENSEMBLE_BYOC_IMAGE_URI" if option == "image" else "ENSEMBLE_BYOC_ROLE_ARN"
            msg = f"--{option} is required (or set ${variable})."
            raise UserError(msg)
    launcher = api.Launcher(
        image_uri=args.image, role_arn=args.role, region=args.region, session=session, dry_run=args.dry_run
    )
    if args.command in ("train", "tune"):
        channels = Channels(args.train, args.validation, args.content_type, args.input_mode)
        compute = Compute(
            args.instance_type,
            args.instance_count,
            args.volume_size,
            args.max_runtime,
            args.spot,
            args.max_wait,
            args.checkpoint_s3,
        )
        hyperparameters = dict(args.hyperparameter)
        if args.command == "train":
            return launcher.train(
                channels,
                args.output,
                hyperparameters,
                compute,
                problem_type=args.problem_type,
                job_name=args.job_name,
            )
        ranges = {name: range_from_text(name, parts) for name, parts in args.ranges} or None
        settings = TuningSettings(
            args.max_jobs, args.max_parallel_jobs, args.strategy, not args.no_early_stopping
        )
        return launcher.tune(
            channels,
            args.output,
            hyperparameters,
            ranges,
            settings,
            compute,
            problem_type=args.problem_type,
            job_name=args.job_name,
        )
    if args.command == "deploy":
        mode = (
            Serverless(args.memory_size, args.max_concurrency)
            if args.serverless
            else RealTime(args.instance_type, args.instance_count)
        )
        return launcher.deploy(args.model_data, mode, endpoint_name=args.endpoint_name)
    batch = BatchTransform(
        args.instance_type,
        args.instance_count,
        args.content_type,
        args.accept,
        input_filter=args.input_filter,
        join_source=args.join_source,
    )
    return launcher.transform(
        args.input,
        args.output,
        model_data=args.model_data,
        model_name=args.model_name,
        batch=batch,
        job_name=args.job_name,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Exit 0 on success, 2 on a usage error (printed without a traceback)."""
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except UserError as error:
        print(f"ensemble-byoc {args.command}: error: {error}", file=sys.stderr)
        return 2
    if args.command == "predict":
        text = json.dumps(result.to_dict(), indent=2, default=_text) if args.dry_run else result
        print(text, end="" if str(text).endswith("\n") else "\n")
        return 0
    if args.dry_run:
        print(json.dumps(result.requests(), indent=2, default=_text))
    else:
        print(
            json.dumps(
                {"name": result.name, "responses": [dict(c.response or {}) for c in result.calls]},
                indent=2,
                default=str,
            )
        )
    return 0


def _text(value: Any) -> Any:
    """A request body (bytes) printed as text where it is UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
