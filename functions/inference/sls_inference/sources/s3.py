"""S3 object-created events: each object holds one JSON request.

The objects of an event are read (boto3 is imported only here), run together as a batch (as SQS records
are), and each response is written to ``<output prefix><key without extension>.json`` in the same bucket; a
bad request writes the error body to ``...<key without extension>.error.json``. Objects under the output
prefix are skipped (no loops). The answer summarises the keys ``written``, ``errors`` and ``skipped``.
Side effects: S3 reads and writes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.logging import Logger

from ..codec import INTERNAL_ERROR_MESSAGE, MAX_BODY_BYTES, RequestError, dumps
from ..dataplane import DataPlane, Tally
from . import parse_or_error

DEFAULT_S3_OUTPUT_PREFIX = "predictions/"


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str  # URL-decoded (S3 event keys arrive URL-encoded, spaces as '+')


class S3Source:
    """S3 object-created events over ``plane``; results go under ``output_prefix``."""

    def __init__(
        self, plane: DataPlane, logger: Logger, output_prefix: str = DEFAULT_S3_OUTPUT_PREFIX
    ) -> None:
        self.plane = plane
        self.logger = logger
        self.output_prefix = output_prefix
        self._s3: Any = None

    def handle(self, event: Mapping[str, Any], tally: Tally) -> dict[str, list[str]]:
        summary: dict[str, list[str]] = {"written": [], "errors": [], "skipped": []}
        todo: list[tuple[S3Object, Any]] = []
        for obj in s3_objects(event):
            if obj.key.startswith(self.output_prefix):
                summary["skipped"].append(obj.key)
                self.logger.info(
                    "s3 object skipped: it is under the output prefix",
                    extra={"bucket": obj.bucket, "key": obj.key, "prefix": self.output_prefix},
                )
                continue
            todo.append((obj, self._read_request(obj)))
        results = self.plane.predict_many([payload for _, payload in todo], tally)
        for (obj, _), result in zip(todo, results, strict=True):
            self._write_result(obj, result, summary)
        tally.status = 200 if not summary["errors"] else 207
        return summary

    def _write_result(self, obj: S3Object, result: Any, summary: dict[str, list[str]]) -> None:
        """Write one object's response (or error body) next to the prefix; record its key in ``summary``."""
        failed = isinstance(result, RequestError)
        key = s3_output_key(obj.key, self.output_prefix, error=failed)
        body = result.to_body() if isinstance(result, RequestError) else result
        try:
            self._client().put_object(
                Bucket=obj.bucket,
                Key=key,
                Body=dumps(body).encode("utf-8"),
                ContentType="application/json",
            )
        except Exception:
            self.logger.exception("could not write the s3 result", extra={"bucket": obj.bucket, "key": key})
            summary["errors"].append(key)
            return
        summary["errors" if failed else "written"].append(key)
        log = self.logger.warning if failed else self.logger.info
        log(
            "s3 result written",
            extra={"bucket": obj.bucket, "source_key": obj.key, "key": key, **(body if failed else {})},
        )

    def _read_request(self, obj: S3Object) -> Any:
        """The parsed JSON request in ``obj``, or the RequestError to record for it (never raises)."""
        try:
            response = self._client().get_object(Bucket=obj.bucket, Key=obj.key)
            size = int(response.get("ContentLength") or 0)
            if size > MAX_BODY_BYTES:
                response["Body"].close()
                return RequestError(
                    f"s3://{obj.bucket}/{obj.key} is {size} bytes; the limit is "
                    f"{MAX_BODY_BYTES} bytes (6 MB)",
                    status=413,
                    field="body",
                    expected=f"at most {MAX_BODY_BYTES} bytes",
                )
            return parse_or_error(response["Body"].read())
        except Exception:
            self.logger.exception(
                "could not read the s3 object", extra={"bucket": obj.bucket, "key": obj.key}
            )
            return RequestError(INTERNAL_ERROR_MESSAGE, status=500)

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3  # only the S3 path pays boto3's import (~150 ms)

            self._s3 = boto3.client("s3")
        return self._s3


def s3_objects(event: Mapping[str, Any]) -> list[S3Object]:
    objects = []
    for record in event["Records"]:
        s3 = record.get("s3") or {}
        objects.append(
            S3Object(
                bucket=str((s3.get("bucket") or {}).get("name", "")),
                key=unquote_plus(str((s3.get("object") or {}).get("key", ""))),
            )
        )
    return objects


def s3_output_key(key: str, prefix: str, error: bool = False) -> str:
    """``<prefix><key without extension>.json`` (``.error.json`` for a request that failed)."""
    stem, _ = posixpath.splitext(key)
    return f"{prefix}{stem}{'.error' if error else ''}.json"
