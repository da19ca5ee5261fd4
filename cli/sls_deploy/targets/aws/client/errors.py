"""The error translation of every AWS call: botocore's exceptions become AwsErrors (TargetErrors) saying what
failed, AWS's code and message, and how to fix it; the base of the per-service call classes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import botocore.exceptions

from ....core.errors import TargetError

if TYPE_CHECKING:
    from ..session import AwsContext


CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), "
    "run `aws configure` or `aws sso login`, or pass --profile NAME"
)


PERMISSION_HINT = (
    "grant the deploying identity the permissions listed in the README's 'Deploy to AWS' section"
)


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
}


class AwsError(TargetError):
    """An AWS call failed; `code` and `detail` are AWS's error code and message ("" when it gave none)."""

    def __init__(self, message: str, hint: str, code: str = "", detail: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.detail = detail


class NotFound(AwsError):
    """The call named something that does not exist (a function, version, alias, layer, log group)."""


class Throttled(AwsError):
    """Lambda did not run the invocation: the function is at its concurrency limit."""


class Conflict(AwsError):
    """What the call creates exists already."""


MISSING: dict[str, type[AwsError]] = {"ResourceNotFoundException": NotFound}
EXISTS: dict[str, type[AwsError]] = {"ResourceConflictException": Conflict, "ConflictException": Conflict}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


@contextmanager
def calling(what: str, hint: str = "", raises: Mapping[str, type[AwsError]] | None = None) -> Iterator[None]:
    """Run AWS calls that `what` describes ("creating the change set"); their errors become AwsErrors, of the
    class `raises` gives an error code (NotFound, Throttled, Conflict)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code, detail = error_code(exc), error_message(exc)
        if code in _DENIED:
            fix = PERMISSION_HINT
        elif code in _BAD_CREDENTIALS:
            fix = CREDENTIALS_HINT
        else:
            fix = hint or "check the message above; the AWS console shows the same error"
        kind = (raises or {}).get(code, AwsError)
        raise kind(f"{what} failed: {code}: {detail}", fix, code, detail) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise AwsError(f"{what} failed: no AWS credentials", CREDENTIALS_HINT) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(
            f"{what} failed: {exc}", hint or "check the network connection, the region and AWS_ENDPOINT_URL"
        ) from exc


class Api:
    """The calls of one service, on the context's (cached) client for it."""

    service: ClassVar[str]

    def __init__(self, aws: AwsContext) -> None:
        self.aws = aws

    @property
    def _client(self) -> Any:
        return self.aws.client(self.service)
