"""SQS batches: each message body is one request; all records run as one batched ``session.run`` where the
model's shapes allow (``batching``), per record otherwise.

Bad records are returned in ``batchItemFailures`` (the event source mapping needs
``FunctionResponseTypes: [ReportBatchItemFailures]``), so only they are retried. Predictions are written to the
log as structured ``"sqs prediction"`` records (``message_id``, ``prediction``); larger than
LOG_PREDICTION_MAX_CHARS they are logged as truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.logging import Logger

from ..codec import RequestError, dumps
from ..dataplane import DataPlane, Tally
from . import parse_or_error

LOG_PREDICTION_MAX_CHARS = (
    32 * 1024
)  # CloudWatch Logs caps an event at 256 KB; keep SQS prediction logs small


class SqsSource:
    """SQS batches over ``plane``, with partial batch failures."""

    def __init__(self, plane: DataPlane, logger: Logger) -> None:
        self.plane = plane
        self.logger = logger

    def handle(self, event: Mapping[str, Any], tally: Tally) -> dict[str, Any]:
        messages = sqs_messages(event)
        payloads = [parse_or_error(message.body) for message in messages]
        failures = []
        for message, result in zip(messages, self.plane.predict_many(payloads, tally), strict=True):
            if isinstance(result, RequestError):
                failures.append({"itemIdentifier": message.message_id})
                self.logger.warning(
                    "sqs record failed", extra={"message_id": message.message_id, **result.to_body()}
                )
            else:
                self._log_prediction("sqs prediction", {"message_id": message.message_id}, result)
        tally.status = 200 if not failures else 207
        return {"batchItemFailures": failures}

    def _log_prediction(self, message: str, extra: dict[str, Any], response: Mapping[str, Any]) -> None:
        text = dumps(response)
        if len(text) > LOG_PREDICTION_MAX_CHARS:
            self.logger.info(
                message,
                extra={
                    **extra,
                    "prediction_truncated": True,
                    "prediction_chars": len(text),
                    "prediction_head": text[:1024],
                },
            )
        else:
            self.logger.info(message, extra={**extra, "prediction": response})


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    body: str


def sqs_messages(event: Mapping[str, Any]) -> list[SqsMessage]:
    return [
        SqsMessage(message_id=str(record.get("messageId", "")), body=record.get("body") or "")
        for record in event["Records"]
    ]
