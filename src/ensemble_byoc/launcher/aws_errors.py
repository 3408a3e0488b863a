"""First-run mistakes with AWS as one line that says what to do, instead of a botocore traceback."""

from __future__ import annotations

from botocore import exceptions as aws

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
_BAD_KEYS = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
             "SignatureDoesNotMatch"}
_SERVICES = {"InvokeEndpoint": "sagemaker-runtime", "GetObject": "s3", "GetCallerIdentity": "sts",
             "DescribeRepositories": "ecr", "CreateRepository": "ecr", "GetAuthorizationToken": "ecr",
             "DescribeLogStreams": "logs", "GetLogEvents": "logs"}
"""The IAM service prefix of an operation that is not SageMaker's own."""

NO_REGION = "no AWS region is set: pass --region, set AWS_REGION, or run `aws configure`."
NO_CREDENTIALS = (
    "no AWS credentials were found: run `aws configure` (or `aws sso login`), or set AWS_PROFILE "
    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
)
EXPIRED = (
    "the AWS credentials have expired: refresh them (`aws sso login`, or new temporary keys) and run again."
)


def aws_error_line(error: BaseException) -> str | None:
    """The line to print for an AWS error, or None for an error that is not AWS's (a bug: re-raise it)."""
    if isinstance(error, aws.NoRegionError):
        return NO_REGION
    if isinstance(error, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return NO_CREDENTIALS
    if isinstance(error, (aws.TokenRetrievalError, aws.SSOTokenLoadError, aws.UnauthorizedSSOTokenError)):
        return EXPIRED
    if isinstance(error, aws.EndpointConnectionError):
        return f"AWS could not be reached ({error}); check the network and --region."
    if isinstance(error, aws.ClientError):
        return _client_error_line(error)
    return None


def _client_error_line(error: aws.ClientError) -> str:
    details = error.response.get("Error", {})
    code, message = str(details.get("Code", "")), str(details.get("Message", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = "" if message.lstrip().startswith("<") else message  # an XML page, not a message
    operation = error.operation_name
    if code in _EXPIRED:
        return EXPIRED
    if code in _BAD_KEYS:
        return f"AWS did not accept the credentials ({code}); check them with `aws sts get-caller-identity`."
    if code in _DENIED or status == 403:
        action = f"{_SERVICES.get(operation, 'sagemaker')}:{operation}"
        said = f" ({message.rstrip('.')})" if message else ""
        passes_role = operation.startswith("Create") and operation not in _SERVICES
        return (f"AWS refused {operation}{said}: the caller needs the IAM action {action}"
                + (" (and iam:PassRole on --role)" if passes_role else "") + ".")
    return f"AWS refused {operation} ({code}): {message}"
