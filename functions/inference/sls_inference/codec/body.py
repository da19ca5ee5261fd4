"""Request and response bodies as JSON text: the payload limit, parsing and compact encoding. Pure, no I/O."""

from __future__ import annotations

import json
from typing import Any

from .errors import RequestError

# Lambda's synchronous request/response payload limit; mirrors sls_deploy.core.limits.MAX_SYNC_PAYLOAD_BYTES
# (the handler never imports sls_deploy).
MAX_BODY_BYTES = 6 * 1024 * 1024


def parse_json(body: bytes | str) -> Any:
    """Parse a request body; raises RequestError 413 above MAX_BODY_BYTES and 400 for anything but JSON."""
    if body_size(body) > MAX_BODY_BYTES:
        raise RequestError(
            f"request body is {body_size(body)} bytes; the limit is {MAX_BODY_BYTES} bytes (6 MB)",
            status=413,
            field="body",
            expected=f"at most {MAX_BODY_BYTES} bytes",
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(
            f"request body is not valid JSON: {exc}", field="body", expected="a JSON object"
        ) from exc


def body_size(body: bytes | str) -> int:
    """Size in bytes of ``body`` as UTF-8 (cheap for short str bodies: a char is at most 4 bytes)."""
    if isinstance(body, bytes | bytearray):
        return len(body)
    if len(body) * 4 <= MAX_BODY_BYTES:
        return len(body)  # exact size does not matter below the limit
    return len(body.encode("utf-8", "surrogatepass"))


def dumps(payload: Any) -> str:
    """Compact JSON; refuses NaN/Infinity so a response can never be invalid JSON (encode them first)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)
