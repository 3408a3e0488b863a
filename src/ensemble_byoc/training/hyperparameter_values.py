"""Hyperparameter values as SageMaker writes them (strings, JSON-encoded by some SDKs), parsed and
range-checked, with "did you mean" messages."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.models import available_libraries


def decode_value(raw: Any) -> Any:
    """Undo SageMaker's string encoding: ``"5"`` -> 5, ``"\\"reg:squarederror\\""`` -> ``"reg:squarederror"``.

    A string that is not JSON stays as it is (``"xgboost,lightgbm"``).
    """
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        msg = f"Hyperparameter {name!r}: could not parse {value!r} as an integer."
        raise UserError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    msg = f"Hyperparameter {name!r}: could not parse {value!r} as an integer."
    raise UserError(msg)


def parse_float(name: str, value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            msg = f"Hyperparameter {name!r}: could not parse {value!r} as a number."
            raise UserError(msg) from None
    if not math.isfinite(number):
        msg = f"Hyperparameter {name!r} == {value!r}, must be a finite number."
        raise UserError(msg)
    return number


def parse_models(name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    names = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    known = available_libraries()
    if not names:
        msg = f"Hyperparameter {name!r} is empty; choose one or more of {', '.join(known)}."
        raise UserError(msg)
    for library in names:
        if library not in known:
            msg = (
                f"Hyperparameter {name!r}: unknown library {library!r}{suggest(library, known)}; "
                f"choose one or more of {', '.join(known)}."
            )
            raise UserError(msg)
    return names


def choice(*choices: str) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            msg = (
                f"Hyperparameter {name!r} == {value!r}{suggest(text, choices)}; "
                f"choose one of {', '.join(choices)}."
            )
            raise UserError(msg)
        return text

    return parse


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    msg = f"Hyperparameter {name!r}: could not parse {value!r} as true or false."
    raise UserError(msg)


def parse_text(name: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        msg = f"Hyperparameter {name!r} is empty."
        raise UserError(msg)
    return text


@dataclass(frozen=True)
class Rule:
    parse: Callable[[str, Any], Any]
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


def check_range(name: str, value: Any, rule: Rule, given: Any) -> None:
    """Check ``value`` against the rule's bounds; the message shows the value as the user ``given`` it."""
    if rule.minimum is not None:
        if rule.exclusive_minimum and not value > rule.minimum:
            msg = f"Hyperparameter {name!r} == {given!r}, must be > {_exact(rule.minimum)}."
            raise UserError(msg)
        if not rule.exclusive_minimum and value < rule.minimum:
            msg = f"Hyperparameter {name!r} == {given!r}, must be >= {_exact(rule.minimum)}."
            raise UserError(msg)
    if rule.maximum is not None and value > rule.maximum:
        msg = f"Hyperparameter {name!r} == {given!r}, must be <= {_exact(rule.maximum)}."
        raise UserError(msg)


def _exact(bound: float) -> str:
    """A bound as written: ``2147483647`` and ``0.5``, never a rounded ``2.14748e+09``."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


def suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
