"""Predictions from an endpoint, through the SDK's own ``Endpoint.invoke`` and (de)serializers."""

from __future__ import annotations

from typing import Any

from sagemaker.core.deserializers import CSVDeserializer, JSONDeserializer
from sagemaker.core.deserializers.base import BaseDeserializer
from sagemaker.core.resources import Endpoint
from sagemaker.core.serializers import CSVSerializer
from sagemaker.core.serializers.base import BaseSerializer

from ensemble_byoc.errors import UserError
from ensemble_byoc.launcher.api_calls import ApiCall, check_request
from ensemble_byoc.launcher.explanations import EXPLAIN_ATTRIBUTE, explain_accept

TARGET_MODEL_MAX_LENGTH = 1024
"""The runtime API's limit on ``TargetModel`` (botocore's model: 1 to 1024 characters)."""


def check_target_model(target_model: str) -> str:
    """``target_model`` when SageMaker takes it: 1 to 1024 characters, the first not white space, the
    others printable ASCII, space included. That is the service's pattern ``\\A\\S[\\p{Print}]*\\z``,
    written with a Java class that Python's ``re`` lacks, so the request check skips it.

    Raises:
        UserError: naming the value and the rule it breaks.
    """
    if not target_model:
        msg = "--target-model is empty; name a model under the endpoint's prefix, e.g. churn.tar.gz."
        raise UserError(msg)
    if len(target_model) > TARGET_MODEL_MAX_LENGTH:
        msg = (f"--target-model is {len(target_model)} characters long; SageMaker takes at most "
               f"{TARGET_MODEL_MAX_LENGTH}.")
        raise UserError(msg)
    first, refused = target_model[0], [char for char in target_model[1:] if not " " <= char <= "~"]
    if first in " \t\n\x0b\f\r" or refused:
        what = f"the character {refused[0]!r}" if refused else f"the leading white space {first!r}"
        msg = (f"--target-model {target_model!r} has {what}; SageMaker takes a first character that is not "
               "white space, then printable ASCII (space included).")
        raise UserError(msg)
    return target_model


def predict(
    endpoint_name: str,
    data: Any,
    *,
    serializer: BaseSerializer | None = None,
    deserializer: BaseDeserializer | None = None,
    session: Any = None,
    region: str | None = None,
    dry_run: bool = False,
    target_model: str | None = None,
    explain: bool = False,
) -> Any:
    """Send ``data`` to an endpoint with the SDK's ``Endpoint.invoke`` and its (de)serializers.

    Defaults: ``CSVSerializer`` (rows of features, no label) and ``CSVDeserializer`` (one prediction
    per row). With ``dry_run``, returns the InvokeEndpoint request instead (as an :class:`ApiCall`).
    ``target_model`` names the model of a multi-model endpoint to ask, by its path under the prefix.
    ``explain`` asks each row's SHAP contributions (``CustomAttributes: explain=shap``) in a JSON answer
    (``JSONDeserializer`` by default; ``explanation_table`` prints it).
    """
    if target_model is not None:
        check_target_model(target_model)
    serializer = serializer or CSVSerializer()
    deserializer = deserializer or (JSONDeserializer() if explain else CSVDeserializer())
    accept = deserializer.ACCEPT[0] if isinstance(deserializer.ACCEPT, tuple) else deserializer.ACCEPT
    headers = {"TargetModel": target_model} if target_model is not None else {}
    if explain:
        accept = explain_accept(accept)
        headers["CustomAttributes"] = EXPLAIN_ATTRIBUTE
    if dry_run:
        request = {"EndpointName": endpoint_name, "Body": serializer.serialize(data),
                   "ContentType": serializer.CONTENT_TYPE, "Accept": accept, **headers}
        check_request("InvokeEndpoint", request, service="sagemaker-runtime")
        return ApiCall("InvokeEndpoint", request)
    endpoint = Endpoint(endpoint_name=endpoint_name, serializer=serializer, deserializer=deserializer)
    result = endpoint.invoke(
        body=data, content_type=serializer.CONTENT_TYPE, accept=accept, session=session, region=region,
        **{_INVOKE_ARGUMENTS[name]: value for name, value in headers.items()},
    )
    return result.body


_INVOKE_ARGUMENTS = {"TargetModel": "target_model", "CustomAttributes": "custom_attributes"}
"""``Endpoint.invoke``'s argument for each optional InvokeEndpoint field the launcher sends."""
