"""The ``ensemble-byoc`` argument parser: every subcommand and flag, typed, with defaults shown.

Flags are never abbreviated (``--serverl`` is not ``--serverless``), and a misspelt one is answered
with the closest real flag. Flags that only apply in one mode default to ``None`` here, so that the
command can refuse a contradiction (``--memory-size`` without ``--serverless``) instead of ignoring it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ensemble_byoc.launcher.cli_arguments import (
    Parser,
    comma_list,
    common,
    existing_file,
    key_value,
    positive_int,
    range_text,
    wait,
)

DESCRIPTION = "Launch the ensemble_byoc image on SageMaker (training, tuning, endpoints, batch transform)."


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
    from ensemble_byoc.training.config import hyperparameter_names

    return ("hyperparameters (-p): " + ", ".join(hyperparameter_names())
            + ", and <library>__<parameter> for catboost, lightgbm or xgboost")


def _train(commands: Any) -> None:
    train = commands.add_parser("train", help="start a training job")
    common(train)
    _training_arguments(train)
    train.add_argument("--problem-type", choices=("regression", "binary", "multiclass"),
                       help="default: the problem_type hyperparameter, else inferred from the label")
    _environment(train)
    wait(train)


def _tune(commands: Any) -> None:
    tune = commands.add_parser("tune", help="start a hyperparameter tuning job")
    common(tune)
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
    _environment(tune)
    wait(tune)


def _deploy(commands: Any, command: str = "deploy") -> None:
    helps = {"deploy": "create a model and a real-time or serverless endpoint",
             "update-endpoint": "serve another model.tar.gz from an endpoint, without downtime"}
    deploy = commands.add_parser(command, help=helps[command])
    common(deploy)
    models = deploy.add_mutually_exclusive_group(required=True)
    models.add_argument("--model-data", help="S3 URI of the training job's model.tar.gz")
    models.add_argument("--multi-model", metavar="S3_PREFIX",
                        help="a multi-model endpoint: the S3 prefix (ending in /) of many model.tar.gz")
    if command == "deploy":
        deploy.add_argument("--endpoint-name", help="default: ensemble-byoc-<timestamp>")
    else:
        deploy.add_argument("--endpoint-name", required=True, help="the endpoint to update")
    wait(deploy)
    deploy.add_argument("--instance-type", help="real-time only (default ml.m5.large)")
    deploy.add_argument("--instance-count", type=positive_int, help="real-time only (default 1)")
    deploy.add_argument("--serverless", action="store_true", help="a serverless endpoint instead")
    deploy.add_argument("--memory-size", type=positive_int, help="serverless only: MB (default 2048)")
    deploy.add_argument("--max-concurrency", type=positive_int, help="serverless only (default 5)")
    _security(deploy, output=False)
    _environment(deploy)


def _predict(commands: Any) -> None:
    predict = commands.add_parser("predict", help="send a file to an endpoint and print the answer")
    common(predict, image=False)
    predict.add_argument("--endpoint-name", required=True, help="the endpoint to call")
    predict.add_argument("--data", required=True, type=existing_file, help="a file of rows without the label")
    predict.add_argument("--content-type", default="text/csv", choices=("text/csv", "application/json"),
                         help="the format of --data")
    predict.add_argument("--accept", choices=("text/csv", "application/json"),
                         help="the format of the answer (default text/csv; application/json with --explain)")
    predict.add_argument("--explain", action="store_true",
                         help="ask each row's SHAP contributions (CustomAttributes explain=shap, a JSON "
                              "answer) and print them as a table")
    predict.add_argument("--target-model", metavar="PATH",
                         help="multi-model endpoints: the model to ask, by its path under the prefix")


def _transform(commands: Any) -> None:
    transform = commands.add_parser("transform", help="start a batch transform job")
    common(transform)
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
    wait(transform)


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
    common(push, image=False)
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
        common(parser, image=False)
        parser.add_argument("kind", choices=tuple(KINDS) if command != "stop" else
                            ("training-job", "tuning-job", "transform-job"))
        parser.add_argument("name", help="the job's or endpoint's name")
        if command == "wait":
            wait(parser, flag=False)
    delete = commands.add_parser("delete-endpoint", help="delete an endpoint, its configuration and models")
    common(delete, image=False)
    delete.add_argument("name", help="the endpoint's name")
    best = commands.add_parser("best-job", help="the best training job of a tuning job, and its model")
    common(best, image=False)
    best.add_argument("name", help="the tuning job's name")
