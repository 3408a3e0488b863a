"""The ``ensemble-byoc`` argument parser: every subcommand and flag, typed, with defaults shown.

Flags are never abbreviated (``--serverl`` is not ``--serverless``), and a misspelt one is answered
with the closest real flag. Flags that only apply in one mode default to ``None`` here, so that the
command can refuse a contradiction (``--memory-size`` without ``--serverless``) instead of ignoring it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from pathlib import Path
from typing import Any, NoReturn

DESCRIPTION = "Launch the ensemble_byoc image on SageMaker (training, tuning, endpoints, batch transform)."
_UNRECOGNISED = re.compile(r"unrecognized arguments: (.*)")


class _DefaultsShown(argparse.HelpFormatter):
    """Each flag's default after its help, when it has one worth showing (not None, False or empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default in (None, False, [], ()) or default is argparse.SUPPRESS or "default" in text:
            return text
        return f"{text} (default: %(default)s)".strip()


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` without abbreviations, whose unknown-flag error names the closest flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        found = _UNRECOGNISED.search(message)
        if found:
            message += _suggestion(found.group(1).split(), _known_flags(self))
        super().error(message)


def _known_flags(parser: argparse.ArgumentParser) -> list[str]:
    flags = [flag for action in parser._actions for flag in action.option_strings]  # noqa: SLF001 (argparse has no public list)
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                flags += _known_flags(sub)
    return sorted(set(flags))


def _suggestion(unknown: list[str], known: list[str]) -> str:
    for word in unknown:
        flag = word.split("=", 1)[0]
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6) if flag.startswith("-") else []
        if close:
            return f" (did you mean {close[0]}?)"
    return ""


def positive_int(text: str) -> int:
    """A whole number of 1 or more (instance counts, sizes, seconds)."""
    try:
        value = int(text)
    except ValueError:
        msg = f"{text!r} is not a whole number"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"{value} must be 1 or more"
        raise argparse.ArgumentTypeError(msg)
    return value


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        msg = f"no such file: {text}"
        raise argparse.ArgumentTypeError(msg)
    return path


def key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        msg = f"expected NAME=VALUE, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name, value


def range_text(text: str) -> tuple[str, list[str]]:
    """``eta=0.01:0.3:Logarithmic``, ``max_depth=3:10`` or ``models=xgboost|lightgbm`` (categorical)."""
    name, value = key_value(text)
    if "|" in value:
        return name, ["categorical", *value.split("|")]
    parts = value.split(":")
    if len(parts) not in (2, 3):
        msg = f"expected NAME=MIN:MAX[:SCALING] or NAME=A|B|C, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return name, parts


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _common(parser: argparse.ArgumentParser, *, image: bool = True) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the API requests as JSON, send nothing")
    parser.add_argument("--save-requests", type=Path, metavar="DIR",
                        help="with --dry-run: also write each request to DIR/<n>-<Operation>.json, as "
                             "`aws sagemaker <operation> --cli-input-json file://...` takes it")
    parser.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    if image:
        parser.add_argument("--image", default=os.environ.get("ENSEMBLE_BYOC_IMAGE_URI"),
                            help="image URI in ECR (default: $ENSEMBLE_BYOC_IMAGE_URI)")
        parser.add_argument("--role", default=os.environ.get("ENSEMBLE_BYOC_ROLE_ARN"),
                            help="SageMaker execution role ARN (default: $ENSEMBLE_BYOC_ROLE_ARN)")
        parser.add_argument("--tag", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                            help="a tag on what is created (repeat)")


def _security(parser: argparse.ArgumentParser, *, volumes: bool = True, output: bool = True) -> None:
    parser.add_argument("--network-isolation", action="store_true",
                        help="no outbound network from the container")
    parser.add_argument("--subnets", type=comma_list, default=(), metavar="ID,ID",
                        help="VPC subnets (with --security-group-ids)")
    parser.add_argument("--security-group-ids", type=comma_list, default=(), metavar="ID,ID",
                        help="VPC security groups (with --subnets)")
    if volumes:
        parser.add_argument("--volume-kms-key", help="KMS key for the instances' volumes")
    if output:
        parser.add_argument("--output-kms-key", help="KMS key for what is written to S3")


def _environment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", type=key_value, default=[], metavar="NAME=VALUE",
                        help="an environment variable of the container (repeat)")


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="S3 prefix of the train channel")
    parser.add_argument("--validation", help="S3 prefix of the validation channel (optional)")
    parser.add_argument("--output", required=True, help="S3 prefix for model.tar.gz and output")
    parser.add_argument("--content-type", default="text/csv", help="channel content type")
    parser.add_argument("--input-mode", default="File", choices=("File", "FastFile"),
                        help="how SageMaker gives the job its channels")
    parser.add_argument("-p", "--hyperparameter", action="append", type=key_value, default=[],
                        metavar="NAME=VALUE", help="a hyperparameter (repeat), e.g. -p k_fold=5")
    parser.add_argument("--hyperparameters-file", type=existing_file, metavar="FILE.json",
                        help="a JSON object of hyperparameters; -p values win over it")
    parser.add_argument("--instance-type", default="ml.m5.xlarge", help="training instance type")
    parser.add_argument("--instance-count", type=positive_int, default=1,
                        help="instances; more than one trains on Dask")
    parser.add_argument("--volume-size", type=positive_int, default=30, help="GB")
    parser.add_argument("--max-runtime", type=positive_int, default=24 * 3600, help="seconds")
    parser.add_argument("--spot", action="store_true", help="managed spot training, with checkpoints")
    parser.add_argument("--max-wait", type=positive_int,
                        help="spot only: seconds including waiting (default 2x max-runtime)")
    parser.add_argument("--checkpoint-s3",
                        help="checkpoint S3 prefix (default <output>/<job>/checkpoints with --spot)")
    parser.add_argument("--job-name", help="default: ensemble-byoc-<timestamp>")
    _security(parser)
    parser.add_argument("--no-inter-container-encryption", action="store_true",
                        help="do not encrypt traffic between instances (on when --instance-count > 1)")
    parser.epilog = _hyperparameter_epilog()


def _hyperparameter_epilog() -> str:
    from ensemble_byoc.config import hyperparameter_names

    return ("hyperparameters (-p): " + ", ".join(hyperparameter_names())
            + ", and <library>__<parameter> for catboost, lightgbm or xgboost")


def _train(commands: Any) -> None:
    train = commands.add_parser("train", help="start a training job")
    _common(train)
    _training_arguments(train)
    train.add_argument("--problem-type", choices=("regression", "binary", "multiclass"),
                       help="default: the problem_type hyperparameter, else inferred from the label")
    _environment(train)
    _wait(train)


def _tune(commands: Any) -> None:
    tune = commands.add_parser("tune", help="start a hyperparameter tuning job")
    _common(tune)
    _training_arguments(tune)
    tune.add_argument("--problem-type", choices=("regression", "binary", "multiclass"),
                      help="required (or the problem_type hyperparameter): it names the objective metric")
    tune.add_argument("-r", "--range", action="append", type=range_text, default=[], dest="ranges",
                      metavar="NAME=MIN:MAX[:SCALING]", help="a tuned range (repeat); default: built-ins")
    tune.add_argument("--max-jobs", type=positive_int, help="default 20; not with --strategy Grid")
    tune.add_argument("--max-parallel-jobs", type=positive_int, default=2, help="training jobs at once")
    tune.add_argument("--strategy", default="Bayesian", choices=("Bayesian", "Random", "Hyperband", "Grid"),
                      help="how AMT searches")
    tune.add_argument("--no-early-stopping", action="store_true",
                      help="never stop a training job early (Hyperband always runs with it off)")
    _wait(tune)


def _wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="wait until it is done, printing its log and final metrics; exit 1 if it failed")


def _deploy(commands: Any, command: str = "deploy") -> None:
    helps = {"deploy": "create a model and a real-time or serverless endpoint",
             "update-endpoint": "serve another model.tar.gz from an endpoint, without downtime"}
    deploy = commands.add_parser(command, help=helps[command])
    _common(deploy)
    deploy.add_argument("--model-data", required=True, help="S3 URI of the training job's model.tar.gz")
    if command == "deploy":
        deploy.add_argument("--endpoint-name", help="default: ensemble-byoc-<timestamp>")
    else:
        deploy.add_argument("--endpoint-name", required=True, help="the endpoint to update")
    _wait(deploy)
    deploy.add_argument("--instance-type", help="real-time only (default ml.m5.large)")
    deploy.add_argument("--instance-count", type=positive_int, help="real-time only (default 1)")
    deploy.add_argument("--serverless", action="store_true", help="a serverless endpoint instead")
    deploy.add_argument("--memory-size", type=positive_int, help="serverless only: MB (default 2048)")
    deploy.add_argument("--max-concurrency", type=positive_int, help="serverless only (default 5)")
    _security(deploy, output=False)
    _environment(deploy)


def _predict(commands: Any) -> None:
    predict = commands.add_parser("predict", help="send a file to an endpoint and print the answer")
    _common(predict, image=False)
    predict.add_argument("--endpoint-name", required=True, help="the endpoint to call")
    predict.add_argument("--data", required=True, type=existing_file, help="a file of rows without the label")
    predict.add_argument("--content-type", default="text/csv", choices=("text/csv", "application/json"),
                         help="the format of --data")
    predict.add_argument("--accept", default="text/csv", choices=("text/csv", "application/json"),
                         help="the format of the answer")


def _transform(commands: Any) -> None:
    transform = commands.add_parser("transform", help="start a batch transform job")
    _common(transform)
    transform.add_argument("--model-data",
                           help="S3 URI of model.tar.gz (creates a model; needs --image and --role)")
    transform.add_argument("--model-name", help="an existing model instead of --model-data")
    transform.add_argument("--input", required=True, help="S3 prefix of the rows to predict")
    transform.add_argument("--output", required=True, help="S3 prefix for the predictions")
    transform.add_argument("--instance-type", default="ml.m5.large", help="transform instance type")
    transform.add_argument("--instance-count", type=positive_int, default=1, help="instances")
    transform.add_argument("--content-type", default="text/csv", help="the format of the input files")
    transform.add_argument("--accept", default="text/csv", help="the format of the predictions")
    transform.add_argument("--input-filter", help='e.g. "$[1:]" to drop a label in the first column')
    transform.add_argument("--join-source", choices=("Input", "None"),
                           help="Input: write each input line next to its prediction")
    transform.add_argument("--job-name", help="default: ensemble-byoc-<timestamp>")
    _security(transform)
    _environment(transform)
    _wait(transform)


def build_parser() -> argparse.ArgumentParser:
    from ensemble_byoc import __version__

    parser = Parser(prog="ensemble-byoc", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (_train, _tune, _deploy, _predict, _transform):
        add(commands)
    _deploy(commands, "update-endpoint")
    _after_launch(commands)
    _push_image(commands)
    return parser


def _push_image(commands: Any) -> None:
    push = commands.add_parser("push-image", help="build the image, create its ECR repository, push it")
    _common(push, image=False)
    push.add_argument("--repository", default="ensemble-byoc", help="ECR repository (created if missing)")
    push.add_argument("--tag", default="latest", help="image tag")
    push.add_argument("--context", type=Path, default=Path("."), help="build context with the Dockerfile")
    push.add_argument("--tool", choices=("docker", "podman", "buildah"),
                      help="default: the first of docker, podman, buildah found")
    push.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE",
                      help="e.g. XGBOOST_PACKAGE=xgboost for the GPU image (repeat)")
    push.add_argument("--account", help="AWS account id (default: the caller's, from STS)")


def _after_launch(commands: Any) -> None:
    from ensemble_byoc.launcher.lifecycle import KINDS

    for command, text in (("describe", "print what SageMaker says about a job or endpoint"),
                          ("wait", "wait for a job or endpoint, printing its log; exit 1 if it failed"),
                          ("stop", "stop a training, tuning or transform job")):
        parser = commands.add_parser(command, help=text)
        _common(parser, image=False)
        parser.add_argument("kind", choices=tuple(KINDS) if command != "stop" else
                            ("training-job", "tuning-job", "transform-job"))
        parser.add_argument("name", help="the job's or endpoint's name")
    delete = commands.add_parser("delete-endpoint", help="delete an endpoint, its configuration and models")
    _common(delete, image=False)
    delete.add_argument("name", help="the endpoint's name")
    best = commands.add_parser("best-job", help="the best training job of a tuning job, and its model")
    _common(best, image=False)
    best.add_argument("name", help="the tuning job's name")
