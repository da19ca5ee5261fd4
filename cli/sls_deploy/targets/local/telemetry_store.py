"""Storage of the local target's logs and metrics (telemetry.py reads them).

Storage: one SQLite database, <state>/telemetry.sqlite3, in WAL mode. SQLite rather than log files because
gateway threads and CLI processes write at the same time (WAL gives one writer at a time without blocking
readers, and a crashed writer leaves no half line), `logs --since/--filter` and `metrics` are indexed queries,
`--follow` is a poll on the row id, and retention is a DELETE. Writes leave the invocation's path: each
process has one writer thread per database that wakes every WRITE_INTERVAL_S and commits what was recorded
since in one transaction (the warm-invoke path appends to a list under a lock: no commit, no thread wake-up;
threads of one process never contend for the write lock). Visibility: a query in the same process first
flushes (waits until everything recorded before it is committed); another process — `sls-deploy logs` next
to a running `serve` — sees an invocation at most WRITE_INTERVAL_S (plus one commit) after it ended. What is
pending is written when the process exits (`serve` ends on Ctrl-C or SIGTERM through the same path). Readers
use short-lived connections.

Retention, checked at most once a minute by a writer: rows older than `retention_days` (the project's
log_retention_days, default 14, as the template's log group) go; a function's log events are capped at
LOG_BYTES_PER_FUNCTION (64 MB) of messages, oldest first; one event is cut at CloudWatch's event size
(limits.MAX_LOG_EVENT_BYTES).

Side effects: writes <state>/telemetry.sqlite3 (and its -wal/-shm files); runs a daemon writer thread per
database; flushes what is pending at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ...core import limits
from ...core.errors import TargetError
from ...core.records import Report
from .emf import parse_emf

LOG_BYTES_PER_FUNCTION = 64 * 1024 * 1024
RETENTION_CHECK_S = 60.0
WRITE_INTERVAL_S = 0.25  # a writer commits this often (the longest another process waits to see a record)
WRITER_IDLE_S = 2.0  # a writer thread with nothing to do for this long ends; the next record starts one

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, function TEXT NOT NULL, ts REAL NOT NULL, version TEXT, request_id TEXT,
    stream TEXT NOT NULL DEFAULT '', message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_function ON logs (function, id);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (function, ts);
CREATE TABLE IF NOT EXISTS invocations (
    id INTEGER PRIMARY KEY, function TEXT NOT NULL, version TEXT NOT NULL, request_id TEXT NOT NULL,
    started REAL NOT NULL, ended REAL NOT NULL, duration_ms REAL NOT NULL, billed_ms INTEGER NOT NULL,
    init_ms REAL, memory_mb INTEGER NOT NULL, max_memory_mb INTEGER NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS invocations_by_time ON invocations (function, ended);
CREATE TABLE IF NOT EXISTS throttles (
    id INTEGER PRIMARY KEY, function TEXT NOT NULL, version TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS throttles_by_time ON throttles (function, ts);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY, function TEXT NOT NULL, version TEXT, request_id TEXT, ts REAL NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, unit TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_by_name ON metrics (function, name, ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
TABLES = ("logs", "invocations", "throttles", "metrics")
_TIME_COLUMN = {"logs": "ts", "invocations": "ended", "throttles": "ts", "metrics": "ts"}


@dataclass(frozen=True)
class InvocationItem:
    name: str
    version: str
    request_id: str
    ended: float
    report: Report
    function_error: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ThrottleItem:
    name: str
    version: str
    at: float


@dataclass(frozen=True)
class NoticeItem:
    """A line the platform itself writes into a function's log (e.g. a canary rolled back)."""

    name: str
    version: str
    at: float
    message: str


Item = InvocationItem | ThrottleItem | NoticeItem


@dataclass(frozen=True)
class Retention:
    days: int
    log_bytes: int


def log_stream(version: str, at: float) -> str:
    """The log stream name of a version's events on a day, in Lambda's `YYYY/MM/DD/[version]…` form."""
    return _day_stream(version, int(at // 86400))


@functools.lru_cache(maxsize=256)
def _day_stream(version: str, day: int) -> str:
    return f"{datetime.fromtimestamp(day * 86400, UTC):%Y/%m/%d}/[{version}]local"


def _cut(message: str) -> str:
    data = message.encode("utf-8")
    if len(data) <= limits.MAX_LOG_EVENT_BYTES:
        return message
    return data[: limits.MAX_LOG_EVENT_BYTES].decode("utf-8", "ignore")


def invocation_log_lines(item: InvocationItem) -> list[str]:
    """START, the function's lines (one event per record), END and REPORT, as CloudWatch shows them."""
    return [
        f"START RequestId: {item.request_id} Version: {item.version}",
        *(_cut(line.replace("\r", "\n")) for line in item.lines),
        f"END RequestId: {item.request_id}",
        item.report.line(),
    ]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and a generous busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise TargetError(
            f"the local telemetry database {path} is unusable: {exc}",
            f"delete {path} (logs and metrics start afresh)",
        ) from exc
    return connection


class _Writer:
    """One process's writer of one database: a daemon thread committing recorded items in batches.

    Recording appends to `pending` under `cond` and wakes nobody; the thread wakes every WRITE_INTERVAL_S
    (or when a flush asks) and commits everything pending in one transaction. `recorded`/`written` count
    items, so a flush waits for exactly what was recorded before it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cond = threading.Condition(threading.Lock())
        self.pending: list[Item] = []
        self.recorded = 0
        self.written = 0
        self.flush_requested = False
        self.retention = Retention(days=14, log_bytes=LOG_BYTES_PER_FUNCTION)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"telemetry-{path.parent.name}", daemon=True)

    def _take(self) -> list[Item] | None:
        """The next batch (waits up to WRITE_INTERVAL_S for a flush request); None when the writer ends."""
        idle_since = time.monotonic()
        with self.cond:
            while True:
                if not self.flush_requested:
                    self.cond.wait(WRITE_INTERVAL_S)
                self.flush_requested = False
                if self.pending:
                    batch, self.pending = self.pending, []
                    return batch
                if time.monotonic() - idle_since >= WRITER_IDLE_S:
                    break
        with _WRITERS_LOCK, self.cond:  # in the global order; a record may have come in meanwhile
            if self.pending:
                batch, self.pending = self.pending, []
                return batch
            if _WRITERS.get(self.path) is self:
                del _WRITERS[self.path]
            return None

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while (batch := self._take()) is not None:
                try:
                    if connection is None:
                        connection = connect(self.path)
                    _write(connection, batch)
                    _maybe_enforce_retention(connection, self.retention, time.time())
                    self.error = None
                except (sqlite3.Error, OSError, TargetError) as exc:
                    self.error = exc  # reported by the next flush; the invocations themselves went fine
                finally:
                    with self.cond:
                        self.written += len(batch)
                        self.cond.notify_all()
        finally:
            if connection is not None:
                connection.close()

    def submit(self, item: Item) -> None:
        with self.cond:
            self.pending.append(item)
            self.recorded += 1

    def flush(self) -> None:
        """Wait until everything recorded so far is committed (or failed)."""
        with self.cond:
            target = self.recorded
            while self.written < target and self.thread.is_alive():
                self.flush_requested = True
                self.cond.notify_all()
                self.cond.wait(1.0)


_WRITERS: dict[Path, _Writer] = {}
_WRITERS_LOCK = threading.Lock()  # taken before a writer's own lock, never after


def submit(path: Path, item: Item, retention: Retention) -> None:
    writer = _WRITERS.get(path)
    if writer is not None:
        writer.retention = retention
        with writer.cond:
            if _WRITERS.get(path) is writer:  # not ended meanwhile (it leaves _WRITERS under its lock)
                writer.pending.append(item)
                writer.recorded += 1
                return
    with _WRITERS_LOCK:
        writer = _WRITERS.get(path)
        if writer is None:
            writer = _WRITERS[path] = _Writer(path)
            writer.thread.start()
        writer.retention = retention
        writer.submit(item)


def flush(path: Path) -> None:
    with _WRITERS_LOCK:
        writer = _WRITERS.get(path)
    if writer is None:
        return
    writer.flush()
    if writer.error is not None:
        error, writer.error = writer.error, None
        raise TargetError(
            f"could not record logs and metrics in {path}: {error}",
            f"check free space and permissions of {path.parent}",
        )


@atexit.register
def flush_all() -> None:
    """Write what this process recorded before it exits (the CLI's invoke records, then exits)."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
    for writer in writers:
        with contextlib.suppress(TargetError):
            flush(writer.path)


def _write(connection: sqlite3.Connection, batch: list[Item]) -> None:
    logs: list[tuple[str, float, str, str | None, str, str]] = []
    invocations, throttles, metrics = [], [], []
    for item in batch:
        if isinstance(item, ThrottleItem):
            throttles.append((item.name, item.version, item.at))
            continue
        if isinstance(item, NoticeItem):
            logs.append(
                (item.name, item.at, item.version, None, log_stream(item.version, item.at), item.message)
            )
            continue
        report = item.report
        started = item.ended - report.duration_ms / 1000.0
        stream = log_stream(item.version, started)
        for index, line in enumerate(invocation_log_lines(item)):
            at = item.ended if index > len(item.lines) else started  # END and REPORT when it ended
            logs.append((item.name, at, item.version, item.request_id, stream, line))
        for line in item.lines:
            document = parse_emf(line)
            if document is None:
                continue
            at = document.timestamp_ms / 1000.0
            for metric in document.metrics:
                for value in metric.values:
                    metrics.append(
                        (item.name, item.version, item.request_id, at, metric.namespaces[0], metric.name)
                        + (metric.unit, value)
                    )
        # Concurrency counts the environment from its init (cold) to the response.
        busy_from = started - (report.init_duration_ms or 0.0) / 1000.0
        invocations.append(
            (item.name, item.version, item.request_id, busy_from, item.ended, report.duration_ms)
            + (report.billed_duration_ms, report.init_duration_ms, report.memory_size_mb)
            + (report.max_memory_used_mb, item.function_error)
        )
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT INTO logs (function, ts, version, request_id, stream, message) VALUES (?, ?, ?, ?, ?, ?)",
            logs,
        )
        connection.executemany(
            "INSERT INTO invocations (function, version, request_id, started, ended, duration_ms, billed_ms, "
            "init_ms, memory_mb, max_memory_mb, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            invocations,
        )
        connection.executemany("INSERT INTO throttles (function, version, ts) VALUES (?, ?, ?)", throttles)
        connection.executemany(
            "INSERT INTO metrics (function, version, request_id, ts, namespace, name, unit, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            metrics,
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _maybe_enforce_retention(connection: sqlite3.Connection, retention: Retention, now: float) -> None:
    row = connection.execute("SELECT value FROM meta WHERE key = 'retention_at'").fetchone()
    if row is not None and now - row[0] < RETENTION_CHECK_S:
        return
    enforce_retention(connection, retention.days, retention.log_bytes, now)


def enforce_retention(connection: sqlite3.Connection, days: int, log_bytes: int, now: float) -> int:
    """Delete rows older than `days` and each function's oldest log events beyond `log_bytes` of messages;
    returns the number of rows deleted."""
    cutoff = now - days * 86400.0
    deleted = 0
    connection.execute("BEGIN IMMEDIATE")
    try:
        for table in TABLES:
            deleted += connection.execute(
                f"DELETE FROM {table} WHERE {_TIME_COLUMN[table]} < ?", (cutoff,)
            ).rowcount
        functions = [row[0] for row in connection.execute("SELECT DISTINCT function FROM logs")]
        for function in functions:
            row = connection.execute(
                "SELECT id FROM (SELECT id, SUM(LENGTH(CAST(message AS BLOB))) OVER (ORDER BY id DESC) "
                "AS total FROM logs WHERE function = ?) WHERE total > ? ORDER BY id DESC LIMIT 1",
                (function, log_bytes),
            ).fetchone()
            if row is not None:
                deleted += connection.execute(
                    "DELETE FROM logs WHERE function = ? AND id <= ?", (function, row[0])
                ).rowcount
        connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('retention_at', ?)", (now,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return deleted
