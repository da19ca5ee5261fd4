"""The event sources the inference function answers, detected from the event's shape; one module each, all
over the one data plane (``dataplane.DataPlane``):

- ``direct``: a plain invoke whose event IS the request object (OIP or TF-Serving JSON).
- ``http``: Function URL / API Gateway HTTP API payload 2.0 (``HTTP_V2``: ``version == "2.0"`` and
  ``requestContext.http``) and API Gateway REST API payload 1.0 (``HTTP_V1``, ALB events have the same shape:
  ``httpMethod`` + ``requestContext``), with the Open Inference Protocol's routes.
- ``sqs``: ``Records`` from ``aws:sqs``; each message body is one request.
- ``s3``: ``Records`` from ``aws:s3`` (object created); each object holds one JSON request.

A source answers one event with ``handle(event, tally)``, counting what it ran in the invocation's Tally.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.logging import Logger

from ..codec import RequestError, parse_json
from ..dataplane import Tally


class EventKind(StrEnum):
    DIRECT = "direct"
    HTTP_V2 = "http_v2"
    HTTP_V1 = "http_v1"
    SQS = "sqs"
    S3 = "s3"


def detect(event: Any) -> EventKind:
    """Which shape ``event`` has; anything unrecognised is a direct invocation (the event is the request)."""
    if not isinstance(event, dict):
        return EventKind.DIRECT
    context = event.get("requestContext")
    if isinstance(context, dict):
        if event.get("version") == "2.0" and isinstance(context.get("http"), dict):
            return EventKind.HTTP_V2
        if "httpMethod" in event:
            return EventKind.HTTP_V1
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        source = records[0].get("eventSource")
        if source == "aws:sqs":
            return EventKind.SQS
        if source == "aws:s3":
            return EventKind.S3
    return EventKind.DIRECT


class Source(Protocol):
    """One event source: answers one event of its shape."""

    def handle(self, event: Any, tally: Tally) -> Any: ...


def parse_or_error(body: bytes | str) -> Any:
    """The parsed JSON request in ``body``, or the RequestError to answer it with (never raises)."""
    try:
        return parse_json(body)
    except RequestError as err:
        return err


def log_rejection(logger: Logger, err: RequestError) -> None:
    """The log line of a request answered with an error body."""
    logger.info("request rejected", extra=err.to_body())
