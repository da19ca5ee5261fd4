"""The local target's log and metric store: what recorded invocations look like in `logs` and `metrics`."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from sls_deploy.core.records import Report
from sls_deploy.targets.local.host import invoke_result
from sls_deploy.targets.local.invocation import WorkerResult
from sls_deploy.targets.local.routing import Resolved
from sls_deploy.targets.local.state import LocalState
from sls_deploy.targets.local.telemetry import Telemetry
from sls_deploy.targets.local.telemetry_store import WRITE_INTERVAL_S, connect, enforce_retention
from sls_deploy.targets.local.versions import VersionRecord

RECORD = VersionRecord(
    name="digits",
    version=2,
    code_sha256="c" * 64,
    layer_sha256s=(),
    handler="app.handler",
    runtime="python3.12",
    arch="x86_64",
    memory=512,
    timeout=3,
)


def emf_line(latency: float) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": "SlsDeploy",
                        "Dimensions": [["function_name"]],
                        "Metrics": [{"Name": "InferenceLatency", "Unit": "Milliseconds"}],
                    }
                ],
            },
            "function_name": "digits",
            "InferenceLatency": [latency],
        }
    )


def worker_result(
    duration_ms: float = 5.0,
    lines: tuple[str, ...] = ("hello",),
    init_ms: float | None = None,
    error: str | None = None,
) -> WorkerResult:
    request_id = str(uuid.uuid4())
    return WorkerResult(
        request_id=request_id,
        payload=b"{}",
        function_error=error,
        error_type=None if error is None else "ValueError",
        report=Report(
            request_id=request_id,
            duration_ms=duration_ms,
            billed_duration_ms=int(duration_ms) + 1,
            memory_size_mb=512,
            max_memory_used_mb=60,
            init_duration_ms=init_ms,
        ),
        logs=lines,
        cold=init_ms is not None,
    )


def record(telemetry: Telemetry, raw: WorkerResult) -> None:
    resolved = Resolved(record=RECORD, qualifier="live")
    telemetry.record_invocation(RECORD, invoke_result(resolved, raw, []), raw)


@pytest.fixture
def telemetry(tmp_path: Path) -> Telemetry:
    return Telemetry(LocalState(tmp_path / "state"))


def test_an_invocations_log_has_start_its_lines_end_and_report_with_its_request_id(
    telemetry: Telemetry,
) -> None:
    started = time.time() - 1
    raw = worker_result(lines=("first", "Traceback:\r  line 1\r  line 2", emf_line(1.5)), init_ms=120.0)
    record(telemetry, raw)
    events = list(telemetry.logs("digits", started))
    messages = [event.message for event in events]
    assert messages[0] == f"START RequestId: {raw.request_id} Version: 2"
    assert messages[1:4] == ["first", "Traceback:\n  line 1\n  line 2", emf_line_of(messages[3])]
    assert messages[4] == f"END RequestId: {raw.request_id}"
    assert messages[5] == raw.report.line() and "Init Duration: 120.00 ms" in messages[5]
    assert {event.request_id for event in events} == {raw.request_id}
    assert {event.version for event in events} == {"2"} and events[0].stream.endswith("[2]local")
    assert events[0].timestamp <= events[-1].timestamp


def emf_line_of(message: str) -> str:
    assert '"_aws"' in message, "EMF lines stay in the log, as on Lambda"
    return message


def test_logs_filter_by_text_and_time(telemetry: Telemetry) -> None:
    record(telemetry, worker_result(lines=("apple",)))
    record(telemetry, worker_result(lines=("banana",)))
    assert [e.message for e in telemetry.logs("digits", 0, filter_text="banana")] == ["banana"]
    assert list(telemetry.logs("digits", time.time() + 60)) == []
    assert list(telemetry.logs("other", 0)) == []


def test_metrics_count_invocations_errors_cold_starts_and_throttles(telemetry: Telemetry) -> None:
    start = time.time() - 1
    record(telemetry, worker_result(duration_ms=10, init_ms=200.0, lines=(emf_line(4.0),)))
    for index in range(8):
        record(telemetry, worker_result(duration_ms=float(index + 1), lines=(emf_line(float(index)),)))
    record(telemetry, worker_result(duration_ms=3, error="Unhandled"))
    telemetry.record_throttle(RECORD)
    telemetry.record_throttle(RECORD)
    result = telemetry.metrics("digits", start)
    assert (result.invocations, result.errors, result.throttles, result.cold_starts) == (10, 1, 2, 1)
    assert result.duration_ms.count == 10 and result.duration_ms.maximum == 10
    assert result.duration_ms.p50 == 4.0
    assert result.init_duration_ms.count == 1 and result.init_duration_ms.p99 == 200.0
    assert result.inference_latency_ms.count == 9 and result.inference_latency_ms.maximum == 7.0
    assert result.max_concurrency is not None and result.max_concurrency >= 1
    assert telemetry.metrics("digits", start, until=start + 0.5).invocations == 0


def test_recording_from_many_threads_loses_nothing(telemetry: Telemetry) -> None:
    start = time.time() - 1

    def burst() -> None:
        for _ in range(50):
            record(telemetry, worker_result())

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert telemetry.metrics("digits", start).invocations == 200
    assert sum(1 for e in telemetry.logs("digits", start) if e.message.startswith("REPORT")) == 200


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_telemetry import record, worker_result
from sls_deploy.targets.local.state import LocalState
from sls_deploy.targets.local.telemetry import Telemetry
telemetry = Telemetry(LocalState(Path(sys.argv[1])))
for _ in range(100):
    record(telemetry, worker_result())
"""


def test_processes_writing_at_the_same_time_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER.format(tests=str(Path(__file__).parent))))
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "state")], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    assert Telemetry(LocalState(tmp_path / "state")).metrics("digits", 0).invocations == 300


def test_records_reach_the_database_without_a_flush_for_readers_in_other_processes(
    telemetry: Telemetry,
) -> None:
    record(telemetry, worker_result(lines=("seen elsewhere",)))
    deadline = time.monotonic() + 30 * WRITE_INTERVAL_S  # generous: a busy machine
    found = 0
    while not found and time.monotonic() < deadline:  # a plain reader: it cannot flush this process
        time.sleep(WRITE_INTERVAL_S / 5)
        if telemetry.path.is_file():
            with contextlib.closing(connect(telemetry.path)) as connection:
                found = connection.execute(
                    "SELECT COUNT(*) FROM logs WHERE message = 'seen elsewhere'"
                ).fetchone()[0]
    assert found == 1


def test_following_yields_events_recorded_after_it_started(telemetry: Telemetry) -> None:
    record(telemetry, worker_result(lines=("before",)))
    stream = telemetry.logs("digits", 0, follow=True, poll_s=0.02)
    seen = [next(stream).message for _ in range(4)]
    assert "before" in seen
    record(telemetry, worker_result(lines=("after",)))
    later = [next(stream).message for _ in range(4)]
    stream.close()
    assert later[0].startswith("START") and later[1] == "after"


def test_retention_drops_old_rows_and_caps_a_functions_log_bytes(telemetry: Telemetry) -> None:
    for _ in range(20):
        record(telemetry, worker_result(lines=("x" * 1000,)))
    telemetry.flush()
    with contextlib.closing(connect(telemetry.path)) as connection:
        enforce_retention(connection, days=14, log_bytes=5000, now=time.time())
        total = connection.execute("SELECT SUM(LENGTH(message)) FROM logs").fetchone()[0]
        assert 0 < total <= 5000
        newest = connection.execute("SELECT MAX(id) FROM logs").fetchone()[0]
        assert connection.execute("SELECT COUNT(*) FROM logs WHERE id = ?", (newest,)).fetchone()[0] == 1
        enforce_retention(connection, days=1, log_bytes=10**9, now=time.time() + 2 * 86400)
        for table in ("logs", "invocations", "metrics"):
            assert connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_forgetting_a_function_deletes_its_logs_and_metrics_only(telemetry: Telemetry) -> None:
    record(telemetry, worker_result())
    other = VersionRecord.from_json({**RECORD.to_json(), "name": "other"})
    telemetry.record_throttle(other)
    telemetry.forget("digits")
    assert not telemetry.knows("digits") and telemetry.knows("other")
