"""SageMaker's X-Amzn-SageMaker-Custom-Attributes header: which libraries' own predictions to add
(``models=``), which classification fields to answer with (``outputs=``) and whether to explain the
predictions (``explain=shap`` or ``explain=none``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ensemble_byoc.errors import UserError
from ensemble_byoc.serving.classification import ATTRIBUTE_SOURCE, check_outputs, known_outputs
from ensemble_byoc.serving.settings import EXPLAIN_CHOICES

HEADER = "X-Amzn-SageMaker-Custom-Attributes"
"""SageMaker passes InvokeEndpoint's CustomAttributes in this header, and the one in the answer back."""
_LIST_SEPARATOR = re.compile(r"[,|]")


@dataclass(frozen=True)
class Requested:
    """What a request asks for besides the blend: libraries' own predictions and classification fields."""

    libraries: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    """Empty: the endpoint's default fields (``SAGEMAKER_INFERENCE_OUTPUT``)."""
    explain: bool = False
    """Answer each prediction's SHAP values too (``explain=shap``, or the endpoint's default)."""


def read_header(header: str | None, available: Sequence[str], problem_type: str, *,
                explain: bool = False) -> Requested:
    """The header's ``;``-separated ``key=value`` pairs, read once: ``models``, ``outputs`` and ``explain``
    (keys and values in any case; the first of each key counts); other keys belong to the caller and are
    ignored.

    Both take a list separated by ``,`` or ``|``. ``models=all`` names every library of the model,
    ``models=catboost,xgboost`` some of them, and ``models=none`` or no ``models`` key none.
    ``outputs=predicted_label,probabilities`` names the fields a classification model answers with.
    ``explain=shap`` asks for SHAP explanations, ``explain=none`` turns them off; without the key,
    ``explain`` (the endpoint's default, ``ENSEMBLE_BYOC_EXPLAIN``) decides.

    Raises:
        UserError: ``models=`` names a library the model does not have, ``outputs=`` a field that a
            ``problem_type`` model does not answer with, or ``explain=`` is neither ``shap`` nor ``none``.
    """
    lists = _lists(header)
    libraries = _libraries(lists.get("models", ()), available)
    outputs = known_outputs(lists.get("outputs", ()), source=ATTRIBUTE_SOURCE)
    check_outputs(outputs, problem_type, source=ATTRIBUTE_SOURCE)
    if "explain" in lists:
        explain = _explain(lists["explain"])
    return Requested(libraries=libraries, outputs=outputs, explain=explain)


def _explain(values: tuple[str, ...]) -> bool:
    if len(values) != 1 or values[0] not in EXPLAIN_CHOICES:
        msg = (f"{HEADER} explain == {','.join(values)!r}, must be one of {', '.join(EXPLAIN_CHOICES)}.")
        raise UserError(msg)
    return values[0] == "shap"


def _lists(header: str | None) -> dict[str, tuple[str, ...]]:
    lists: dict[str, tuple[str, ...]] = {}
    for pair in (header or "").split(";"):
        key, _, value = pair.partition("=")
        items = (item.strip() for item in _LIST_SEPARATOR.split(value.lower()))
        lists.setdefault(key.strip().lower(), tuple(item for item in items if item))
    return lists


def _libraries(names: tuple[str, ...], available: Sequence[str]) -> tuple[str, ...]:
    if names in (("all",), ("*",)):
        return tuple(available)
    names = tuple(name for name in names if name != "none")
    unknown = [name for name in names if name not in available]
    if unknown:
        msg = f"{HEADER} asks for models {unknown}; this model has {list(available)} (or send models=all)."
        raise UserError(msg)
    return tuple(dict.fromkeys(names))
