"""The local target's logs and metrics: what each invocation printed and measured, kept as CloudWatch would.

Logs (the log group /aws/lambda/<name>): per invocation a `START RequestId: … Version: …` line, every line
the function printed (awslambdaric's \\r line breaks inside one record made real: a traceback stays one
event), `END RequestId: …` and the REPORT line, each with the request id and version. EMF lines stay in the
log, as on Lambda, and are also parsed (emf.py) into the metric store.

Metrics: the platform's own as Lambda publishes them — Invocations, Errors (function errors: unhandled
exceptions, timeouts, crashes; not 4xx answers), Throttles, Duration, ConcurrentExecutions (the most
invocations running at once, from their start/end times) — plus init durations and cold starts from REPORT,
and every EMF metric the function printed (the handler's InferenceLatency, BatchSize, ModelLoadTime,
ColdStart).

Storage and retention: telemetry_store.py (one SQLite database per state folder, written in batches by a
writer thread).

Side effects: writes <state>/telemetry.sqlite3 (and its -wal/-shm files); runs a daemon writer thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from ...core.records import InvokeResult, LogEvent, MetricsResult
from ...core.stats import max_overlap, summarize
from . import telemetry_store as store
from .invocation import WorkerResult
from .state import LocalState
from .versions import VersionRecord

DB_NAME = "telemetry.sqlite3"
FOLLOW_POLL_S = 0.25
TARGET_NAME = "local"


def _mean(values: list[float] | None) -> float | None:
    return sum(values) / len(values) if values else None


class Telemetry:
    """Records invocations and throttles of a project's local functions; answers `logs` and `metrics`."""

    def __init__(
        self, state: LocalState, retention_days: int = 14, log_bytes: int = store.LOG_BYTES_PER_FUNCTION
    ) -> None:
        self.state = state
        self.path = state.root / DB_NAME
        self._retention = store.Retention(days=retention_days, log_bytes=log_bytes)

    # -- recording (called on every invocation: cheap, the writer thread does the work) --------------------
    def record_invocation(self, record: VersionRecord, result: InvokeResult, raw: WorkerResult) -> None:
        item = store.InvocationItem(
            name=record.name,
            version=str(record.version),
            request_id=raw.request_id,
            ended=time.time(),
            report=raw.report,
            function_error=result.function_error,
            lines=raw.logs,
        )
        store.submit(self.path, item, self._retention)

    def record_throttle(self, record: VersionRecord) -> None:
        store.submit(
            self.path, store.ThrottleItem(record.name, str(record.version), time.time()), self._retention
        )

    def record_notice(self, name: str, version: str, message: str) -> None:
        """Write `message` into the function's log as the platform's own line (no request id)."""
        store.submit(self.path, store.NoticeItem(name, version, time.time(), message), self._retention)

    def flush(self) -> None:
        """Wait until everything this process recorded is in the database."""
        store.flush(self.path)

    # -- queries -----------------------------------------------------------------------------------------
    def knows(self, name: str) -> bool:
        """Whether any log event or invocation of `name` is kept."""
        self.flush()
        if not self.path.is_file():
            return False
        with contextlib.closing(store.connect(self.path)) as connection:
            return any(
                connection.execute(f"SELECT 1 FROM {table} WHERE function = ? LIMIT 1", (name,)).fetchone()
                for table in ("logs", "invocations", "throttles")
            )

    def logs(
        self,
        name: str,
        since: float,
        filter_text: str | None = None,
        follow: bool = False,
        poll_s: float = FOLLOW_POLL_S,
    ) -> Iterator[LogEvent]:
        """Events of `name` from `since` on, oldest first; `filter_text` keeps events containing it (case
        sensitive, as a CloudWatch term); `follow` keeps polling for new ones until the caller stops."""
        self.flush()
        if not self.path.is_file() and not follow:
            return
        connection = store.connect(self.path)
        try:
            last_id = 0
            query = (
                "SELECT id, ts, message, request_id, version, stream FROM logs "
                "WHERE function = ? AND id > ? AND ts >= ? AND INSTR(message, ?) > 0 ORDER BY id"
            )
            while True:
                for row in connection.execute(query, (name, last_id, since, filter_text or "")):
                    last_id = row[0]
                    yield LogEvent(
                        timestamp=row[1], message=row[2], request_id=row[3], version=row[4], stream=row[5]
                    )
                if not follow:
                    return
                time.sleep(poll_s)
                self.flush()
        finally:
            connection.close()

    def metrics(
        self, name: str, since: float, until: float | None = None, version: str | None = None
    ) -> MetricsResult:
        """The function's metrics over [since, until) (until: now); with `version`, that version's only."""
        self.flush()
        end = time.time() if until is None else until
        if not self.path.is_file():
            return MetricsResult(target=TARGET_NAME, name=name, start=since, end=end)
        only = "" if version is None else " AND version = ?"
        extra: tuple[str, ...] = () if version is None else (version,)
        with contextlib.closing(store.connect(self.path)) as connection:
            rows = connection.execute(
                "SELECT started, ended, duration_ms, init_ms, error FROM invocations "
                f"WHERE function = ? AND ended >= ? AND ended < ?{only}",
                (name, since, end, *extra),
            ).fetchall()
            spans = connection.execute(
                "SELECT started, ended FROM invocations "
                f"WHERE function = ? AND ended >= ? AND started < ?{only}",
                (name, since, end, *extra),
            ).fetchall()
            throttles = connection.execute(
                f"SELECT COUNT(*) FROM throttles WHERE function = ? AND ts >= ? AND ts < ?{only}",
                (name, since, end, *extra),
            ).fetchone()[0]
            emf: dict[str, list[float]] = {}
            for metric, value in connection.execute(
                "SELECT name, value FROM metrics WHERE function = ? AND name IN "
                f"('InferenceLatency', 'InputDriftPSI', 'PredictionDriftPSI') AND ts >= ? AND ts < ?{only}",
                (name, since, end, *extra),
            ):
                emf.setdefault(metric, []).append(value)
        init = [row[3] for row in rows if row[3] is not None]
        input_psi, prediction_psi = emf.get("InputDriftPSI"), emf.get("PredictionDriftPSI")
        return MetricsResult(
            target=TARGET_NAME,
            name=name,
            start=since,
            end=end,
            invocations=len(rows),
            errors=sum(1 for row in rows if row[4] is not None),
            throttles=int(throttles),
            cold_starts=len(init),
            max_concurrency=max_overlap((row[0], row[1]) for row in spans) if spans else None,
            duration_ms=summarize(row[2] for row in rows),
            init_duration_ms=summarize(init),
            inference_latency_ms=summarize(emf.get("InferenceLatency", ())),
            input_drift_psi=_mean(input_psi),
            input_drift_psi_max=max(input_psi) if input_psi else None,
            prediction_drift_psi=_mean(prediction_psi),
        )

    def forget(self, name: str) -> None:
        """Delete every log event and metric of `name`."""
        self.flush()
        if not self.path.is_file():
            return
        with contextlib.closing(store.connect(self.path)) as connection:
            connection.execute("BEGIN IMMEDIATE")
            for table in store.TABLES:
                connection.execute(f"DELETE FROM {table} WHERE function = ?", (name,))
            connection.execute("COMMIT")
