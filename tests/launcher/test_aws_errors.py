"""AWS's own exceptions, as botocore raises them, become one line that says what to do."""

from __future__ import annotations

import pytest
from botocore import exceptions as aws

from ensemble_byoc.launcher.aws_errors import EXPIRED, NO_CREDENTIALS, NO_REGION, aws_error_line


def client_error(code: str, message: str, operation: str = "CreateTrainingJob", status: int = 400
                 ) -> Exception:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return aws.ClientError(response, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "expected"), [
    (aws.NoRegionError(), NO_REGION),
    (aws.NoCredentialsError(), NO_CREDENTIALS),
    (aws.TokenRetrievalError(provider="sso", error_msg="expired"), EXPIRED),
    (client_error("ExpiredTokenException", "The security token included in the request is expired"), EXPIRED),
    (client_error("UnrecognizedClientException", "bad"),
     "AWS did not accept the credentials (UnrecognizedClientException); "
     "check them with `aws sts get-caller-identity`."),
    (client_error("AccessDeniedException", "User: x is not authorized", "CreateModel"),
     "AWS refused CreateModel (User: x is not authorized): the caller needs "
     "the IAM action sagemaker:CreateModel (and iam:PassRole on --role)."),
    (client_error("AccessDeniedException", "no", "InvokeEndpoint"),
     "AWS refused InvokeEndpoint (no): the caller needs the IAM action sagemaker-runtime:InvokeEndpoint."),
    (client_error("ResourceLimitExceeded", "The account-level service limit is 2 instances"),
     "AWS refused CreateTrainingJob (ResourceLimitExceeded): The account-level service limit is 2 instances"),
])
def test_each_aws_error_is_one_line_saying_what_to_do(error: Exception, expected: str) -> None:
    assert aws_error_line(error) == expected


def test_an_error_that_is_not_aws_is_left_to_raise() -> None:
    assert aws_error_line(ValueError("a bug")) is None
