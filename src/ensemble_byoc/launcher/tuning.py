"""Hyperparameter tuning (AMT): default ranges for the ensemble, the objective, early stopping.

Ranges are the SDK's own ``ContinuousParameter``/``IntegerParameter``/``CategoricalParameter``,
named by the hyperparameters of ``config.py``; every bound is checked with the container's parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sagemaker.core import shapes
from sagemaker.core.parameter import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    ParameterRange,
)

from ensemble_byoc.errors import UserError
from ensemble_byoc.training.config import TrainConfig

_SHARED_RANGES: Mapping[str, ParameterRange] = {
    "eta": ContinuousParameter(0.01, 0.3, scaling_type="Logarithmic"),
    "subsample": ContinuousParameter(0.5, 1.0),
    "colsample_bytree": ContinuousParameter(0.5, 1.0),
    "reg_lambda": ContinuousParameter(0.01, 100.0, scaling_type="Logarithmic"),
}
_TREE_SHAPE_RANGES: Mapping[str, tuple[str, ParameterRange]] = {
    "catboost": ("catboost__depth", IntegerParameter(4, 10)),
    "lightgbm": ("lightgbm__num_leaves", IntegerParameter(16, 256, scaling_type="Logarithmic")),
    "xgboost": ("xgboost__max_depth", IntegerParameter(3, 10)),
}


def default_ranges(fixed: Mapping[str, str] | None = None) -> dict[str, ParameterRange]:
    """Ranges that suit a boosted-tree ensemble, less the hyperparameters ``fixed``: the shared ones, and
    the tree shape of each library trained, in its own terms (CatBoost's and XGBoost's depth, LightGBM's
    leaves), as ``max_depth`` unset leaves each library its own shape. With ``max_depth`` fixed (one depth
    for every library) the shape ranges are left out. ``num_round`` stays fixed: early stopping ends it."""
    fixed = fixed or {}
    ranges = dict(_SHARED_RANGES)
    if "max_depth" not in fixed:
        trained = TrainConfig.from_hyperparameters({k: v for k, v in fixed.items() if k == "models"}).models
        ranges.update(_TREE_SHAPE_RANGES[library] for library in trained if library in _TREE_SHAPE_RANGES)
    return {name: rng for name, rng in ranges.items() if name not in fixed}


SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
DEFAULT_MAX_JOBS = 20


@dataclass(frozen=True)
class TuningSettings:
    """How AMT searches: strategy, budget and early stopping of unpromising training jobs."""

    max_jobs: int | None = None
    """Training jobs at most; default 20. Grid search runs every combination and takes none."""
    max_parallel_jobs: int = 2
    strategy: str = "Bayesian"
    early_stopping: bool | None = None
    """AMT stops jobs whose running objective (printed after each fold) trails the others'. Default: on,
    except with Hyperband, which stops jobs itself and requires it off."""
    max_runtime_s: int | None = None
    """A limit on the whole tuning job; None leaves SageMaker's."""

    def early_stopping_type(self) -> str:
        if self.strategy == "Hyperband":
            if self.early_stopping:
                msg = "Hyperband stops unpromising jobs itself; SageMaker requires early stopping Off."
                raise UserError(msg)
            return "Off"
        return "Off" if self.early_stopping is False else "Auto"

    def resource_limits(self) -> shapes.ResourceLimits:
        if self.strategy == "Grid" and self.max_jobs is not None:
            msg = "Grid search runs every combination of the categorical ranges; drop max_jobs (--max-jobs)."
            raise UserError(msg)
        max_jobs = None if self.strategy == "Grid" else (self.max_jobs or DEFAULT_MAX_JOBS)
        if not 1 <= self.max_parallel_jobs <= (max_jobs or self.max_parallel_jobs):
            msg = f"max_parallel_jobs == {self.max_parallel_jobs}, must be in 1..max_jobs ({max_jobs})."
            raise UserError(msg)
        return shapes.ResourceLimits(
            max_number_of_training_jobs=max_jobs,
            max_parallel_training_jobs=self.max_parallel_jobs,
            max_runtime_in_seconds=self.max_runtime_s,
        )


def check_strategy(strategy: str, ranges: Mapping[str, ParameterRange]) -> None:
    """Grid search takes categorical ranges only (SageMaker's rule).

    Raises:
        UserError: a continuous or integer range with Grid search.
    """
    if strategy != "Grid":
        return
    numeric = sorted(name for name, rng in ranges.items() if not isinstance(rng, CategoricalParameter))
    if numeric:
        msg = (
            f"Grid search takes categorical ranges only, not {', '.join(numeric)}; "
            "give each as NAME=A|B|C (e.g. -r max_depth=4|6|8), or use another strategy."
        )
        raise UserError(msg)


def check_range(name: str, rng: ParameterRange) -> None:
    """A numeric range's bounds and scaling, by SageMaker's rules.

    Raises:
        UserError: min above max, an unknown scaling, a logarithmic range that reaches 0 or below, or a
            reverse-logarithmic one outside [0, 1).
    """
    if isinstance(rng, CategoricalParameter):
        return
    low, high = float(rng.min_value), float(rng.max_value)
    scaling = rng.scaling_type
    where = f"Range of {name!r} ({rng.min_value}:{rng.max_value}:{scaling})"
    if scaling not in SCALING_TYPES:
        msg = f"{where}: scaling {scaling!r} is not one of {', '.join(SCALING_TYPES)}."
        raise UserError(msg)
    if low > high:
        msg = f"{where}: min {rng.min_value} is above max {rng.max_value}; write MIN:MAX."
        raise UserError(msg)
    if scaling == "Logarithmic" and low <= 0:
        msg = f"{where}: Logarithmic scaling needs bounds above 0."
        raise UserError(msg)
    if scaling == "ReverseLogarithmic" and (isinstance(rng, IntegerParameter) or not 0 <= low < high < 1):
        msg = f"{where}: ReverseLogarithmic scaling needs a continuous range within [0, 1)."
        raise UserError(msg)


def resolve_ranges(
    ranges: Mapping[str, ParameterRange] | None, fixed: Mapping[str, str]
) -> dict[str, ParameterRange]:
    """The ranges to tune: ``ranges`` as given, or the defaults less the hyperparameters fixed by the user.

    Raises:
        UserError: a range on a fixed hyperparameter, on an unknown name, or with a bound the
            container would reject.
    """
    if ranges is None:
        return default_ranges(fixed)
    for name, rng in ranges.items():
        check_range(name, rng)
        if name in fixed:
            msg = f"Hyperparameter {name!r} is both fixed and tuned; give it in one place only."
            raise UserError(msg)
        values = rng.values if isinstance(rng, CategoricalParameter) else [rng.min_value, rng.max_value]
        for value in values:
            TrainConfig.from_hyperparameters({name: str(value)})
    return dict(ranges)


def parameter_ranges(ranges: Mapping[str, ParameterRange]) -> shapes.ParameterRanges:
    """The request's ``ParameterRanges``, made by each SDK range's own ``as_tuning_range``."""
    by_kind: dict[type, list[dict[str, object]]] = {
        ContinuousParameter: [],
        IntegerParameter: [],
        CategoricalParameter: [],
    }
    for name, rng in ranges.items():
        if type(rng) not in by_kind:
            msg = f"Range of {name!r} must be a Continuous, Integer or Categorical parameter, got {rng!r}."
            raise UserError(msg)
        by_kind[type(rng)].append(rng.as_tuning_range(name))
    return shapes.ParameterRanges(
        continuous_parameter_ranges=[
            shapes.ContinuousParameterRange(**_snake(r)) for r in by_kind[ContinuousParameter]
        ]
        or None,
        integer_parameter_ranges=[
            shapes.IntegerParameterRange(**_snake(r)) for r in by_kind[IntegerParameter]
        ]
        or None,
        categorical_parameter_ranges=[
            shapes.CategoricalParameterRange(**_snake(r)) for r in by_kind[CategoricalParameter]
        ]
        or None,
    )


_SNAKE = {
    "Name": "name",
    "MinValue": "min_value",
    "MaxValue": "max_value",
    "ScalingType": "scaling_type",
    "Values": "values",
}


def _snake(tuning_range: Mapping[str, object]) -> dict[str, object]:
    return {_SNAKE[key]: value for key, value in tuning_range.items()}


def tuning_job_config(
    settings: TuningSettings, ranges: Mapping[str, ParameterRange], objective_name: str, direction: str
) -> shapes.HyperParameterTuningJobConfig:
    check_strategy(settings.strategy, ranges)
    return shapes.HyperParameterTuningJobConfig(
        strategy=settings.strategy,
        hyper_parameter_tuning_job_objective=shapes.HyperParameterTuningJobObjective(
            type=direction, metric_name=objective_name
        ),
        resource_limits=settings.resource_limits(),
        parameter_ranges=parameter_ranges(ranges),
        training_job_early_stopping_type=settings.early_stopping_type(),
    )


def range_from_text(name: str, parts: list[str]) -> ParameterRange:
    """A range from the command line: ``["0.01", "0.3", "Logarithmic"]``, ``["3", "10"]`` (integers
    when both bounds are) or ``["categorical", "a", "b"]``.

    Raises:
        UserError: a bound that is not a number.
    """
    if parts and parts[0] == "categorical":
        return CategoricalParameter(parts[1:])
    low, high, *scaling = parts
    scaling_type = scaling[0] if scaling else "Auto"
    try:
        if low.lstrip("-").isdigit() and high.lstrip("-").isdigit():
            return IntegerParameter(int(low), int(high), scaling_type=scaling_type)
        return ContinuousParameter(float(low), float(high), scaling_type=scaling_type)
    except ValueError:
        msg = f"Range of {name!r}: bounds {low!r} and {high!r} must be numbers."
        raise UserError(msg) from None
