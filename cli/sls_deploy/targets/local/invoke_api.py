"""Lambda's Invoke API on the local gateway: `POST /2015-03-31/functions/{FunctionName}/invocations`.

What boto3's `lambda` client and the AWS CLI send and expect, so both work with `endpoint_url` unchanged:
- FunctionName as a name, `name:qualifier`, a partial ARN (`123456789012:function:name[:qualifier]`) or a full
  ARN (`arn:aws:lambda:REGION:ACCOUNT:function:name[:qualifier]`); `?Qualifier=` must agree with one in the
  name. A local function is known by its model name ("digits") and by the function name its template gives
  it on AWS ("<project>-digits"). Unqualified means $LATEST (the last push), as on Lambda.
- Headers X-Amz-Invocation-Type (RequestResponse | Event → 202, run in the background | DryRun → 204),
  X-Amz-Log-Type: Tail (→ X-Amz-Log-Result: base64 of the last 4 KB of the log), X-Amz-Client-Context;
  answers carry X-Amz-Executed-Version, X-Amz-Function-Error and x-amzn-RequestId.
- Errors as Lambda's REST JSON protocol has them: a JSON body {"Type": "User", "message": ...} and the
  error code in `x-amzn-ErrorType`, which botocore turns into the exception class (ResourceNotFoundException,
  TooManyRequestsException, RequestEntityTooLargeException, InvalidRequestContentException, ...).

Pure except `invoke` (which runs the function through the pool); no sockets here.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ...core import limits
from ...core.errors import InvocationError, NotDeployedError, ThrottledError
from ...core.names import function_name as aws_function_name
from ...core.records import InvokeResult
from ..events import LOCAL_ACCOUNT_ID
from . import http11
from .versions import VersionRecord

PREFIX = "/2015-03-31/functions"
INVOKE_RE = re.compile(rf"^{PREFIX}/(?P<function>[^/]+)/invocations/?$")
FUNCTION_NAME_RE = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:|function:)?"
    r"(?P<name>[A-Za-z0-9_.-]{1,140})(?::(?P<qualifier>\$LATEST|[A-Za-z0-9_-]{1,128}))?$"
)
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TAIL_BYTES = 4096


@dataclass(frozen=True)
class Target:
    """Which function the request names, and how it was named (for error messages and ARNs)."""

    name: str  # the local function's (model's) name
    qualifier: str
    explicit: bool  # False: unqualified, $LATEST


class ApiError(Exception):
    """An Invoke API error: HTTP status, Lambda's error code (x-amzn-ErrorType) and message."""

    def __init__(self, status: int, code: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def to_response(self, request_id: str) -> bytes:
        key = "Message" if self.code == "ResourceNotFoundException" else "message"
        body = json.dumps({"Type": "User", key: self.message, **self.fields}).encode()
        return http11.response(
            self.status,
            body,
            headers={"x-amzn-ErrorType": self.code, "x-amzn-RequestId": request_id},
        )


def function_arn(region: str, name: str, qualifier: str = "") -> str:
    arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def parse_target(function: str, query: str, known: Callable[[str], str | None], region: str) -> Target:
    """The function and qualifier a request names. `known` maps a name (model or AWS function name) to the
    local function's name, or None. Raises ApiError for malformed or unknown names."""
    match = FUNCTION_NAME_RE.match(function)
    if match is None:
        raise ApiError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{function}' at 'functionName' failed to satisfy "
            "constraint: Member must be a function name, a partial ARN or a full ARN",
        )
    qualifier = match["qualifier"]
    asked = parse_qs(query).get("Qualifier", [])
    if asked:
        if qualifier is not None and asked[0] != qualifier:
            raise ApiError(
                400,
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier.",
            )
        qualifier = asked[0]
    name = known(match["name"])
    if name is None:
        raise ApiError(
            404,
            "ResourceNotFoundException",
            f"Function not found: {function_arn(region, match['name'], qualifier or '')}",
        )
    return Target(name=name, qualifier=qualifier or "$LATEST", explicit=qualifier is not None)


def invocation_type(headers: dict[str, str]) -> str:
    kind = headers.get("x-amz-invocation-type", "RequestResponse")
    if kind not in INVOCATION_TYPES:
        raise ApiError(
            400,
            "ValidationException",
            f"1 validation error detected: Value '{kind}' at 'invocationType' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(INVOCATION_TYPES)}]",
        )
    return kind


def client_context(headers: dict[str, str]) -> str | None:
    """X-Amz-Client-Context (base64 of a JSON object) as the JSON text the runtime gets, or None."""
    raw = headers.get("x-amz-client-context")
    if not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
        if not isinstance(json.loads(text), dict):
            raise ValueError("not an object")
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ApiError(
            400,
            "InvalidRequestContentException",
            f"Client context must be a valid Base64-encoded JSON object: {exc}",
        ) from exc
    return text


def check_payload(body: bytes, kind: str) -> bytes:
    """The event to run: the body (an empty one is {}), checked against Lambda's size limit and JSON."""
    limit = limits.MAX_ASYNC_PAYLOAD_BYTES if kind == "Event" else limits.MAX_SYNC_PAYLOAD_BYTES
    if len(body) > limit:
        raise ApiError(
            413,
            "RequestEntityTooLargeException",
            f"Request must be smaller than {limit} bytes for the "
            f"{'InvokeAsync' if kind == 'Event' else 'InvokeFunction'} operation",
        )
    if not body.strip():
        return b"{}"
    try:
        json.loads(body)
    except ValueError as exc:
        raise ApiError(
            400,
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
        ) from exc
    return body


def not_found(error: NotDeployedError, target: Target, region: str) -> ApiError:
    return ApiError(
        404,
        "ResourceNotFoundException",
        f"Function not found: {function_arn(region, target.name, target.qualifier)} ({error.message})",
    )


def throttled(error: ThrottledError) -> ApiError:
    return ApiError(
        429,
        "TooManyRequestsException",
        f"Rate Exceeded. ({error.message})",
        Reason=error.reason,
        retryAfterSeconds="1",
    )


def invocation_failed(error: InvocationError) -> ApiError:
    return ApiError(502, "ServiceException", f"{error.message}; {error.hint}")


def log_result(result: InvokeResult) -> str:
    """X-Amz-Log-Result: base64 of the invocation's log (START … END and REPORT), its last 4 KB."""
    text = result.log_tail + result.report.line() + "\n"
    data = text.encode("utf-8")[-LOG_TAIL_BYTES:]
    return base64.b64encode(data).decode("ascii")


def success(result: InvokeResult, target: Target, tail: bool) -> bytes:
    """The 200 answer of a RequestResponse invocation (function errors included, as Lambda answers them)."""
    headers = {
        "X-Amz-Executed-Version": result.version if target.qualifier != "$LATEST" else "$LATEST",
        "x-amzn-RequestId": result.report.request_id,
    }
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if tail:
        headers["X-Amz-Log-Result"] = log_result(result)
    return http11.response(200, result.payload, headers=headers)


def accepted(kind: str) -> bytes:
    """202 for an Event invocation (queued), 204 for a DryRun (the caller may invoke)."""
    status = 202 if kind == "Event" else 204
    return http11.response(status, b"", headers={"x-amzn-RequestId": str(uuid.uuid4())}, content_type=None)


def aws_names(project: str, names: list[str]) -> dict[str, str]:
    """The AWS function name of each local function ("<project>-<name>") → its local name."""
    return {aws_function_name(project, name): name for name in names}


def function_configuration(region: str, record: VersionRecord) -> dict[str, Any]:
    """A version as ListFunctions describes it ($LATEST)."""
    return {
        "FunctionName": record.name,
        "FunctionArn": function_arn(region, record.name),
        "Runtime": record.runtime,
        "Handler": record.handler,
        "MemorySize": record.memory,
        "Timeout": record.timeout,
        "Version": "$LATEST",
        "CodeSha256": record.code_sha256,
        "Architectures": [record.arch],
        "LastModified": record.created_at,
    }
