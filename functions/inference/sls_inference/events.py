"""Lambda event shapes the inference function accepts, detected automatically, and adapters to/from them.

Pure functions, no I/O. Shapes:

- ``DIRECT``: a plain invoke whose event IS the request object (OIP or TF-Serving JSON).
- ``HTTP_V2``: Function URL / API Gateway HTTP API payload 2.0 (``version == "2.0"`` and ``requestContext.http``).
- ``HTTP_V1``: API Gateway REST API (payload 1.0; ALB events have the same shape): ``httpMethod`` + ``requestContext``.
- ``SQS``: ``Records`` from ``aws:sqs``; each message body is one request.
- ``S3``: ``Records`` from ``aws:s3`` (object created); each object holds one JSON request.

HTTP routes (Open Inference Protocol v2 plus two shortcuts); a stage prefix before ``/v2/`` is ignored:

==========================================================  ======  =====================================
path                                                        method  action
==========================================================  ======  =====================================
``/``                                                       GET     model metadata (POST: inference)
``/v2``                                                     GET     server metadata
``/v2/health/live``, ``/v2/health/ready``                   GET     liveness / readiness
``/v2/models/{name}[/versions/{v}]``                        GET     model metadata
``/v2/models/{name}[/versions/{v}]/ready``                  GET     model readiness
``/v2/models/{name}[/versions/{v}]/infer``                  POST    inference
any other path                                              POST    inference
==========================================================  ======  =====================================

A method a route does not serve is a 405 (with an ``allow`` header).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from .codec import MAX_BODY_BYTES, RequestError, body_size, dumps

JSON_HEADERS: Mapping[str, str] = {"content-type": "application/json"}


class EventKind(StrEnum):
    DIRECT = "direct"
    HTTP_V2 = "http_v2"
    HTTP_V1 = "http_v1"
    SQS = "sqs"
    S3 = "s3"


def detect(event: Any) -> EventKind:
    """Which shape ``event`` has; anything unrecognised is a direct invocation (the event is the request)."""
    if not isinstance(event, dict):
        return EventKind.DIRECT
    context = event.get("requestContext")
    if isinstance(context, dict):
        if event.get("version") == "2.0" and isinstance(context.get("http"), dict):
            return EventKind.HTTP_V2
        if "httpMethod" in event:
            return EventKind.HTTP_V1
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource")
        if source == "aws:sqs":
            return EventKind.SQS
        if source == "aws:s3":
            return EventKind.S3
    return EventKind.DIRECT


# ---------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    body: bytes | str | None
    headers: Mapping[str, str] = field(default_factory=dict)


def http_request(event: Mapping[str, Any], kind: EventKind) -> HttpRequest:
    """Method, path and (base64-decoded) body of an HTTP event. RequestError 413 above the payload limit,
    400 for a body that claims base64 but is not."""
    if kind is EventKind.HTTP_V2:
        http = event["requestContext"]["http"]
        method = str(http.get("method", "GET")).upper()
        path = str(event.get("rawPath") or http.get("path") or "/")
    else:
        method = str(event.get("httpMethod", "GET")).upper()
        path = str(event.get("path") or "/")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = event.get("body")
    if body is not None and event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            raise _too_large(len(body) * 3 // 4)
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError(
                "body is marked isBase64Encoded but is not valid base64",
                field="body",
                expected="base64-encoded JSON",
            ) from exc
    if body is not None and body_size(body) > MAX_BODY_BYTES:
        raise _too_large(body_size(body))
    return HttpRequest(method=method, path=path, body=body, headers=headers)


def _too_large(size: int) -> RequestError:
    return RequestError(
        f"request body is {size} bytes; the limit is {MAX_BODY_BYTES} bytes (6 MB)",
        status=413,
        field="body",
        expected=f"at most {MAX_BODY_BYTES} bytes",
    )


def http_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The proxy-integration response both HTTP payload versions accept."""
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": dumps(payload),
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class Route:
    action: str  # "infer" | "model_metadata" | "model_ready" | "server_metadata" | "live" | "ready"
    model: str | None = None  # the {name} in /v2/models/{name}/...
    version: str | None = None  # the {v} in .../versions/{v}/...


_GET_ACTIONS = {"model_metadata", "model_ready", "server_metadata", "live", "ready"}


def route(method: str, path: str) -> Route:
    """Map an HTTP method and path to an action; RequestError 405 when the route does not serve ``method``."""
    found = _match(path)
    if found.action == "root":
        if method in ("GET", "POST"):
            return Route("model_metadata" if method == "GET" else "infer")
        raise RequestError(
            f"{method} is not allowed on {path}; use POST to infer or GET for metadata",
            status=405,
            field="method",
            expected="GET, POST",
            headers={"allow": "GET, POST"},
        )
    wanted = "GET" if found.action in _GET_ACTIONS else "POST"
    if method != wanted:
        raise RequestError(
            f"{method} is not allowed on {path}; use {wanted}",
            status=405,
            field="method",
            expected=wanted,
            headers={"allow": wanted},
        )
    return found


def _match(path: str) -> Route:
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Route("root")
    start = next(
        (
            i
            for i, part in enumerate(parts)
            if part == "v2" and (i + 1 == len(parts) or parts[i + 1] in ("health", "models"))
        ),
        None,
    )
    if start is None:
        return Route("infer")
    rest = parts[start + 1 :]
    if not rest:
        return Route("server_metadata")
    if rest in (["health", "live"], ["health", "ready"]):
        return Route(rest[1])
    if rest[0] != "models" or len(rest) < 2:
        return Route("infer")
    model, rest = rest[1], rest[2:]
    version = None
    if len(rest) >= 2 and rest[0] == "versions":
        version, rest = rest[1], rest[2:]
    if not rest:
        return Route("model_metadata", model, version)
    if rest == ["ready"]:
        return Route("model_ready", model, version)
    return Route("infer", model, version)


# ---------------------------------------------------------------------------------------------- SQS and S3


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    body: str


def sqs_messages(event: Mapping[str, Any]) -> list[SqsMessage]:
    return [
        SqsMessage(message_id=str(record.get("messageId", "")), body=record.get("body") or "")
        for record in event["Records"]
    ]


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str  # URL-decoded (S3 event keys arrive URL-encoded, spaces as '+')


def s3_objects(event: Mapping[str, Any]) -> list[S3Object]:
    objects = []
    for record in event["Records"]:
        s3 = record.get("s3") or {}
        objects.append(
            S3Object(
                bucket=str((s3.get("bucket") or {}).get("name", "")),
                key=unquote_plus(str((s3.get("object") or {}).get("key", ""))),
            )
        )
    return objects


def s3_output_key(key: str, prefix: str, error: bool = False) -> str:
    """``<prefix><key without extension>.json`` (``.error.json`` for a request that failed)."""
    stem, _ = posixpath.splitext(key)
    return f"{prefix}{stem}{'.error' if error else ''}.json"
