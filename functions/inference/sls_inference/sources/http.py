"""HTTP events: Function URL / API Gateway HTTP API (payload 2.0) and REST API (payload 1.0, ALB alike).

Routes (Open Inference Protocol v2 plus two shortcuts); a stage prefix before ``/v2/`` is ignored:

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

A method a route does not serve is a 405 (with an ``allow`` header). Answers are
``{"statusCode", "headers": {"content-type": "application/json"}, "body"}``; a request in KServe/Triton's
binary tensor extension (``Inference-Header-Content-Length``) is read by ``codec.binary_tensors`` and
answered in JSON; errors carry the error body with 400/404/405/413, internal failures a 500 with a generic
message (traceback in the log).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.logging import Logger

from ..codec import (
    INTERNAL_ERROR_MESSAGE,
    MAX_BODY_BYTES,
    RequestError,
    binary_tensors,
    body_size,
    dumps,
    error_body,
    parse_json,
)
from ..dataplane import DataPlane, Tally
from ..processing import Processor, RawBody
from . import EventKind, log_rejection

JSON_HEADERS: Mapping[str, str] = {"content-type": "application/json"}


class HttpSource:
    """HTTP events of payload version ``kind`` (HTTP_V2 or HTTP_V1) over ``plane``."""

    def __init__(self, plane: DataPlane, logger: Logger, kind: EventKind) -> None:
        self.plane = plane
        self.logger = logger
        self.kind = kind

    def handle(self, event: Mapping[str, Any], tally: Tally) -> dict[str, Any]:
        try:
            request = http_request(event, self.kind)
            found = route(request.method, request.path)
            self.plane.check_model(found.model, found.version)
            body = (
                self._infer(request, tally, found.model is not None)
                if found.action == "infer"
                else self.plane.get(found.action)
            )
            response = http_response(200, body)
        except RequestError as err:
            log_rejection(self.logger, err)
            response = http_response(err.status, err.to_body(), err.headers)
        except Exception:
            self.logger.exception("internal error")
            response = http_response(500, error_body(500, INTERNAL_ERROR_MESSAGE))
        tally.status = response["statusCode"]
        return response

    def _infer(self, request: HttpRequest, tally: Tally, oip_route: bool = False) -> Any:
        if not request.body:
            raise RequestError(
                "request body is empty; POST a JSON inference request",
                field="body",
                expected='{"inputs": ...} or {"instances": [...]}',
            )
        binary = request.headers.get(binary_tensors.HEADER)
        content_type = request.headers.get("content-type", "")
        payload: Any
        if binary is not None:
            payload = binary_tensors.decode_request(request.body, binary)
        elif not is_raw(content_type, self.plane.processor):
            payload = parse_json(request.body)
        else:  # an image upload or plain text: the model's processing takes it (415 without one)
            body = request.body.encode("utf-8") if isinstance(request.body, str) else bytes(request.body)
            payload = RawBody(body, content_type, "oip" if oip_route else "instances")
        return self.plane.predict(payload, tally)


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    body: bytes | str | None
    headers: Mapping[str, str] = field(default_factory=dict)


def is_raw(content_type: str, processor: Processor | None) -> bool:
    """A body taken as it is rather than parsed as JSON: images and octet streams always (a model without an
        image spec answers 415), text/plain when the model takes text, any non-JSON type when it takes images. The
    rest is parsed as JSON, whatever
        its type says (curl sends JSON as application/x-www-form-urlencoded)."""
    media = content_type.split(";")[0].strip().lower()
    if media.startswith("image/") or media == "application/octet-stream":
        return True
    kind = None if processor is None else processor.kind
    if kind == "text":
        return media == "text/plain"
    json_like = media in ("", "application/json", "application/x-www-form-urlencoded") or media.endswith(
        "+json"
    )
    return kind == "image" and not json_like  # an image model answers other media types with a 415


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


# ---------------------------------------------------------------------------------------------- routes


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
