"""A Lambda function URL on the local gateway: an HTTP request → the payload 2.0 event → the HTTP response.

The event is what a function URL sends (`version` "2.0", `rawPath`, `rawQueryString`, lowercased `headers`
with repeated values comma-joined, `cookies`, `queryStringParameters`, `requestContext.http` with method,
path, protocol, sourceIp and userAgent, `body` — base64 with `isBase64Encoded` unless the content type is
text); the answer is read as a function URL reads it: a JSON object with `statusCode` gives the status,
`headers`, `cookies` (one Set-Cookie each) and `body` (base64-decoded when `isBase64Encoded`); any other
payload is a 200 with that payload as its JSON body. A function error is a 502.

Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from sls_inference.codec import error_body

from ...core.records import InvokeResult
from . import http11

_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv", "graphql")


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return not kind or kind.startswith("text/") or any(word in kind for word in _TEXT_TYPES)


def url_event(
    request: http11.Request,
    raw_path: str,
    source_ip: str,
    function: str,
    request_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event of `request`, as the function URL of `function` would send it for `raw_path`."""
    now = time.time() if now is None else now
    headers = dict(request.headers)
    cookie = headers.pop("cookie", "")
    cookies = [part.strip() for part in cookie.split(";") if part.strip()]
    query = request.query
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    host = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": function,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": request.version,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if request.body:
        text = None
        if _is_text(headers.get("content-type", "")):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def url_response(result: InvokeResult) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of the HTTP answer to a function URL request that ran `result`."""
    if result.function_error:
        detail = result.decoded_payload if isinstance(result.decoded_payload, dict) else {}
        message = (
            f"the function failed: {detail.get('errorType', 'Unhandled')}: {detail.get('errorMessage', '')}"
        )
        body = json.dumps(error_body(502, message.strip())).encode()
        return 502, [("Content-Type", "application/json")], body
    payload = result.decoded_payload
    if not (isinstance(payload, dict) and "statusCode" in payload):
        return 200, [("Content-Type", "application/json")], result.payload
    try:
        status = int(payload["statusCode"])
    except (TypeError, ValueError):
        return _bad_response("statusCode is not a number")
    headers = [(str(k), str(v)) for k, v in (payload.get("headers") or {}).items()]
    if not any(key.lower() == "content-type" for key, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers += [("Set-Cookie", str(cookie)) for cookie in payload.get("cookies") or []]
    raw = payload.get("body")
    if raw is None:
        body = b""
    elif not isinstance(raw, str):
        body = json.dumps(raw).encode()
    elif payload.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return _bad_response("body is marked isBase64Encoded but is not base64")
    else:
        body = raw.encode("utf-8")
    return status, headers, body


def _bad_response(why: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps(error_body(502, f"the function's response is malformed: {why}"))
    return 502, [("Content-Type", "application/json")], body.encode()
