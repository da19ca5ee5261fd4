"""The local Runtime API speaks the protocol awslambdaric expects (plain http.client plays the runtime, in a
thread; the test thread drives the API as an invoking thread does)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sls_deploy.targets.local.runtime_api import API_PREFIX, Invocation, RuntimeApi

NEXT = f"{API_PREFIX}/invocation/next"


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    runtime_api = RuntimeApi()
    yield runtime_api
    runtime_api.close()


def pump_until(api: RuntimeApi, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out pumping the Runtime API"
        api.pump(0.05)


class Runtime:
    """A runtime on one kept-alive connection, its requests sent from a thread."""

    def __init__(self, api: RuntimeApi) -> None:
        host, port = api.address.split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=5)
        self.answers: list[Any] = []
        self._thread: threading.Thread | None = None

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        def run() -> None:
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                self.answers.append((response, response.read()))
            except Exception as exc:  # handed to the test through `answers`
                self.answers.append(exc)

        self._thread = threading.Thread(target=run)
        self._thread.start()
        return self

    def answer(self, api: RuntimeApi) -> Any:
        """Pump until the request in flight is answered; its (response, body) or exception."""
        assert self._thread is not None
        deadline = time.monotonic() + 5
        while self._thread.is_alive():
            assert time.monotonic() < deadline, "timed out pumping the Runtime API"
            api.pump(0.05)
            api.acknowledge()  # a caller sends the held-back 202 once it has the answer
        return self.answers.pop(0)

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def runtime(api: RuntimeApi) -> Iterator[Runtime]:
    client = Runtime(api)
    yield client
    client.close()


def invocation(request_id: str = "req-1", event: bytes = b'{"x": 1}') -> Invocation:
    return Invocation(
        request_id=request_id,
        event=event,
        function_arn="arn:aws:lambda:us-east-1:0:function:f",
        trace_id="Root=1-abc",
        timeout_s=3,
    )


def handed_out(api: RuntimeApi, runtime: Runtime, inv: Invocation) -> tuple[Any, bytes]:
    runtime.send("GET", NEXT)
    pump_until(api, lambda: api.ready)
    assert api.hand_out(inv)
    return runtime.answer(api)


def test_next_waits_until_an_event_is_handed_out_then_gets_it_with_lambdas_headers(
    api: RuntimeApi, runtime: Runtime
) -> None:
    runtime.send("GET", NEXT)
    pump_until(api, lambda: api.ready)
    api.pump(0.1)
    assert runtime.answers == [] and api.init_done_at is not None
    assert api.hand_out(invocation())
    response, body = runtime.answer(api)
    assert response.status == 200 and body == b'{"x": 1}'
    assert response.getheader("Lambda-Runtime-Aws-Request-Id") == "req-1"
    assert (
        response.getheader("Lambda-Runtime-Invoked-Function-Arn") == "arn:aws:lambda:us-east-1:0:function:f"
    )
    assert response.getheader("Lambda-Runtime-Trace-Id") == "Root=1-abc"
    assert int(response.getheader("Lambda-Runtime-Deadline-Ms") or 0) > time.time() * 1000


def test_a_posted_response_finishes_the_invocation_on_the_same_kept_alive_connection(
    api: RuntimeApi, runtime: Runtime
) -> None:
    inv = invocation()
    handed_out(api, runtime, inv)
    response, body = runtime.send("POST", f"{API_PREFIX}/invocation/req-1/response", b'{"ok": true}').answer(
        api
    )
    assert response.status == 202 and response.getheader("Content-Length") == str(len(body))
    assert inv.finished and inv.payload == b'{"ok": true}' and inv.function_error is None


def test_the_202_for_an_answer_is_held_back_until_the_caller_acknowledges_it(api: RuntimeApi) -> None:
    inv = invocation()
    with socket.create_connection(tuple_address(api)) as sock:
        sock.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        pump_until(api, lambda: api.ready)
        api.hand_out(inv)
        read_response(sock)
        sock.sendall(
            f"POST {API_PREFIX}/invocation/req-1/response HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode()
        )
        pump_until(api, lambda: inv.finished)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        api.acknowledge()
        sock.settimeout(5)
        assert read_response(sock).startswith(b"HTTP/1.1 202")


def test_an_error_without_the_error_type_header_is_unhandled_with_the_bodys_error_type(
    api: RuntimeApi, runtime: Runtime
) -> None:
    inv = invocation()
    handed_out(api, runtime, inv)
    body = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}).encode()
    response, _ = runtime.send("POST", f"{API_PREFIX}/invocation/req-1/error", body).answer(api)
    assert response.status == 202
    assert inv.function_error == "Unhandled" and inv.error_type == "ValueError" and inv.payload == body


def test_an_error_body_that_is_not_lambda_json_is_wrapped_with_the_header_type(
    api: RuntimeApi, runtime: Runtime
) -> None:
    inv = invocation()
    handed_out(api, runtime, inv)
    headers = {"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"}
    response, _ = runtime.send("POST", f"{API_PREFIX}/invocation/req-1/error", b"it broke", headers).answer(
        api
    )
    assert response.status == 202
    assert json.loads(inv.payload) == {"errorMessage": "it broke", "errorType": "Runtime.Custom"}
    assert inv.function_error == "Unhandled"


def test_a_response_for_an_unknown_or_abandoned_request_id_is_rejected(
    api: RuntimeApi, runtime: Runtime
) -> None:
    inv = invocation()
    handed_out(api, runtime, inv)
    api.abandon()  # it timed out
    response, body = runtime.send("POST", f"{API_PREFIX}/invocation/req-1/response", b"{}").answer(api)
    assert response.status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
    assert not inv.finished


def test_an_init_error_is_recorded_with_its_error_type(api: RuntimeApi, runtime: Runtime) -> None:
    body = json.dumps(
        {"errorMessage": "Unable to import module 'app'", "errorType": "Runtime.ImportModuleError"}
    ).encode()
    headers = {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}
    response, _ = runtime.send("POST", f"{API_PREFIX}/init/error", body, headers).answer(api)
    assert response.status == 202
    assert api.init_error is not None and api.init_error.error_type == "Runtime.ImportModuleError"
    assert api.init_error.payload == body


def test_every_response_carries_content_length_and_the_connection_stays_open(
    api: RuntimeApi, runtime: Runtime
) -> None:
    for _ in range(2):
        response, body = runtime.send("GET", "/nowhere").answer(api)
        assert response.status == 404 and response.getheader("Content-Length") == str(len(body))
        assert not response.will_close


def test_chunked_and_expect_continue_bodies_are_read_whole(api: RuntimeApi) -> None:
    inv = invocation()
    with socket.create_connection(tuple_address(api)) as sock:
        sock.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        pump_until(api, lambda: api.ready)
        api.hand_out(inv)
        read_response(sock)
        sock.sendall(
            f"POST {API_PREFIX}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
            'Transfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'.encode()
        )
        pump_until(api, lambda: inv.finished)
        api.acknowledge()
        assert inv.payload == b'{"a": 1}' and read_response(sock).startswith(b"HTTP/1.1 202")
        inv2 = invocation("req-2")
        sock.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        pump_until(api, lambda: api.ready)
        api.hand_out(inv2)
        read_response(sock)
        sock.sendall(
            f"POST {API_PREFIX}/invocation/req-2/response HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        api.pump(0.5)  # reads the head and answers 100 Continue
        assert read_response(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        pump_until(api, lambda: inv2.finished)
    assert inv2.payload == b"{}"


def test_closing_the_api_releases_a_runtime_waiting_for_an_event(api: RuntimeApi, runtime: Runtime) -> None:
    runtime.send("GET", NEXT)
    pump_until(api, lambda: api.ready)
    api.close()
    assert isinstance(runtime.answer(api), http.client.RemoteDisconnected)


def tuple_address(api: RuntimeApi) -> tuple[str, int]:
    host, port = api.address.split(":")
    return host, int(port)


def read_response(sock: socket.socket) -> bytes:
    """One response's bytes (head + Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest
