"""The service's own rules for a request, checked offline: patterns, allowed values and ranges.

botocore's parameter validation checks types, required fields and minimum lengths only; the service
model also carries each field's pattern, its enumerated values and its maxima, which the service
enforces when the request arrives. :func:`rule_violations` checks those too, so a dry run refuses what
SageMaker would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

from ensemble_byoc.errors import shown


@dataclass(frozen=True)
class Violation:
    """One field of a request that the service would refuse: its path and the rule it breaks."""

    path: str
    """``ResourceConfig.InstanceType``, ``InputDataConfig[1].DataSource.S3DataSource.S3Uri``."""
    value: Any
    rule: str
    """What the field must be, e.g. ``must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``."""
    allowed: tuple[str, ...] = ()
    """The enumerated values, when the field has them."""

    def __str__(self) -> str:
        return f"{self.path} == {shown(self.value)}: {self.rule}"


def rule_violations(operation: str, request: Any, service: str = "sagemaker") -> list[Violation]:
    """Every field of ``request`` that breaks its pattern, enumeration or maximum in the service model."""
    shape = _operation_input(service, operation)
    return list(_walk(request, shape, ""))


@cache
def _operation_input(service: str, operation: str) -> StructureShape:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    assert shape is not None  # every operation the launcher sends has input
    return shape


def _walk(value: Any, shape: Shape, path: str) -> Iterator[Violation]:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _walk(value[name], member, f"{path}.{name}" if path else name)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        yield from _bounds(len(value), shape, path, value, "items")
        for index, item in enumerate(value):
            yield from _walk(item, shape.member, f"{path}[{index}]")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        yield from _bounds(len(value), shape, path, value, "entries")
        for key, item in value.items():
            yield from _walk(key, shape.key, f"{path} key")
            yield from _walk(item, shape.value, f"{path}[{key!r}]")
    elif shape.type_name == "string" and isinstance(value, str):
        yield from _string(value, shape, path)
    elif shape.type_name in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        yield from _bounds(value, shape, path, value, "")


def _string(value: str, shape: Shape, path: str) -> Iterator[Violation]:
    enum = tuple(getattr(shape, "enum", None) or ())
    if enum and value not in enum:
        yield Violation(path, value, "must be one of the service's values", enum)
        return
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and compiled.fullmatch(value) is None:
        yield Violation(path, value, f"must match {pattern}")
        return
    yield from _bounds(len(value), shape, path, value, "characters")


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    """The pattern, or None for the few free-text patterns written with Java's Unicode classes
    (``\\p{L}``, on tags and descriptions), which Python's ``re`` cannot read; those fields are left to
    the service."""
    try:
        return re.compile(pattern, flags=re.DOTALL)
    except re.error:
        return None


def _bounds(size: float, shape: Shape, path: str, value: Any, unit: str) -> Iterator[Violation]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    suffix = f" {unit}" if unit else ""
    if low is not None and size < low:
        yield Violation(path, value, f"must be at least {low}{suffix}")
    elif high is not None and size > high:
        yield Violation(path, value, f"must be at most {high}{suffix}")
