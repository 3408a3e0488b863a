"""SageMaker API requests: built with the SDK's shapes, checked against the service model, then sent.

Every request the launcher makes passes through :func:`send`, which returns an :class:`ApiCall`
holding the exact parameters given to the boto3 client, so a dry run shows precisely what would be
sent, and a real run records what was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel
from botocore.validate import ParamValidator
from sagemaker.core.resources import Base
from sagemaker.core.utils.utils import serialize

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.service_rules import Violation, rule_violations


@dataclass(frozen=True)
class ApiCall:
    """One SageMaker API request, and its response when it was sent (``None`` on a dry run)."""

    operation: str
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"operation": ..., "request": ...}``, as ``--dry-run`` prints it."""
        return {"operation": self.operation, "request": dict(self.request)}


def build_request(**fields: Any) -> dict[str, Any]:
    """The API parameters for ``fields`` (PascalCase names, SDK shapes as values).

    Uses the SDK's own ``serialize``, as its resource classes do before calling boto3: shapes become
    dicts and unset (``None``) fields are dropped.
    """
    request: dict[str, Any] = serialize(fields)
    return request


@cache
def _service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


class InvalidRequestError(UserError):
    """A request the service would refuse; ``violations`` name each field and its rule."""

    def __init__(self, operation: str, violations: list[Violation]) -> None:
        super().__init__(f"{operation} request is invalid: " + "; ".join(map(str, violations)))
        self.operation = operation
        self.violations = violations


def check_request(operation: str, request: Mapping[str, Any], service: str = "sagemaker") -> None:
    """Validate ``request`` against botocore's model of ``operation``, offline: types, required fields,
    and the service's own patterns, allowed values and ranges (:mod:`.service_rules`).

    Raises:
        UserError: naming every field that is missing, unknown or of the wrong type or length.
        InvalidRequestError: a field that breaks its pattern, enumeration or range.
    """
    violations = rule_violations(operation, dict(request), service)
    if violations:
        raise InvalidRequestError(operation, violations)
    shape = _service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(dict(request), shape)
    if report.has_errors():
        msg = f"{operation} request is invalid: {report.generate_report()}"
        raise UserError(msg)


def send(
    operation: str,
    request: Mapping[str, Any],
    *,
    dry_run: bool,
    session: Any = None,
    region: str | None = None,
) -> ApiCall:
    """Check ``request`` and, unless ``dry_run``, send it with the SDK's cached SageMaker client.

    Args:
        operation: the API operation, e.g. ``"CreateTrainingJob"``.
        request: its parameters, as :func:`build_request` makes them.
        dry_run: return the checked request without sending it (needs no credentials).
        session: a ``boto3.Session``; None uses the default credential chain.
        region: the AWS region; None uses the session's.

    Returns:
        The call, with the response (less ``ResponseMetadata``) when it was sent.
    """
    check_request(operation, request)
    if dry_run:
        return ApiCall(operation, request)
    client = Base.get_sagemaker_client(session=session, region_name=region, service_name="sagemaker")
    method = getattr(client, botocore.xform_name(operation))
    response = method(**request)
    response.pop("ResponseMetadata", None)
    return ApiCall(operation, request, response)


@dataclass(frozen=True)
class Submission:
    """What a launcher method did: the name of the job or endpoint and every request, in order."""

    name: str
    calls: tuple[ApiCall, ...]

    @property
    def dry_run(self) -> bool:
        return all(call.response is None for call in self.calls)

    def requests(self) -> list[dict[str, Any]]:
        """``[{"operation": ..., "request": ...}, ...]``, what ``--dry-run`` prints."""
        return [call.to_dict() for call in self.calls]


def check_instance_count(count: int) -> int:
    """``count`` when it is a whole number of instances, 1 or more (the service takes 0 for warm pools).

    Raises:
        UserError: a count below 1.
    """
    if count < 1:
        msg = f"instance_count == {count}, must be >= 1."
        raise UserError(msg)
    return count
