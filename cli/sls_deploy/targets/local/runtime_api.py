"""The Lambda Runtime API of one worker (the protocol awslambdaric speaks), served by the invoking thread.

One endpoint per worker, like Lambda where every execution environment has its own Runtime API: a worker
only ever fetches its own events and killing one never disturbs another.

No thread of its own: the thread that invokes the worker drives the API with `pump()` (one `poll()` over the
listening socket, the runtime's connections and any watched descriptor such as the worker's log pipe and
process handle). The event is written straight into the runtime's pending `GET /next` and its answer read
from the same thread, so an invocation costs no thread hand-off in this process; between invocations
nothing runs here and the runtime's next `GET /next` waits in the socket.

Wire details: HTTP/1.1 with Content-Length on every response (awslambdaric keeps its connection alive),
TCP_NODELAY on accepted sockets, each response written with a single send (see http11.py). Without
TCP_NODELAY a warm round trip measured ~40–90 ms here (Nagle + delayed ACK), with it well under a millisecond.

Side effects: binds a TCP socket on 127.0.0.1 (ephemeral port) until `close()`.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...core import limits
from . import http11

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
NEXT_PATH = f"{API_PREFIX}/invocation/next"
INIT_ERROR_PATH = f"{API_PREFIX}/init/error"
_INVOCATION_RE = re.compile(rf"^{API_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
# What the runtime may post: a response over Lambda's limit is still read whole (then reported as
# Function.ResponseSizeTooLarge); past this, the connection is dropped instead of buffering more.
MAX_RUNTIME_BODY_BYTES = 8 * limits.MAX_SYNC_PAYLOAD_BYTES
_POLL_IN = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_ACCEPTED = http11.response(202, b'{"status":"OK"}')
# Below malloc's mmap threshold: a larger read size costs an mmap/mremap/munmap per read (every request).
_RECV_BYTES = 1 << 16
_SEND_TIMEOUT_S = 30.0  # a runtime that stops reading a large event or answer mid-way


@dataclass
class Invocation:
    """One event on its way through the worker; the API fills in the outcome.

    Times are `time.monotonic()` seconds. `function_error` is the X-Amz-Function-Error value ("Unhandled")
    when the function reported an error, else None.
    """

    request_id: str
    event: bytes
    function_arn: str
    trace_id: str
    timeout_s: float
    client_context: str | None = None  # base64 JSON from the caller (X-Amz-Client-Context)
    handed_out_at: float | None = None
    finished_at: float | None = None
    payload: bytes = b""
    function_error: str | None = None
    error_type: str | None = None  # the runtime's error type (errorType), when it reported one

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass
class InitError:
    payload: bytes
    error_type: str
    at: float


def error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _error_outcome(body: bytes, header_type: str | None) -> tuple[bytes, str]:
    """The payload and errorType of an error the runtime posted.

    awslambdaric 4.2 posts {errorMessage, errorType, requestId, stackTrace} without an error-type header; a
    runtime that posts something else gets it wrapped the way Lambda wraps it.
    """
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return body, str(parsed.get("errorType") or header_type or "Unhandled")
    error_type = header_type or "Runtime.Unknown"
    return error_payload(
        error_type, body.decode("utf-8", "replace") or "Unknown application error occurred"
    ), error_type


def _json(status: int, data: dict[str, str], close: bool = False) -> bytes:
    return http11.response(status, json.dumps(data).encode(), close=close)


def _send_whole(sock: socket.socket, data: bytes) -> None:
    """All of `data` on a non-blocking socket: one send when it fits the socket's buffer (the usual case, no
    switch to blocking mode and back), else the rest waiting up to _SEND_TIMEOUT_S for the runtime to read
    (TimeoutError, an OSError, past that)."""
    try:
        sent = sock.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    if sent < len(data):
        sock.settimeout(_SEND_TIMEOUT_S)
        try:
            sock.sendall(memoryview(data)[sent:])
        finally:
            sock.setblocking(False)


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = http11.RequestParser(MAX_RUNTIME_BODY_BYTES)


class RuntimeApi:
    """The Runtime API of one worker on 127.0.0.1:<ephemeral port>. Not thread-safe: one thread at a time
    (the worker's invoke lock) calls pump/hand_out."""

    def __init__(self, tcp_nodelay: bool = True) -> None:
        self.tcp_nodelay = tcp_nodelay
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self._listener.fileno(), _POLL_IN)
        self._connections: dict[int, _Connection] = {}
        self._watched: dict[int, Callable[[], None]] = {}
        self._waiting: _Connection | None = None  # the connection whose GET /next waits for an event
        self._unacknowledged: _Connection | None = None  # answered the last invocation, waits for its 202
        self.current: Invocation | None = None  # handed out, not answered yet
        self.init_done_at: float | None = None  # first GET /next: the runtime finished its init phase
        self.init_error: InitError | None = None
        self.closed = False

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    @property
    def ready(self) -> bool:
        """True when the runtime waits in GET /next for an event."""
        return self._waiting is not None

    def watch(self, fd: int, on_readable: Callable[[], None]) -> None:
        """Call `on_readable` from `pump` whenever `fd` is readable (or closed)."""
        self._watched[fd] = on_readable
        self._poll.register(fd, _POLL_IN)

    def unwatch(self, fd: int) -> None:
        if self._watched.pop(fd, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._poll.unregister(fd)

    def pump(self, timeout_s: float | None) -> int:
        """Wait up to `timeout_s` (None: forever) for activity and handle it: connections, requests, watched
        descriptors. Returns after one round of events (their number; 0 when the time ran out)."""
        if self.closed:
            if timeout_s:
                time.sleep(min(timeout_s, 0.05))
            return 0
        timeout_ms = None if timeout_s is None else max(0, int(timeout_s * 1000 + 0.999))
        events = self._poll.poll(timeout_ms)
        for fd, _ in events:
            if fd == self._listener.fileno():
                self._accept()
            elif fd in self._connections:
                self._read(self._connections[fd])
            elif fd in self._watched:
                self._watched[fd]()
        return len(events)

    def hand_out(self, invocation: Invocation) -> bool:
        """Answer the runtime's pending GET /next with `invocation`; False when its connection is gone."""
        connection, self._waiting = self._waiting, None
        if connection is None:
            return False
        invocation.handed_out_at = time.monotonic()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + invocation.timeout_s) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        try:
            _send_whole(connection.sock, http11.response(200, invocation.event, headers=headers))
        except OSError:
            self._drop(connection)
            invocation.handed_out_at = None
            return False
        self.current = invocation
        return True

    def acknowledge(self) -> None:
        """Send the 202 for the runtime's last answer (a no-op when there is none pending)."""
        connection, self._unacknowledged = self._unacknowledged, None
        if connection is not None:
            self._send(connection, _ACCEPTED)

    def abandon(self) -> None:
        """Forget the invocation in flight (it timed out or the runtime died): a late answer is refused."""
        self.current = None

    def close(self) -> None:
        """Close the listening socket and every connection (a runtime waiting in GET /next sees EOF)."""
        if self.closed:
            return
        self.closed = True
        for connection in list(self._connections.values()):
            self._drop(connection)
        with contextlib.suppress(KeyError, ValueError):
            self._poll.unregister(self._listener.fileno())
        self._listener.close()
        for fd in list(self._watched):
            self.unwatch(fd)

    # -- connections ---------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if self.tcp_nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            connection = _Connection(sock)
            self._connections[sock.fileno()] = connection
            self._poll.register(sock.fileno(), _POLL_IN)

    def _drop(self, connection: _Connection) -> None:
        fd = connection.sock.fileno()
        if fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._poll.unregister(fd)
            self._connections.pop(fd, None)
        if self._waiting is connection:
            self._waiting = None
        if self._unacknowledged is connection:
            self._unacknowledged = None
        with contextlib.suppress(OSError):
            connection.sock.close()

    def _send(self, connection: _Connection, data: bytes) -> None:
        try:
            _send_whole(connection.sock, data)
        except OSError:
            self._drop(connection)

    def _receive(self, connection: _Connection) -> bool:
        """Feed what the connection holds now to its parser; True at its end (EOF, or reset: the runtime
        was killed)."""
        while True:
            try:
                chunk = connection.sock.recv(_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
            if not chunk:
                return True
            connection.parser.feed(chunk)
            if len(chunk) < _RECV_BYTES:
                return False  # drained for now (no extra recv just to hear EAGAIN); poll reports the rest

    def _read(self, connection: _Connection) -> None:
        eof = self._receive(connection)
        try:
            while (request := connection.parser.pop()) is not None:
                self._handle(connection, request)
            if connection.parser.wants_continue:
                connection.parser.continue_sent()
                self._send(connection, http11.CONTINUE)
        except http11.HttpError as err:
            if err.status == 413 and self.current is not None:
                self._finish_too_large(self.current.request_id, MAX_RUNTIME_BODY_BYTES)
            self._send(connection, _json(err.status, {"errorMessage": err.message, "errorType": "Bad"}, True))
            eof = True
        if eof:
            self._drop(connection)

    # -- protocol ------------------------------------------------------------------------------------------
    def _handle(self, connection: _Connection, request: http11.Request) -> None:
        path = request.raw_path
        if request.method == "GET" and path == NEXT_PATH:
            if self.init_done_at is None:
                self.init_done_at = time.monotonic()
            if self._waiting is not None and self._waiting is not connection:
                self._drop(self._waiting)
            self._waiting = connection
            return
        if request.method == "POST" and path == INIT_ERROR_PATH:
            payload, error_type = _error_outcome(request.body, request.headers.get(ERROR_TYPE_HEADER))
            if self.init_error is None:
                self.init_error = InitError(payload=payload, error_type=error_type, at=time.monotonic())
            self._send(connection, _ACCEPTED)
            return
        match = _INVOCATION_RE.match(path) if request.method == "POST" else None
        if match is None:
            self._send(
                connection, _json(404, {"errorMessage": f"unknown path {path}", "errorType": "NotFound"})
            )
            return
        request_id, body = match["id"], request.body
        if match["kind"] == "response":
            if len(body) > limits.MAX_SYNC_PAYLOAD_BYTES:
                # Accepted (202) so the runtime carries on, but the caller gets Lambda's error instead.
                accepted = self._finish_too_large(request_id, len(body))
            else:
                accepted = self._finish(request_id, body, None, None)
        else:
            # Lambda marks every error a runtime reports as Unhandled (X-Amz-Function-Error), whether or not
            # the runtime sent Lambda-Runtime-Function-Error-Type (awslambdaric 4.2 does not).
            payload, error_type = _error_outcome(body, request.headers.get(ERROR_TYPE_HEADER))
            accepted = self._finish(request_id, payload, "Unhandled", error_type)
        if accepted:
            # The runtime waits for this 202 before it asks for the next event. Held back until
            # `acknowledge()`, so that a caller can answer its own client first: sending it wakes the
            # runtime, which on a busy machine would run before the caller's answer leaves.
            self._unacknowledged = connection
        else:
            self._send(
                connection,
                _json(
                    400, {"errorMessage": f"invalid request ID {request_id}", "errorType": "InvalidRequestID"}
                ),
            )

    def _finish(
        self, request_id: str, payload: bytes, function_error: str | None, error_type: str | None
    ) -> bool:
        invocation = self.current
        if invocation is None or invocation.request_id != request_id or invocation.finished:
            return False
        invocation.payload = payload
        invocation.function_error = function_error
        invocation.error_type = error_type
        invocation.finished_at = time.monotonic()
        self.current = None
        return True

    def _finish_too_large(self, request_id: str, size: int) -> bool:
        return self._finish(
            request_id,
            error_payload(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
                f"({limits.MAX_SYNC_PAYLOAD_BYTES} bytes).",
            ),
            "Unhandled",
            "Function.ResponseSizeTooLarge",
        )
