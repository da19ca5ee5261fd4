"""Events as Lambda's event sources deliver them, wrapped around a request: for `invoke --event` on any target.

- ``url``: a Function URL request (payload format 2.0): POST to ``/`` with the request as the body.
- ``sqs``: an SQS event source batch: ``batch`` records that each carry the request as the message body, or
  with ``split`` one record per element of a JSON array request (each element one message's body).
- ``s3``: an ObjectCreated:Put notification for an object holding the request, stored first by the target
  (``ObjectStore.put_object``: the local target keeps it in its state folder and serves it to the function
  through its local S3 endpoint).
- ``direct``: the request itself, as `aws lambda invoke` sends it.

Field names, formats and attribute sets follow the events Lambda documents for each source (ids, ARNs,
timestamps, md5OfBody, URL-encoded S3 keys). Pure functions apart from the object store they are given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote_plus

from ..core import limits
from ..core.errors import SlsDeployError
from ..core.jsonable import Jsonable

EVENT_KINDS = ("direct", "url", "sqs", "s3")
LOCAL_ACCOUNT_ID = "000000000000"  # the account in ARNs where none is known (the local target's)


@dataclass(frozen=True)
class StoredObject(Jsonable):
    """An object a target stored for an S3 event."""

    bucket: str
    key: str
    size: int
    etag: str  # hex MD5 of the content, without quotes (as S3 events carry it)
    location: str  # where a person finds it: a local path or s3://bucket/key


@runtime_checkable
class ObjectStore(Protocol):
    """A target that can store an object where its functions' S3 client reads it."""

    def put_object(self, name: str, key: str, data: bytes) -> StoredObject:
        """Store `data` under `key` in the bucket the function `name` takes S3 events from."""
        ...


def _iso_ms(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def url_id(function_name: str) -> str:
    """A stable 32-character Function URL id for a function (the host's first label)."""
    return hashlib.sha256(function_name.encode()).hexdigest()[:32]


def function_url_event(
    body: bytes,
    *,
    function_name: str,
    region: str,
    method: str = "POST",
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    now: float | None = None,
) -> dict[str, Any]:
    """A Function URL invocation event (payload format 2.0) for one HTTP request to the function's URL
    (host <url id>.lambda-url.<region>.on.aws); the event itself is the one the local gateway builds."""
    from .local import http11
    from .local.function_url import url_event

    at = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    lowered.setdefault("content-type", "application/json")
    lowered.setdefault("user-agent", "sls-deploy")
    lowered.setdefault("host", f"{url_id(function_name)}.lambda-url.{region}.on.aws")
    lowered.setdefault("x-forwarded-for", source_ip)
    lowered.setdefault("x-forwarded-port", "443")
    lowered.setdefault("x-forwarded-proto", "https")
    lowered.setdefault("x-amzn-trace-id", f"Root=1-{int(at):08x}-{secrets.token_hex(12)}")
    target = f"{path}?{query}" if query else path
    request = http11.Request(method.upper(), target, "HTTP/1.1", lowered, body)
    return url_event(request, path, source_ip, function_name, str(uuid.uuid4()), now=at)


def sqs_bodies(payload: bytes, batch: int = 1, split: bool = False) -> list[str]:
    """The message bodies of an SQS batch: the request `batch` times, or each element of a JSON array."""
    text = payload.decode("utf-8")
    if split:
        if batch != 1:
            raise SlsDeployError(
                "--split and --batch do not go together", "--split makes one record per element"
            )
        items = json.loads(text)
        if not isinstance(items, list) or not items:
            raise SlsDeployError(
                "--split needs the request to be a non-empty JSON array (one element per SQS message)",
                'pass e.g. --data \'[{"instances": [[...]]}, {"instances": [[...]]}]\'',
            )
        bodies = [json.dumps(item) for item in items]
    else:
        bodies = [text] * batch
    if not 1 <= len(bodies) <= limits.MAX_SQS_BATCH_SIZE:
        raise SlsDeployError(
            f"an SQS batch of {len(bodies)} records is outside 1-{limits.MAX_SQS_BATCH_SIZE}",
            "choose --batch between 1 and 10000 (an event source mapping's BatchSize on a standard queue)",
        )
    largest = max(len(body.encode("utf-8")) for body in bodies)
    if largest > limits.MAX_SQS_MESSAGE_BYTES:
        raise SlsDeployError(
            f"an SQS message body of {largest} bytes is over SQS's {limits.MAX_SQS_MESSAGE_BYTES} bytes",
            "send large requests through S3 (--event s3)",
        )
    return bodies


def sqs_event(
    bodies: Sequence[str],
    *,
    queue_name: str,
    region: str,
    account_id: str,
    now: float | None = None,
) -> dict[str, Any]:
    """An SQS event source mapping's batch: one record per message body."""
    at_ms = int((time.time() if now is None else now) * 1000)
    arn = f"arn:aws:sqs:{region}:{account_id}:{queue_name}"
    records = []
    for body in bodies:
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + base64.b64encode(secrets.token_bytes(96)).decode("ascii"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(at_ms),
                    "SenderId": "AIDA" + secrets.token_hex(8).upper(),
                    "ApproximateFirstReceiveTimestamp": str(at_ms + 2),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode("utf-8")).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def s3_event(stored: StoredObject, *, region: str, now: float | None = None) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification for one stored object (its key URL-encoded, as S3 sends it)."""
    at = time.time() if now is None else now
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _iso_ms(at),
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDA" + secrets.token_hex(8).upper()},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": secrets.token_hex(8).upper(),
                    "x-amz-id-2": base64.b64encode(secrets.token_bytes(48)).decode("ascii"),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "sls-deploy-requests",
                    "bucket": {
                        "name": stored.bucket,
                        "ownerIdentity": {"principalId": secrets.token_hex(7).upper()},
                        "arn": f"arn:aws:s3:::{stored.bucket}",
                    },
                    "object": {
                        "key": quote_plus(stored.key, safe="/"),
                        "size": stored.size,
                        "eTag": stored.etag,
                        "sequencer": f"{int(at * 1e6):016X}",
                    },
                },
            }
        ]
    }


def request_key(function_name: str, now: float | None = None) -> str:
    """Where an `invoke --event s3` request object goes: requests/<name>/<UTC time>-<random>.json."""
    at = time.time() if now is None else now
    return f"requests/{function_name}/{datetime.fromtimestamp(at, UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.json"


def build_event(
    kind: str,
    payload: bytes,
    *,
    function_name: str,
    region: str,
    target: object,
    batch: int = 1,
    split: bool = False,
    account_id: str = LOCAL_ACCOUNT_ID,
) -> tuple[bytes, StoredObject | None]:
    """The invocation payload for `kind` wrapped around the request `payload`, and the object stored for
    an S3 event. `target` stores that object; it must be an ObjectStore for kind "s3"."""
    if kind not in EVENT_KINDS:
        raise SlsDeployError(f"unknown event kind {kind!r}", f"use one of: {', '.join(EVENT_KINDS)}")
    if kind != "sqs" and (batch != 1 or split):
        raise SlsDeployError("--batch and --split only apply to --event sqs", "drop them or use --event sqs")
    stored = None
    if kind == "direct":
        return payload, None
    if kind == "url":
        event = function_url_event(payload, function_name=function_name, region=region)
    elif kind == "sqs":
        bodies = sqs_bodies(payload, batch, split)
        event = sqs_event(
            bodies, queue_name=f"{function_name}-requests", region=region, account_id=account_id
        )
    else:
        if not isinstance(target, ObjectStore):
            raise SlsDeployError(
                "this target cannot store objects for an S3 event", "use --event s3 on the local target"
            )
        stored = target.put_object(function_name, request_key(function_name), payload)
        event = s3_event(stored, region=region)
    return json.dumps(event).encode("utf-8"), stored


def answer_failed(kind: str, answer: Any) -> bool:
    """Whether the function's answer to a wrapped event reports a failure its source would see: an HTTP
    status of 400 or more (url), records in batchItemFailures (sqs), objects it could not answer (s3). A
    direct invoke's error body is InvokeResult.error_status."""
    if not isinstance(answer, dict):
        return False
    if kind == "url":
        status = answer.get("statusCode")
        return isinstance(status, int) and status >= 400
    if kind == "sqs":
        return bool(answer.get("batchItemFailures"))
    return kind == "s3" and bool(answer.get("errors"))
