"""The gateway's pure parts: HTTP/1.1 request parsing, Lambda's FunctionName forms, function URL events and
responses."""

from __future__ import annotations

import base64
import json

import pytest

from sls_deploy.core.records import InvokeResult, Report
from sls_deploy.targets.local import function_url, http11, invoke_api


def parse(data: bytes, max_body: int = 1000) -> list[http11.Request]:
    parser = http11.RequestParser(max_body)
    requests = []
    for byte in range(len(data)):  # byte by byte: every split point of the stream
        parser.feed(data[byte : byte + 1])
        while (request := parser.pop()) is not None:
            requests.append(request)
    return requests


def test_pipelined_requests_with_length_and_chunked_bodies_parse_from_any_split() -> None:
    stream = (
        b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Twice: 1\r\nx-twice: 2\r\n\r\nabc"
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1;ext\r\n!\r\n0\r\nT: v\r\n\r\n"
        b"GET /c HTTP/1.0\r\n\r\n"
    )
    first, second, third = parse(stream)
    assert (first.method, first.path, first.query, first.body) == ("POST", "/a", "x=1", b"abc")
    assert first.headers["x-twice"] == "1, 2" and first.keep_alive
    assert second.body == b"hi!" and second.raw_path == "/b"
    assert third.method == "GET" and not third.keep_alive


def test_a_body_over_the_limit_is_refused_before_it_is_read_and_bad_heads_are_400() -> None:
    parser = http11.RequestParser(10)
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(http11.HttpError) as too_large:
        parser.pop()
    bad = http11.RequestParser(10)
    bad.feed(b"NONSENSE\r\n\r\n")
    with pytest.raises(http11.HttpError) as malformed:
        bad.pop()
    assert too_large.value.status == 413 and malformed.value.status == 400


def test_expect_continue_is_signalled_until_the_body_arrives() -> None:
    parser = http11.RequestParser(100)
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert parser.pop() is None and parser.wants_continue
    parser.continue_sent()
    parser.feed(b"{}")
    request = parser.pop()
    assert request is not None and request.body == b"{}" and not parser.wants_continue


def test_a_response_is_one_buffer_with_content_length() -> None:
    data = http11.response(202, b"{}", headers={"X-A": "1"})
    assert (
        data
        == b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n{}"
    )


def known(name: str) -> str | None:
    return {"digits": "digits", "proj-digits": "digits"}.get(name)


@pytest.mark.parametrize(
    ("function", "query", "expected"),
    [
        ("digits", "", ("digits", "$LATEST", False)),
        ("digits:live", "", ("digits", "live", True)),
        ("digits", "Qualifier=3", ("digits", "3", True)),
        ("arn:aws:lambda:eu-west-1:123456789012:function:digits:live", "", ("digits", "live", True)),
        ("123456789012:function:digits", "", ("digits", "$LATEST", False)),
        ("proj-digits", "Qualifier=live", ("digits", "live", True)),
    ],
)
def test_function_names_arns_and_qualifiers_resolve_like_lambdas(
    function: str, query: str, expected: tuple[str, str, bool]
) -> None:
    target = invoke_api.parse_target(function, query, known, "us-east-1")
    assert (target.name, target.qualifier, target.explicit) == expected


@pytest.mark.parametrize(
    ("function", "query", "status", "code"),
    [
        ("iris", "", 404, "ResourceNotFoundException"),
        ("digits:live", "Qualifier=1", 400, "InvalidParameterValueException"),
        ("no/such thing", "", 400, "ValidationException"),
    ],
)
def test_bad_function_names_get_lambdas_error_codes(
    function: str, query: str, status: int, code: str
) -> None:
    with pytest.raises(invoke_api.ApiError) as info:
        invoke_api.parse_target(function, query, known, "us-east-1")
    assert (info.value.status, info.value.code) == (status, code)
    head, _, body = info.value.to_response("rid").partition(b"\r\n\r\n")
    assert f"x-amzn-ErrorType: {code}".encode() in head and json.loads(body)["Type"] == "User"


def test_payloads_are_checked_against_the_sync_and_async_limits_and_must_be_json() -> None:
    assert invoke_api.check_payload(b"", "RequestResponse") == b"{}"
    with pytest.raises(invoke_api.ApiError, match="smaller than 1048576"):
        invoke_api.check_payload(b"1" * (1024 * 1024 + 1), "Event")
    with pytest.raises(invoke_api.ApiError) as info:
        invoke_api.check_payload(b"{oops", "RequestResponse")
    assert info.value.code == "InvalidRequestContentException"


def test_a_function_url_event_carries_the_request_as_payload_2() -> None:
    request = http11.Request(
        method="PUT",
        target="/url/f/p/q?k=1&k=2&e=",
        version="HTTP/1.1",
        headers={
            "host": "localhost:3001",
            "cookie": "a=1; b=2",
            "content-type": "text/plain",
            "user-agent": "t",
        },
        body="héllo".encode(),
    )
    event = function_url.url_event(request, "/p/q", "127.0.0.1", "f", "rid", now=0.0)
    assert event["rawPath"] == "/p/q" and event["rawQueryString"] == "k=1&k=2&e="
    assert event["queryStringParameters"] == {"k": "1,2", "e": ""}
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    assert event["body"] == "héllo" and event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http == {
        "method": "PUT",
        "path": "/p/q",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "t",
    }
    assert event["requestContext"]["time"] == "01/Jan/1970:00:00:00 +0000"


def result(payload: object, function_error: str | None = None) -> InvokeResult:
    return InvokeResult(
        name="f",
        version="1",
        status_code=200,
        payload=json.dumps(payload).encode(),
        function_error=function_error,
        report=Report("rid", 1.0, 1, 128, 10),
    )


def test_a_function_url_response_is_read_as_lambda_reads_it() -> None:
    structured = function_url.url_response(
        result(
            {
                "statusCode": 404,
                "cookies": ["c=1"],
                "isBase64Encoded": True,
                "body": base64.b64encode(b"\x00").decode(),
            }
        )
    )
    plain = function_url.url_response(result({"any": "object"}))
    failed = function_url.url_response(result({"errorType": "ValueError", "errorMessage": "x"}, "Unhandled"))
    assert structured == (404, [("Content-Type", "application/json"), ("Set-Cookie", "c=1")], b"\x00")
    assert plain == (200, [("Content-Type", "application/json")], b'{"any": "object"}')
    assert failed[0] == 502 and "ValueError: x" in json.loads(failed[2])["error"]["message"]


def test_a_client_context_is_passed_on_as_json_and_must_be_base64_json() -> None:
    encoded = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    assert invoke_api.client_context({"x-amz-client-context": encoded}) == '{"custom": {"k": "v"}}'
    assert invoke_api.client_context({}) is None
    with pytest.raises(invoke_api.ApiError, match="Base64-encoded JSON"):
        invoke_api.client_context({"x-amz-client-context": "not base64!"})
