"""The local Runtime API server speaks the protocol awslambdaric expects (plain http.client as the runtime)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from sls_deploy.targets.local.runtime_api import API_PREFIX, Invocation, RuntimeApiServer

NEXT = f"{API_PREFIX}/invocation/next"


_OPEN: list[http.client.HTTPConnection] = []


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def server() -> Iterator[RuntimeApiServer]:
    srv = RuntimeApiServer()
    yield srv
    srv.close()


def connect(server: RuntimeApiServer) -> http.client.HTTPConnection:
    host, port = server.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    _OPEN.append(conn)
    return conn


def invocation(request_id: str = "req-1", event: bytes = b'{"x": 1}') -> Invocation:
    return Invocation(
        request_id=request_id,
        event=event,
        function_arn="arn:aws:lambda:us-east-1:0:function:f",
        trace_id="Root=1-abc",
        timeout_s=3,
    )


def fetch_next(
    server: RuntimeApiServer,
) -> tuple[http.client.HTTPResponse, bytes, http.client.HTTPConnection]:
    conn = connect(server)
    conn.request("GET", NEXT)
    response = conn.getresponse()
    return response, response.read(), conn


def test_next_blocks_until_an_event_is_queued_then_hands_it_out_with_lambdas_headers(
    server: RuntimeApiServer,
) -> None:
    got: list[tuple[http.client.HTTPResponse, bytes]] = []
    thread = threading.Thread(target=lambda: got.append(fetch_next(server)[:2]))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and not got
    server.state.submit(invocation())
    thread.join(5)
    response, body = got[0]
    assert response.status == 200 and body == b'{"x": 1}'
    assert response.getheader("Lambda-Runtime-Aws-Request-Id") == "req-1"
    assert (
        response.getheader("Lambda-Runtime-Invoked-Function-Arn") == "arn:aws:lambda:us-east-1:0:function:f"
    )
    assert response.getheader("Lambda-Runtime-Trace-Id") == "Root=1-abc"
    assert int(response.getheader("Lambda-Runtime-Deadline-Ms") or 0) > 0
    assert server.state.init_done_at is not None


def test_a_posted_response_finishes_the_invocation_on_the_same_kept_alive_connection(
    server: RuntimeApiServer,
) -> None:
    inv = invocation()
    server.state.submit(inv)
    _, _, conn = fetch_next(server)
    conn.request("POST", f"{API_PREFIX}/invocation/req-1/response", body=b'{"ok": true}')
    response = conn.getresponse()
    assert response.status == 202 and response.getheader("Content-Length") == str(len(response.read()))
    assert inv.finished and inv.payload == b'{"ok": true}' and inv.function_error is None


def test_an_error_without_the_error_type_header_is_unhandled_with_the_bodys_error_type(
    server: RuntimeApiServer,
) -> None:
    inv = invocation()
    server.state.submit(inv)
    _, _, conn = fetch_next(server)
    body = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}).encode()
    conn.request("POST", f"{API_PREFIX}/invocation/req-1/error", body=body)
    assert conn.getresponse().status == 202
    assert inv.function_error == "Unhandled" and inv.error_type == "ValueError" and inv.payload == body


def test_an_error_body_that_is_not_lambda_json_is_wrapped_with_the_header_type(
    server: RuntimeApiServer,
) -> None:
    inv = invocation()
    server.state.submit(inv)
    _, _, conn = fetch_next(server)
    conn.request(
        "POST",
        f"{API_PREFIX}/invocation/req-1/error",
        body=b"it broke",
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Custom"},
    )
    assert conn.getresponse().status == 202
    assert json.loads(inv.payload) == {"errorMessage": "it broke", "errorType": "Runtime.Custom"}
    assert inv.function_error == "Unhandled"


def test_a_response_for_an_unknown_request_id_is_rejected(server: RuntimeApiServer) -> None:
    conn = connect(server)
    conn.request("POST", f"{API_PREFIX}/invocation/nobody/response", body=b"{}")
    response = conn.getresponse()
    assert response.status == 400
    assert json.loads(response.read())["errorType"] == "InvalidRequestID"


def test_an_init_error_is_recorded_with_its_error_type(server: RuntimeApiServer) -> None:
    conn = connect(server)
    body = json.dumps(
        {
            "errorMessage": "Unable to import module 'app'",
            "errorType": "Runtime.ImportModuleError",
            "stackTrace": [],
        }
    ).encode()
    conn.request(
        "POST",
        f"{API_PREFIX}/init/error",
        body=body,
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
    )
    assert conn.getresponse().status == 202
    assert server.state.init_error is not None
    assert server.state.init_error.error_type == "Runtime.ImportModuleError"
    assert server.state.init_error.payload == body


def test_every_response_carries_content_length_and_the_connection_stays_open(
    server: RuntimeApiServer,
) -> None:
    conn = connect(server)
    for _ in range(2):
        conn.request("GET", "/nowhere")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 404 and response.getheader("Content-Length") == str(len(body))
        assert not response.will_close


def test_closing_the_server_releases_a_runtime_waiting_for_an_event() -> None:
    srv = RuntimeApiServer()
    got: list[int] = []
    thread = threading.Thread(target=lambda: got.append(fetch_next(srv)[0].status))
    thread.start()
    thread.join(0.1)
    srv.close()
    thread.join(5)
    assert not thread.is_alive() and got == [410]
