"""Predictions from an endpoint, through the SDK's own ``Endpoint.invoke`` and (de)serializers."""

from __future__ import annotations

from typing import Any

from sagemaker.core.deserializers import CSVDeserializer
from sagemaker.core.deserializers.base import BaseDeserializer
from sagemaker.core.resources import Endpoint
from sagemaker.core.serializers import CSVSerializer
from sagemaker.core.serializers.base import BaseSerializer

from ensemble_byoc.launcher.api_calls import ApiCall, check_request


def predict(
    endpoint_name: str,
    data: Any,
    *,
    serializer: BaseSerializer | None = None,
    deserializer: BaseDeserializer | None = None,
    session: Any = None,
    region: str | None = None,
    dry_run: bool = False,
) -> Any:
    """Send ``data`` to an endpoint with the SDK's ``Endpoint.invoke`` and its (de)serializers.

    Defaults: ``CSVSerializer`` (rows of features, no label) and ``CSVDeserializer`` (one prediction
    per row). With ``dry_run``, returns the InvokeEndpoint request instead (as an :class:`ApiCall`).
    """
    serializer = serializer or CSVSerializer()
    deserializer = deserializer or CSVDeserializer()
    accept = deserializer.ACCEPT[0] if isinstance(deserializer.ACCEPT, tuple) else deserializer.ACCEPT
    if dry_run:
        body = serializer.serialize(data)
        request = {
            "EndpointName": endpoint_name,
            "Body": body,
            "ContentType": serializer.CONTENT_TYPE,
            "Accept": accept,
        }
        check_request("InvokeEndpoint", request, service="sagemaker-runtime")
        return ApiCall("InvokeEndpoint", request)
    endpoint = Endpoint(endpoint_name=endpoint_name, serializer=serializer, deserializer=deserializer)
    result = endpoint.invoke(
        body=data, content_type=serializer.CONTENT_TYPE, accept=accept, session=session, region=region
    )
    return result.body
