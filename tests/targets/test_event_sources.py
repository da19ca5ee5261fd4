"""Events built for `invoke --event`: the shapes Lambda's event sources deliver, as the handler reads them,
and the local S3 endpoint the handler's boto3 client talks to for S3 events."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from sls_deploy.core.errors import SlsDeployError
from sls_deploy.targets import events
from sls_deploy.targets.local.s3 import LocalObjectStore, LocalS3Server, stored_object
from sls_inference import sources as handler_sources
from sls_inference.sources.http import http_request
from sls_inference.sources.s3 import s3_objects
from tests.support.inference_support import DIGITS_REQUEST, FakeContext, digits_dir, make_app


def test_a_function_url_event_is_a_payload_v2_post_to_root_carrying_the_request() -> None:
    body = json.dumps(DIGITS_REQUEST).encode()
    event = events.function_url_event(body, function_name="digits", region="eu-west-1")
    assert handler_sources.detect(event) is handler_sources.EventKind.HTTP_V2
    request = http_request(event, handler_sources.EventKind.HTTP_V2)
    assert (request.method, request.path, json.loads(request.body)) == ("POST", "/", DIGITS_REQUEST)
    context = event["requestContext"]
    assert context["domainName"] == f"{context['domainPrefix']}.lambda-url.eu-west-1.on.aws"
    assert event["isBase64Encoded"] is False and event["headers"]["content-type"] == "application/json"


def test_a_binary_url_body_arrives_base64_encoded_as_function_urls_send_it() -> None:
    event = events.function_url_event(
        b"\x00\x01",
        function_name="f",
        region="us-east-1",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\x01"


def test_an_sqs_batch_repeats_the_request_with_realistic_attributes() -> None:
    bodies = events.sqs_bodies(b'{"instances": [[1]]}', batch=3)
    event = events.sqs_event(
        bodies, queue_name="digits-requests", region="us-east-1", account_id="123456789012"
    )
    assert handler_sources.detect(event) is handler_sources.EventKind.SQS
    records = event["Records"]
    assert len(records) == 3 and len({r["messageId"] for r in records}) == 3
    first = records[0]
    assert first["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:digits-requests"
    assert first["md5OfBody"] == hashlib.md5(first["body"].encode()).hexdigest()
    assert first["attributes"]["ApproximateReceiveCount"] == "1"


def test_split_makes_one_sqs_record_per_element_of_a_json_array() -> None:
    assert events.sqs_bodies(b'[{"a": 1}, {"b": 2}]', split=True) == ['{"a": 1}', '{"b": 2}']
    with pytest.raises(SlsDeployError, match="JSON array"):
        events.sqs_bodies(b'{"a": 1}', split=True)
    with pytest.raises(SlsDeployError, match="outside 1-10000"):
        events.sqs_bodies(b"{}", batch=10_001)


def test_batch_and_split_belong_to_sqs_events_only() -> None:
    with pytest.raises(SlsDeployError, match="only apply to --event sqs"):
        events.build_event("url", b"{}", function_name="f", region="us-east-1", target=None, batch=2)


def test_an_s3_event_names_the_stored_object_with_its_key_url_encoded() -> None:
    stored = events.StoredObject("bucket", "in/my request.json", 12, "abc", "/tmp/x")
    event = events.s3_event(stored, region="us-east-1")
    assert handler_sources.detect(event) is handler_sources.EventKind.S3
    assert event["Records"][0]["s3"]["object"]["key"] == "in/my+request.json"
    (found,) = s3_objects(event)
    assert (found.bucket, found.key) == ("bucket", "in/my request.json")


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = LocalS3Server(LocalObjectStore(tmp_path / "s3"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
    yield server
    server.close()


def test_boto3_puts_gets_lists_and_deletes_objects_on_the_local_endpoint(endpoint, tmp_path: Path) -> None:
    LocalObjectStore(tmp_path / "s3").create_bucket("requests")
    client = boto3.client("s3")
    put = client.put_object(
        Bucket="requests", Key="a/b c.json", Body=b'{"x": 1}', ContentType="application/json"
    )
    assert put["ETag"] == '"' + hashlib.md5(b'{"x": 1}').hexdigest() + '"'
    got = client.get_object(Bucket="requests", Key="a/b c.json")
    assert got["Body"].read() == b'{"x": 1}' and got["ContentLength"] == 8
    assert got["ContentType"] == "application/json"
    assert (tmp_path / "s3" / "requests" / "a" / "b c.json").read_bytes() == b'{"x": 1}'
    listed = client.list_objects_v2(Bucket="requests", Prefix="a/")
    assert [item["Key"] for item in listed["Contents"]] == ["a/b c.json"]
    client.delete_object(Bucket="requests", Key="a/b c.json")
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket="requests", Key="a/b c.json")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as no_bucket:
        client.put_object(Bucket="elsewhere", Key="k", Body=b"")
    assert no_bucket.value.response["Error"]["Code"] == "NoSuchBucket"


def test_the_handler_reads_an_s3_request_and_writes_its_prediction_through_the_local_endpoint(
    endpoint, tmp_path: Path
) -> None:
    store = LocalObjectStore(tmp_path / "s3")
    stored = stored_object(store, "requests", "requests/digits/one.json", json.dumps(DIGITS_REQUEST).encode())
    app = make_app(digits_dir(tmp_path / "model"))
    summary = app.handle(events.s3_event(stored, region="us-east-1"), FakeContext())
    assert summary == {"written": ["predictions/requests/digits/one.json"], "errors": [], "skipped": []}
    answer = json.loads(
        (tmp_path / "s3" / "requests" / "predictions" / "requests" / "digits" / "one.json").read_text()
    )
    label = next(output for output in answer["outputs"] if output["name"] == "label")
    assert label["data"] == [7]
