"""The CloudWatch Logs and CloudWatch metrics/alarms calls of the aws target."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .errors import MISSING, Api, calling


class LogsApi(Api):
    service = "logs"

    def filter_log_events(
        self, group: str, start_ms: int, end_ms: int | None, pattern: str | None, max_pages: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's events from `start_ms` (to `end_ms`) matching `pattern`, over at most `max_pages`
        pages; NotFound while the group does not exist (nothing logged yet)."""
        params: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if end_ms is not None:
            params["endTime"] = end_ms
        if pattern:
            params["filterPattern"] = pattern
        events: list[dict[str, Any]] = []
        pages = 0
        with calling(f"reading log group {group}", raises=MISSING):
            while True:
                page = self._client.filter_log_events(**params)
                events.extend(page.get("events", []))
                pages += 1
                token = page.get("nextToken")
                if not token or (max_pages is not None and pages >= max_pages):
                    break
                params["nextToken"] = token
        return events


class CloudWatchApi(Api):
    service = "cloudwatch"

    def metric_alarms(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """The metric alarms among `names` that exist."""
        found: list[dict[str, Any]] = []
        with calling("reading the alarms (cloudwatch:DescribeAlarms)"):
            pages = self._client.get_paginator("describe_alarms").paginate(
                AlarmNames=list(names), AlarmTypes=["MetricAlarm"]
            )
            for page in pages:
                found.extend(page.get("MetricAlarms", []))
        return found

    def metric_data(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float]]:
        """The values of each query (MetricDataQueries) between `start` and `end`, by query id, oldest first."""
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        values: dict[str, list[float]] = {}
        with calling("reading the function's metrics (cloudwatch:GetMetricData)"):
            while True:
                page = self._client.get_metric_data(**params)
                for result in page.get("MetricDataResults", []):
                    values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
                token = page.get("NextToken")
                if not token:
                    break
                params["NextToken"] = token
        return values
