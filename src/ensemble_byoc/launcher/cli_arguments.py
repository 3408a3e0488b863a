"""The ``ensemble-byoc`` parser's building blocks: a parser that never abbreviates and suggests the closest
flag, the value types of flags, and the flags every subcommand shares."""

from __future__ import annotations

import argparse
import difflib
import os
import re
from pathlib import Path
from typing import Any, NoReturn

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


def common(parser: argparse.ArgumentParser, *, image: bool = True) -> None:
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


def wait(parser: argparse.ArgumentParser, *, flag: bool = True) -> None:
    if flag:
        parser.add_argument("--wait", action="store_true",
                            help="wait until it is done, printing its log and final metrics; exit 1 if it "
                                 "failed")
    parser.add_argument("--wait-timeout", type=positive_int, metavar="SECONDS",
                        help="stop waiting after this long (exit 2; the job goes on)")
