"""A small Lambda Runtime API server (the protocol awslambdaric speaks), one per worker process.

One server per worker, like Lambda where every execution environment has its own Runtime API endpoint: a
worker can only ever fetch its own events, the server's state is a single queue plus the invocation in
flight, and killing a worker never disturbs another. A server costs one thread and one socket (< 1 ms).

The server speaks HTTP/1.1 with Content-Length on every response (awslambdaric keeps the connection alive)
and sets TCP_NODELAY on accepted sockets; each response is written with a single send. Without TCP_NODELAY a
warm round trip measured ~40–90 ms here (Nagle + delayed ACK), with it well under a millisecond.

`RuntimeState` is the state machine (thread-safe, no I/O); `RuntimeApiServer` maps HTTP requests onto it.
Side effects: binds a TCP socket on 127.0.0.1 (ephemeral port) and runs a daemon thread until `close()`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ... import limits

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_INVOCATION_RE = re.compile(rf"^{API_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


@dataclass
class Invocation:
    """One event on its way through the worker; the server fills in the outcome.

    Times are `time.monotonic()` seconds. `function_error` is the X-Amz-Function-Error value ("Unhandled")
    when the function reported an error, else None.
    """

    request_id: str
    event: bytes
    function_arn: str
    trace_id: str
    timeout_s: float
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


@dataclass
class RuntimeState:
    """What the Runtime API knows about its one worker. All access goes through `cond`."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    queue: collections.deque[Invocation] = field(default_factory=collections.deque)
    current: Invocation | None = None  # handed out, not answered yet
    init_done_at: float | None = None  # first GET /next: the runtime finished its init phase
    init_error: InitError | None = None
    exited: bool = False
    closed: bool = False

    def submit(self, invocation: Invocation) -> None:
        with self.cond:
            self.queue.append(invocation)
            self.cond.notify_all()

    def next_invocation(self) -> Invocation | None:
        """Block until an event is queued (None when the server closes); marks the runtime initialized."""
        with self.cond:
            if self.init_done_at is None:
                self.init_done_at = time.monotonic()
                self.cond.notify_all()
            while not self.queue and not self.closed:
                self.cond.wait()
            if self.closed:
                return None
            invocation = self.queue.popleft()
            invocation.handed_out_at = time.monotonic()
            self.current = invocation
            self.cond.notify_all()
            return invocation

    def finish(
        self, request_id: str, payload: bytes, function_error: str | None, error_type: str | None
    ) -> bool:
        """Record the outcome of the invocation in flight; False when `request_id` is not the one in flight."""
        with self.cond:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id or invocation.finished:
                return False
            invocation.payload = payload
            invocation.function_error = function_error
            invocation.error_type = error_type
            invocation.finished_at = time.monotonic()
            self.current = None
            self.cond.notify_all()
            return True

    def report_init_error(self, payload: bytes, error_type: str) -> None:
        with self.cond:
            if self.init_error is None:
                self.init_error = InitError(payload=payload, error_type=error_type, at=time.monotonic())
            self.cond.notify_all()

    def mark_exited(self) -> None:
        with self.cond:
            self.exited = True
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApiServer

    def setup(self) -> None:
        if self.server.tcp_nodelay:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass  # the CLI shows the function's logs, not the emulator's access log

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, data: dict[str, str]) -> None:
        self._reply(status, json.dumps(data).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != f"{API_PREFIX}/invocation/next":
            self._json(404, {"errorMessage": f"unknown path {self.path}", "errorType": "NotFound"})
            return
        invocation = self.server.state.next_invocation()
        if invocation is None:  # shutting down: let the runtime's connection drop
            self.close_connection = True
            self._json(410, {"errorMessage": "the local Runtime API is shutting down", "errorType": "Gone"})
            return
        assert invocation.handed_out_at is not None
        deadline_ms = int((time.time() + invocation.timeout_s) * 1000)
        self._reply(
            200,
            invocation.event,
            headers={
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self._read_body()
        state = self.server.state
        if self.path == f"{API_PREFIX}/init/error":
            payload, error_type = _error_outcome(body, self.headers.get(ERROR_TYPE_HEADER))
            state.report_init_error(payload, error_type)
            self._json(202, {"status": "OK"})
            return
        match = _INVOCATION_RE.match(self.path)
        if match is None:
            self._json(404, {"errorMessage": f"unknown path {self.path}", "errorType": "NotFound"})
            return
        request_id = match["id"]
        if match["kind"] == "response":
            if len(body) > limits.MAX_SYNC_PAYLOAD_BYTES:
                # Accepted (202) so the runtime carries on, but the caller gets Lambda's error instead.
                accepted = state.finish(
                    request_id,
                    error_payload(
                        "Function.ResponseSizeTooLarge",
                        f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                        f"({limits.MAX_SYNC_PAYLOAD_BYTES} bytes).",
                    ),
                    "Unhandled",
                    "Function.ResponseSizeTooLarge",
                )
            else:
                accepted = state.finish(request_id, body, None, None)
        else:
            # Lambda marks every error a runtime reports as Unhandled (X-Amz-Function-Error), whether or not
            # the runtime sent Lambda-Runtime-Function-Error-Type (awslambdaric 4.2 does not).
            payload, error_type = _error_outcome(body, self.headers.get(ERROR_TYPE_HEADER))
            accepted = state.finish(request_id, payload, "Unhandled", error_type)
        if accepted:
            self._json(202, {"status": "OK"})
        else:
            self._json(
                400, {"errorMessage": f"invalid request ID {request_id}", "errorType": "InvalidRequestID"}
            )


class RuntimeApiServer(ThreadingHTTPServer):
    """The Runtime API of one worker on 127.0.0.1:<ephemeral port>, served from a daemon thread."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, state: RuntimeState | None = None, tcp_nodelay: bool = True) -> None:
        self.state = state or RuntimeState()
        self.tcp_nodelay = tcp_nodelay
        self.last_error: BaseException | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"runtime-api-{self.server_address[1]}", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def _accept_loop(self) -> None:
        # A blocking accept() rather than serve_forever's polling: close() wakes it at once by shutting the
        # listening socket down, so stopping a worker does not wait out a poll interval.
        while not self._closing:
            try:
                request, client_address = self.socket.accept()
            except OSError:
                return
            if self._closing:
                request.close()
                return
            self.process_request(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep the error (a worker killed mid-request resets its connection) instead of printing it."""
        self.last_error = sys.exc_info()[1]

    def shutdown(self) -> None:
        """socketserver's name for stopping; serve_forever is not used here, so it means close()."""
        self.close()

    def close(self) -> None:
        """Wake blocked /next requests, stop serving, close the listening socket and open connections."""
        self.state.close()
        self._closing = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._thread.join()
        self.server_close()
        with self._connections_lock:  # kept-alive connections: their handler threads then see EOF and end
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
