"""The HTTP/1.1 wire format of the local target's two servers: each worker's Runtime API and the gateway.

Small on purpose: one incremental request parser (Content-Length and chunked bodies, `Expect: 100-continue`,
keep-alive rules) and one function that renders a whole response as a single buffer, so every response
leaves in one send (with TCP_NODELAY set by the servers, a split response would wait for a delayed ACK).
The parser never blocks and owns no socket: the Runtime API feeds it from a poll loop, the gateway from
blocking reads. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

MAX_HEADER_BYTES = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpError(Exception):
    """A request that cannot be parsed (or is too large to take): answer `status` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One parsed request. Header names are lowercased; a repeated header's values are joined by ", "."""

    method: str
    target: str  # the request target as sent: path and query, still percent-encoded
    version: str  # "HTTP/1.1"
    headers: dict[str, str]
    body: bytes

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def path(self) -> str:
        """The path, percent-decoded."""
        return unquote(self.raw_path)

    @property
    def query(self) -> str:
        """The raw query string (without '?'), percent-encoded as sent."""
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


class RequestParser:
    """Turns the bytes of one connection into requests. `feed` data, then `pop` until it returns None.

    `max_body` bounds a body's size: a larger Content-Length raises HttpError(413) as soon as the headers
    are in, before the body is read. `wants_continue` is True while a request that sent
    `Expect: 100-continue` waits for its body: the server then sends CONTINUE once (`continue_sent()`).
    """

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self._buffer = bytearray()
        self._head: tuple[str, str, str, dict[str, str]] | None = None
        self._body_start = 0
        self._continue_pending = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def wants_continue(self) -> bool:
        return self._continue_pending

    def continue_sent(self) -> None:
        self._continue_pending = False

    def pop(self) -> Request | None:
        """The next complete request, or None until more bytes arrive. Raises HttpError for bad requests."""
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise HttpError(431, "the request's headers are too large")
                return None
            self._head = _parse_head(bytes(self._buffer[:end]))
            self._body_start = end + 4
            headers = self._head[3]
            length = _content_length(headers)
            if length is not None and length > self.max_body:
                raise HttpError(413, f"the request body is {length} bytes; at most {self.max_body} are taken")
            self._continue_pending = headers.get("expect", "").lower() == "100-continue" and bool(length)
        method, target, version, headers = self._head
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = _dechunk(self._buffer, self._body_start, self.max_body)
            if decoded is None:
                return None
            body, consumed = decoded
        else:
            length = _content_length(headers) or 0
            consumed = self._body_start + length
            if len(self._buffer) < consumed:
                return None
            body = bytes(self._buffer[self._body_start : consumed])
        del self._buffer[:consumed]
        self._head = None
        self._continue_pending = False
        return Request(method=method, target=target, version=version, headers=headers, body=body)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "the request head is not text") from exc
    lines = text.split("\r\n")
    while lines and not lines[0]:  # tolerate stray CRLFs between kept-alive requests (RFC 9112 2.2)
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, f"malformed request line {lines[0][:80]!r}" if lines else "empty request")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return parts[0], parts[1], parts[2], headers


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise HttpError(400, f"bad Content-Length {value[:40]!r}")
    return int(value)


def _dechunk(buffer: bytearray, start: int, max_body: int) -> tuple[bytes, int] | None:
    """(body, bytes consumed from the buffer's start) of a complete chunked body, or None if incomplete."""
    chunks: list[bytes] = []
    size_total = 0
    pos = start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = bytes(buffer[pos:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise HttpError(400, f"bad chunk size {size_text[:20]!r}") from exc
        pos = line_end + 2
        if size == 0:
            while True:  # trailers, up to the empty line
                line_end = buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                empty = line_end == pos
                pos = line_end + 2
                if empty:
                    return b"".join(chunks), pos
        size_total += size
        if size_total > max_body:
            raise HttpError(413, f"the request body is over {max_body} bytes")
        if len(buffer) < pos + size + 2:
            return None
        chunks.append(bytes(buffer[pos : pos + size]))
        pos += size + 2


def response(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    content_type: str | None = "application/json",
    close: bool = False,
) -> bytes:
    """A complete HTTP/1.1 response (status line, headers, Content-Length, body) as one buffer."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    lines += [f"{key}: {value}" for key, value in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
