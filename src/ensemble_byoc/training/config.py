"""Training hyperparameters: parsed from the strings SageMaker writes, validated once, then frozen."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.models import available_libraries
from ensemble_byoc.models.base import BoosterParams
from ensemble_byoc.training.portfolio import MAX_PORTFOLIO_SIZE, Member, portfolio_members
from ensemble_byoc.training.scores import PROBLEM_TYPES, all_eval_metric_names
from ensemble_byoc.training.task import Task

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "fast": {"k_fold": 3, "num_round": 500, "early_stopping_rounds": 30, "portfolio_size": 1},
    "medium": {},
    "best": {"k_fold": 8, "eta": 0.05, "num_round": 3000, "early_stopping_rounds": 100, "portfolio_size": 2},
}
"""Defaults that trade folds, portfolio size and rounds against time; any hyperparameter given wins."""

RESERVED_KEYS = frozenset({"_tuning_objective_metric"})
"""Keys SageMaker AMT adds; accepted and ignored."""
RESERVED_PREFIX = "sagemaker_"
"""Keys the SageMaker SDK adds (``sagemaker_job_name``, ``sagemaker_region``, ...); accepted and ignored."""
LIBRARY_SEPARATOR = "__"

ALIASES = {"learning_rate": "eta", "lambda": "reg_lambda"}
"""Alternative spellings of a shared hyperparameter, mapped to the name used in ``TrainConfig``."""


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


def _parse_int(name: str, value: Any) -> int:
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


def _parse_float(name: str, value: Any) -> float:
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


def _parse_models(name: str, value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    names = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    known = available_libraries()
    if not names:
        msg = f"Hyperparameter {name!r} is empty; choose one or more of {', '.join(known)}."
        raise UserError(msg)
    for library in names:
        if library not in known:
            msg = (
                f"Hyperparameter {name!r}: unknown library {library!r}{_suggest(library, known)}; "
                f"choose one or more of {', '.join(known)}."
            )
            raise UserError(
                msg
            )
    return names


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            msg = (
                f"Hyperparameter {name!r} == {value!r}{_suggest(text, choices)}; "
                f"choose one of {', '.join(choices)}."
            )
            raise UserError(
                msg
            )
        return text

    return parse


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    msg = f"Hyperparameter {name!r}: could not parse {value!r} as true or false."
    raise UserError(msg)


def _parse_text(name: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        msg = f"Hyperparameter {name!r} is empty."
        raise UserError(msg)
    return text


@dataclass(frozen=True)
class _Rule:
    parse: Callable[[str, Any], Any]
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


_RULES: dict[str, _Rule] = {
    "k_fold": _Rule(_parse_int, minimum=2, maximum=100),
    "eta": _Rule(_parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "max_depth": _Rule(_parse_int, minimum=1, maximum=16),
    "num_round": _Rule(_parse_int, minimum=1, maximum=100_000),
    "early_stopping_rounds": _Rule(_parse_int, minimum=0, maximum=100_000),
    "seed": _Rule(_parse_int, minimum=0, maximum=2**31 - 1),
    "subsample": _Rule(_parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "colsample_bytree": _Rule(_parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "reg_lambda": _Rule(_parse_float, minimum=0.0),
    "time_limit": _Rule(_parse_float, minimum=0.0, maximum=30 * 24 * 3600.0, exclusive_minimum=True),
    "models": _Rule(_parse_models),
    "blend": _Rule(_choice("mean", "weighted", "stack")),
    "problem_type": _Rule(_choice(*PROBLEM_TYPES)),
    "refit_full": _Rule(_parse_bool),
    "presets": _Rule(_choice(*PRESETS)),
    "portfolio_size": _Rule(_parse_int, minimum=1, maximum=MAX_PORTFOLIO_SIZE),
    "eval_metric": _Rule(_choice(*all_eval_metric_names())),
    "target": _Rule(_parse_text),
    "label_check": _Rule(_parse_bool),
}


def _check_range(name: str, value: Any, rule: _Rule, given: Any) -> None:
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


def _suggest(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training job, typed, with its default."""

    k_fold: int = 5
    eta: float = 0.1
    max_depth: int = 6
    num_round: int = 1000
    early_stopping_rounds: int = 50
    seed: int = 0
    subsample: float | None = None
    colsample_bytree: float | None = None
    reg_lambda: float | None = None
    time_limit: float | None = None
    models: tuple[str, ...] = field(default_factory=available_libraries)
    blend: str = "weighted"
    problem_type: str | None = None
    eval_metric: str | None = None
    refit_full: bool = False
    presets: str = "medium"
    portfolio_size: int = 1
    target: str | None = None
    label_check: bool = True
    """Refuse a first column that counts the rows (a row id) as the label; false lets such a label train."""
    library_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_hyperparameters(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """Parse and validate the contents of ``hyperparameters.json``.

        Raises:
            UserError: naming the hyperparameter, its value and the rule it breaks, for an unknown
                key (with the closest valid name), an unparseable value or an out-of-range value.
        """
        values: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        library_params: dict[str, dict[str, Any]] = {}
        for key in sorted(raw):
            if key in RESERVED_KEYS or key.startswith(RESERVED_PREFIX):
                continue
            value = decode_value(raw[key])
            if key == "target" and not isinstance(value, str):
                value = raw[key]  # a column name is text as written: "1.50" stays "1.50"
            if LIBRARY_SEPARATOR in key:
                library, _, param = key.partition(LIBRARY_SEPARATOR)
                if library not in available_libraries() or not param:
                    msg = (
                        f"Hyperparameter {key!r}: per-library parameters are written "
                        f"<library>__<parameter> with a library among {', '.join(available_libraries())}."
                    )
                    raise UserError(
                        msg
                    )
                library_params.setdefault(library, {})[param] = value
                continue
            name = ALIASES.get(key, key)
            if name not in _RULES:
                valid = sorted(set(_RULES) | set(ALIASES))
                msg = f"Unknown hyperparameter {key!r}{_suggest(key, valid)}."
                raise UserError(msg)
            if name in given_as:
                msg = f"Hyperparameters {given_as[name]!r} and {key!r} are the same setting; give only one."
                raise UserError(
                    msg
                )
            rule = _RULES[name]
            parsed = rule.parse(key, value)
            _check_range(key, parsed, rule, value)
            values[name] = parsed
            given_as[name] = key
        for name, value in PRESETS[values.get("presets", "medium")].items():
            values.setdefault(name, value)
        return cls(**values, library_params=library_params)

    def members(self) -> list[Member]:
        """The ensemble's members: each library's first ``portfolio_size`` portfolio configurations."""
        return portfolio_members(self.models, self.portfolio_size, self.library_params)

    def booster_params(self, task: Task | None = None) -> BoosterParams:
        """The shared settings for every library; ``task`` adds the objective and the early-stopping
        metric."""
        task = task or Task("regression", "rmse")
        return BoosterParams(
            problem_type=task.problem_type,
            n_classes=task.n_classes,
            eval_metric=task.eval_metric,
            learning_rate=self.eta,
            max_depth=self.max_depth,
            num_round=self.num_round,
            early_stopping_rounds=self.early_stopping_rounds,
            seed=self.seed,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
        )

    def overrides_for(self, library: str) -> Mapping[str, Any]:
        return self.library_params.get(library, {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, as recorded in the model manifest."""
        data = asdict(self)
        data["models"] = list(self.models)
        data["library_params"] = {k: dict(v) for k, v in self.library_params.items()}
        return data


def hyperparameter_names() -> tuple[str, ...]:
    """Every hyperparameter name a job accepts (aliases included), besides ``<library>__<parameter>``."""
    return tuple(sorted(set(_RULES) | set(ALIASES)))
