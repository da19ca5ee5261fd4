"""The function's one error schema: ``RequestError`` and its JSON body ``{"error": {"status", "message",
"field"?, "expected"?}}`` (HTTP bodies, direct-invoke payloads, S3 error objects, logs). Pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What a client is told about a failure of the function itself (the traceback goes to the log only).
INTERNAL_ERROR_MESSAGE = "internal error while serving the request; the function's log has the details"


class RequestError(Exception):
    """A request the handler cannot serve; ``status`` 4xx for client mistakes, 500 for internal failures."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        field: str | None = None,
        expected: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.expected = expected
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.field, self.expected)


def error_body(status: int, message: str, field: str | None = None, expected: Any = None) -> dict[str, Any]:
    """The handler's one error schema (HTTP bodies, direct-invoke payloads, S3 error objects, logs)."""
    error: dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        error["field"] = field
    if expected is not None:
        error["expected"] = expected
    return {"error": error}
