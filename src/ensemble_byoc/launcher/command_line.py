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
from ensemble_byoc.launcher.cli_commands import WAITS_ON, run
from ensemble_byoc.launcher.cli_parser import build_parser

__all__ = ["build_parser", "main", "run"]



def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Exit 0 on success, 2 on a usage error, 1 when AWS refuses; one line each,
    without a traceback."""
    from ensemble_byoc.launcher.aws_errors import aws_error_line

    args = build_parser().parse_args(argv)
    try:
        session = _session(args.region)
        result = run(args, session)
        _print_result(args, result)
        if args.command == "wait":
            return _exit_status(args.kind, result)
        if getattr(args, "wait", False) and not args.dry_run:
            from ensemble_byoc.launcher.lifecycle import Waiter

            kind = WAITS_ON[args.command]
            waiter = Waiter(session, args.region, timeout_s=args.wait_timeout)
            return _exit_status(kind, waiter.wait(kind, result.name))
    except UserError as error:
        for line in _error_lines(error):
            print(f"ensemble-byoc {args.command}: error: {line}", file=sys.stderr)
        return 2
    except Exception as error:
        aws_line = aws_error_line(error)
        if aws_line is None:
            raise
        print(f"ensemble-byoc {args.command}: error: {aws_line}", file=sys.stderr)
        return 1
    return 0


def _session(region: str | None) -> Any:
    """A ``boto3.Session`` per command: the SDK caches clients per session, and this one reads the
    environment now. The SDK is imported here, so ``ensemble-byoc --help`` answers at once."""
    try:
        import boto3
        import sagemaker.core  # noqa: F401 (the launcher's extra)
    except ImportError as error:
        msg = f"{error}; the launcher needs its extra: pip install 'ensemble-byoc[launcher]'."
        raise UserError(msg) from error
    return boto3.Session(region_name=region)


def _exit_status(kind_name: str, answer: dict[str, Any]) -> int:
    from ensemble_byoc.launcher.lifecycle import succeeded

    return 0 if succeeded(kind_name, answer) else 1


def _error_lines(error: UserError) -> list[str]:
    from ensemble_byoc.launcher.api_calls import InvalidRequestError
    from ensemble_byoc.launcher.flags import explain

    if isinstance(error, InvalidRequestError):
        return [explain(violation, error.operation) for violation in error.violations]
    return [str(error)]


def _print_result(args: argparse.Namespace, result: Any) -> None:
    if args.command == "wait":
        return  # the waiter printed the log and the outcome as they came
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
    elif args.command == "predict" and args.explain and not args.dry_run:
        from ensemble_byoc.launcher.explanations import explanation_table

        print(explanation_table(result), end="")
    elif args.command == "predict":
        text = json.dumps(result.to_dict(), indent=2, default=_text) if args.dry_run else result
        print(text, end="" if str(text).endswith("\n") else "\n")
    elif args.dry_run:
        print(json.dumps(result.requests(), indent=2, default=_text))
        if getattr(args, "save_requests", None) is not None:
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
