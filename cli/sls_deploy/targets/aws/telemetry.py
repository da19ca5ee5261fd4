"""Logs and metrics of the aws target: CloudWatch Logs (the function's own log group) and CloudWatch metrics.

Logs: FilterLogEvents on the log group the template names; `follow` polls and drops events already seen (by
eventId). Each line's request id comes from START/END/REPORT ("RequestId: ..."), the Python runtime's
tab-separated prefix (time, request id, level) or powertools' JSON (`function_request_id`).

Metrics: one GetMetricData call for Lambda's own metrics (AWS/Lambda, dimension FunctionName: Duration
percentiles, Invocations, Errors, Throttles, ConcurrentExecutions) and the handler's EMF metrics (namespace
and `service` from the function's environment, dimensions function_name + service, as powertools emits them:
InferenceLatency percentiles, ColdStart). Lambda publishes no init-duration metric, so those come from the
REPORT lines' "Init Duration" in the log group.

Side effects: read-only API calls.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...core.records import AlarmState, LogEvent, MetricsResult, Report, Stats
from ...core.stats import summarize
from .client import CloudWatchApi, LogsApi, NotFound
from .functions import FunctionRef
from .session import AwsContext

_REQUEST_ID_RE = re.compile(r"RequestId: ([0-9A-Za-z-]+)")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STREAM_VERSION_RE = re.compile(r"\[([^\]]+)\]")
INIT_LOG_PAGES = 20  # at most this many pages of REPORT lines are read for init durations
SEEN_IDS = 10_000  # event ids remembered while following
FOLLOW_LOOKBACK_MS = 15_000  # events reach CloudWatch Logs late: each poll looks back this far, deduplicated


def request_id(message: str) -> str | None:
    """The request id a log line belongs to, where the line says."""
    match = _REQUEST_ID_RE.search(message)
    if match:
        return match.group(1)
    for field in message.split("\t")[:4]:  # "[LEVEL]\t<time>\t<request id>\t..." or "<time>\t<id>\t..."
        if _UUID_RE.match(field.strip()):
            return field.strip()
    if message.lstrip().startswith("{"):
        try:
            data = json.loads(message)
        except ValueError:
            return None
        if isinstance(data, dict):
            value = data.get("function_request_id") or data.get("requestId")
            return value if isinstance(value, str) else None
    return None


def stream_version(stream: str) -> str | None:
    """Lambda names streams "2024/05/01/[3]abc…": the version (or $LATEST) in the brackets."""
    match = _STREAM_VERSION_RE.search(stream)
    return match.group(1) if match else None


def log_event(data: dict[str, Any]) -> LogEvent:
    message = str(data.get("message", "")).rstrip("\n")
    stream = str(data.get("logStreamName", ""))
    return LogEvent(
        timestamp=int(data["timestamp"]) / 1000.0,
        message=message,
        request_id=request_id(message),
        version=stream_version(stream),
        stream=stream,
    )


def filter_pattern(text: str | None) -> str | None:
    """A CloudWatch Logs filter pattern matching lines that contain `text` literally."""
    if not text:
        return None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Query:
    id: str
    namespace: str
    metric: str
    stat: str
    dimensions: tuple[tuple[str, str], ...]


def metric_queries(ref: FunctionRef) -> list[_Query]:
    """The GetMetricData queries of `metrics`: Lambda's own metrics and the handler's EMF ones, with the
    percentiles of Duration and InferenceLatency."""
    lambda_dims = (("FunctionName", ref.function_name),)
    emf_dims = (("function_name", ref.function_name), ("service", ref.service))
    queries = [
        _Query("invocations", "AWS/Lambda", "Invocations", "Sum", lambda_dims),
        _Query("errors", "AWS/Lambda", "Errors", "Sum", lambda_dims),
        _Query("throttles", "AWS/Lambda", "Throttles", "Sum", lambda_dims),
        _Query("concurrency", "AWS/Lambda", "ConcurrentExecutions", "Maximum", lambda_dims),
        _Query("cold_starts", ref.namespace, "ColdStart", "Sum", emf_dims),
        _Query("input_drift_n", ref.namespace, "InputDriftPSI", "SampleCount", emf_dims),
        _Query("input_drift", ref.namespace, "InputDriftPSI", "Average", emf_dims),
        _Query("input_drift_max", ref.namespace, "InputDriftPSI", "Maximum", emf_dims),
        _Query("prediction_drift_n", ref.namespace, "PredictionDriftPSI", "SampleCount", emf_dims),
        _Query("prediction_drift", ref.namespace, "PredictionDriftPSI", "Average", emf_dims),
    ]
    for prefix, namespace, metric, dims in (
        ("duration", "AWS/Lambda", "Duration", lambda_dims),
        ("latency", ref.namespace, "InferenceLatency", emf_dims),
    ):
        for stat in ("SampleCount", "p50", "p90", "p99", "Average", "Maximum"):
            queries.append(_Query(f"{prefix}_{stat.lower()}", namespace, metric, stat, dims))
    return queries


class _Series:
    """GetMetricData's values by query id (one per period), combined into what MetricsResult reports."""

    def __init__(self, values: dict[str, list[float]]) -> None:
        self._values = values

    def _points(self, key: str) -> list[float]:
        return self._values.get(key, [])

    def total(self, key: str) -> int:
        return int(sum(self._points(key)))

    def maximum(self, key: str) -> float | None:
        points = self._points(key)
        return max(points) if points else None

    def stats(self, prefix: str) -> Stats:
        """The statistics of the queries `<prefix>_samplecount`, `_p50`, `_p90`, `_p99`, `_average`,
        `_maximum`."""
        counts = self._points(f"{prefix}_samplecount")
        if not counts or sum(counts) == 0:
            return Stats()
        return Stats(
            count=int(sum(counts)),
            p50=self._weighted(f"{prefix}_p50", counts),
            p90=self._weighted(f"{prefix}_p90", counts),
            p99=self._weighted(f"{prefix}_p99", counts),
            average=self._weighted(f"{prefix}_average", counts),
            maximum=self.maximum(f"{prefix}_maximum"),
        )

    def _weighted(self, key: str, counts: list[float]) -> float | None:
        """One period normally; over more, the periods weighed by their samples."""
        points = self._points(key)
        if not points:
            return None
        if len(points) != len(counts):
            return points[0]
        return sum(p * c for p, c in zip(points, counts, strict=True)) / sum(counts)

    def average(self, key: str) -> float | None:
        """The per-period averages of `key`, weighted by their sample counts (`<key>_n`)."""
        points, counts = self._points(key), self._points(f"{key}_n")
        if not points:
            return None
        if len(points) != len(counts) or not sum(counts):
            return sum(points) / len(points)
        return sum(p * c for p, c in zip(points, counts, strict=True)) / sum(counts)


class Telemetry:
    def __init__(
        self, aws: AwsContext, poll_seconds: float = 2.0, sleep: Callable[[float], None] = time.sleep
    ):
        self.aws = aws
        self._poll = poll_seconds
        self._sleep = sleep
        self._logs = LogsApi(aws)
        self._cloudwatch = CloudWatchApi(aws)

    # -- logs -----------------------------------------------------------------------------------------------
    def _filter(
        self, group: str, start_ms: int, end_ms: int | None, pattern: str | None, max_pages: int | None = None
    ) -> list[dict[str, Any]]:
        try:
            events = self._logs.filter_log_events(group, start_ms, end_ms, pattern, max_pages)
        except NotFound:  # nothing logged yet
            return []
        return sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", "")))

    def logs(
        self, ref: FunctionRef, since: float, filter_text: str | None = None, follow: bool = False
    ) -> Iterator[LogEvent]:
        pattern = filter_pattern(filter_text)
        first_ms = start_ms = int(since * 1000)
        seen: deque[str] = deque(maxlen=SEEN_IDS)
        seen_set: set[str] = set()
        latest_ms = start_ms
        while True:
            for data in self._filter(ref.log_group, start_ms, None, pattern):
                event_id = str(data.get("eventId", ""))
                if event_id in seen_set:
                    continue
                if len(seen) == seen.maxlen:
                    seen_set.discard(seen[0])
                seen.append(event_id)
                seen_set.add(event_id)
                latest_ms = max(latest_ms, int(data["timestamp"]))
                yield log_event(data)
            if not follow:
                return
            start_ms = max(first_ms, latest_ms - FOLLOW_LOOKBACK_MS)
            self._sleep(self._poll)

    # -- metrics --------------------------------------------------------------------------------------------
    def metrics(self, ref: FunctionRef, since: float, until: float | None = None) -> MetricsResult:
        end = until if until is not None else time.time()
        start = math.floor(since / 60) * 60
        period = max(60, math.ceil((end - start) / 60) * 60)
        series = _Series(self._metric_data(metric_queries(ref), start, end, period))
        concurrency = series.maximum("concurrency")
        return MetricsResult(
            target="aws",
            name=ref.name,
            start=float(since),
            end=float(end),
            invocations=series.total("invocations"),
            errors=series.total("errors"),
            throttles=series.total("throttles"),
            cold_starts=series.total("cold_starts"),
            max_concurrency=int(concurrency) if concurrency is not None else None,
            duration_ms=series.stats("duration"),
            init_duration_ms=self._init_durations(ref, since, end),
            inference_latency_ms=series.stats("latency"),
            input_drift_psi=series.average("input_drift"),
            input_drift_psi_max=series.maximum("input_drift_max"),
            prediction_drift_psi=series.average("prediction_drift"),
        )

    # -- alarms ---------------------------------------------------------------------------------------------
    def alarms(self, ref: FunctionRef, names: dict[str, str]) -> list[AlarmState]:
        """The states of the alarms `names` (alarm name → rule key) of `ref`; an alarm the stack does not hold
        (deployed before alarms existed) is reported as INSUFFICIENT_DATA with a hint."""
        found = {alarm["AlarmName"]: alarm for alarm in self._cloudwatch.metric_alarms(names)}
        states = []
        for alarm_name, rule in names.items():
            alarm = found.get(alarm_name)
            if alarm is None:
                states.append(
                    AlarmState(
                        name=alarm_name,
                        model=ref.name,
                        rule=rule,
                        state="INSUFFICIENT_DATA",
                        reason="the stack holds no such alarm: push the model again to create it",
                        threshold=0.0,
                    )
                )
                continue
            updated = alarm.get("StateUpdatedTimestamp")
            states.append(
                AlarmState(
                    name=alarm_name,
                    model=ref.name,
                    rule=rule,
                    state=str(alarm.get("StateValue", "INSUFFICIENT_DATA")),
                    reason=str(alarm.get("StateReason", "")),
                    threshold=float(alarm.get("Threshold", 0.0)),
                    value=_latest_datapoint(alarm.get("StateReasonData")),
                    updated_at=updated.timestamp() if isinstance(updated, datetime) else None,
                )
            )
        return states

    def _metric_data(
        self, queries: list[_Query], start: float, end: float, period: int
    ) -> dict[str, list[float]]:
        data_queries = [
            {
                "Id": q.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": q.namespace,
                        "MetricName": q.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in q.dimensions],
                    },
                    "Period": period,
                    "Stat": q.stat,
                },
                "ReturnData": True,
            }
            for q in queries
        ]
        return self._cloudwatch.metric_data(
            data_queries, datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        )

    def _init_durations(self, ref: FunctionRef, since: float, end: float) -> Stats:
        events = self._filter(
            ref.log_group, int(since * 1000), int(end * 1000), '"Init Duration"', max_pages=INIT_LOG_PAGES
        )
        reports = (Report.parse(e.get("message", "")) for e in events)
        return summarize(r.init_duration_ms for r in reports if r and r.init_duration_ms is not None)


def _latest_datapoint(state_reason_data: Any) -> float | None:
    """The newest datapoint CloudWatch evaluated, from an alarm's StateReasonData JSON (None if absent)."""
    try:
        points = json.loads(state_reason_data or "{}").get("recentDatapoints") or []
        return float(points[-1]) if points else None
    except (TypeError, ValueError, AttributeError):
        return None
