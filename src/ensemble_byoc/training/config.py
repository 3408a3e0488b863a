"""Training hyperparameters: parsed from the strings SageMaker writes, validated once, then frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ensemble_byoc.errors import UserError
from ensemble_byoc.models import available_libraries
from ensemble_byoc.models.base import REGRESSION_OBJECTIVES, BoosterParams
from ensemble_byoc.training.hyperparameter_values import (
    Rule,
    check_range,
    choice,
    decode_value,
    parse_bool,
    parse_float,
    parse_int,
    parse_models,
    parse_text,
    suggest,
)
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


_RULES: dict[str, Rule] = {
    "k_fold": Rule(parse_int, minimum=2, maximum=100),
    "eta": Rule(parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "max_depth": Rule(parse_int, minimum=1, maximum=16),
    "num_round": Rule(parse_int, minimum=1, maximum=100_000),
    "early_stopping_rounds": Rule(parse_int, minimum=0, maximum=100_000),
    "seed": Rule(parse_int, minimum=0, maximum=2**31 - 1),
    "subsample": Rule(parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "colsample_bytree": Rule(parse_float, minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "reg_lambda": Rule(parse_float, minimum=0.0),
    "time_limit": Rule(parse_float, minimum=0.0, maximum=30 * 24 * 3600.0, exclusive_minimum=True),
    "models": Rule(parse_models),
    "blend": Rule(choice("mean", "weighted", "stack")),
    "problem_type": Rule(choice(*PROBLEM_TYPES)),
    "refit_full": Rule(parse_bool),
    "presets": Rule(choice(*PRESETS)),
    "portfolio_size": Rule(parse_int, minimum=1, maximum=MAX_PORTFOLIO_SIZE),
    "eval_metric": Rule(choice(*all_eval_metric_names())),
    "target": Rule(parse_text),
    "label_check": Rule(parse_bool),
    "objective": Rule(choice(*REGRESSION_OBJECTIVES)),
    "huber_delta": Rule(parse_float, minimum=0.0, exclusive_minimum=True),
    "validation_mode": Rule(choice("cv", "holdout")),
}


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training job, typed, with its default."""

    k_fold: int = 5
    eta: float = 0.1
    max_depth: int | None = None
    """One tree depth for every library (LightGBM then also ``num_leaves = 2**max_depth``); None: each
    library's own shape (depth 6; LightGBM's leaf-wise with up to 128 leaves from 40,000 rows)."""
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
    objective: str = "squared_error"
    """The regression loss every library trains on: squared_error, absolute_error or huber."""
    huber_delta: float = 1.0
    """Where the huber loss turns from squared to absolute, in the label's units."""
    validation_mode: str = "cv"
    """``cv``: the validation channel's rows join the cross-validation pool; ``holdout``: the folds, the
    blend and the refit use ``train`` only, and the served ensemble is scored once on the validation rows."""
    library_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    given: frozenset[str] = field(default_factory=frozenset, compare=False, repr=False)
    """The shared hyperparameters the job was given; the others are the defaults or the preset's."""

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
                    raise UserError(msg)
                library_params.setdefault(library, {})[param] = value
                continue
            name = ALIASES.get(key, key)
            if name not in _RULES:
                valid = sorted(set(_RULES) | set(ALIASES))
                msg = f"Unknown hyperparameter {key!r}{suggest(key, valid)}."
                raise UserError(msg)
            if name in given_as:
                msg = f"Hyperparameters {given_as[name]!r} and {key!r} are the same setting; give only one."
                raise UserError(msg)
            rule = _RULES[name]
            parsed = rule.parse(key, value)
            check_range(key, parsed, rule, value)
            values[name] = parsed
            given_as[name] = key
        given = frozenset(values)
        for name, value in PRESETS[values.get("presets", "medium")].items():
            values.setdefault(name, value)
        return cls(**values, library_params=library_params, given=given)

    def __post_init__(self) -> None:
        if self.problem_type is not None:
            self._check_objective(f"problem_type is {self.problem_type!r}", self.problem_type)

    def _check_objective(self, what: str, problem_type: str) -> None:
        """A regression loss other than squared error with a classification task is a ``UserError``."""
        if problem_type != "regression" and self.objective != "squared_error":
            msg = (f"Hyperparameter 'objective' == {self.objective!r} is a regression loss, but {what}; "
                   "classification trains on log loss (leave objective out).")
            raise UserError(msg)

    def default_plan(self) -> TrainConfig | None:
        """With ``presets=best``: the settings the default preset gives with the same hyperparameters given,
        which such a job trains first (``training.best_preset``); ``None`` for another preset, or when every
        setting of the best preset was given, so the two plans are one."""
        if self.presets != "best":
            return None
        preset = PRESETS["best"]
        reset: dict[str, Any] = {f.name: f.default for f in fields(self)
                                 if f.name in preset and f.name not in self.given}
        fallback = replace(self, **reset)
        return None if fallback == self else fallback

    def members(self) -> list[Member]:
        """The ensemble's members: each library's first ``portfolio_size`` portfolio configurations."""
        return portfolio_members(self.models, self.portfolio_size, self.library_params)

    def booster_params(self, task: Task | None = None, rows: int = 0) -> BoosterParams:
        """The shared settings for every library; ``task`` adds the objective and the early-stopping
        metric, ``rows`` the size of the job's data (each library's own tree shape may follow it)."""
        task = task or Task("regression", "rmse")
        self._check_objective(f"the task is {task.problem_type}", task.problem_type)
        return BoosterParams(
            objective=self.objective,
            huber_delta=self.huber_delta if self.objective == "huber" else BoosterParams.huber_delta,
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
            rows=rows,
        )

    def overrides_for(self, library: str) -> Mapping[str, Any]:
        return self.library_params.get(library, {})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, as recorded in the model manifest."""
        data = asdict(self)
        data["models"] = list(self.models)
        data["library_params"] = {k: dict(v) for k, v in self.library_params.items()}
        del data["given"]
        return data


def hyperparameter_names() -> tuple[str, ...]:
    """Every hyperparameter name a job accepts (aliases included), besides ``<library>__<parameter>``."""
    return tuple(sorted(set(_RULES) | set(ALIASES)))
