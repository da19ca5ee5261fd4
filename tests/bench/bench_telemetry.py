"""Benchmark: what recording an invocation's logs and metrics costs the invoking thread, and how long the
`logs` and `metrics` queries take on a filled store. Printed side by side, never asserted.

Compares, per invocation of the example handler's typical output (6 log lines, 2 EMF lines):
- queued: Telemetry.record_invocation (the invoking thread only enqueues; a writer thread commits batches),
- direct: one SQLite transaction per invocation on the invoking thread (what a writer-less design pays),
both single-threaded and from 8 threads at once (a busy gateway). Run:
`.venv/bin/python tests/bench/bench_telemetry.py [--n 2000]`.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.* imports

from sls_deploy.targets.local import telemetry as telemetry_module  # noqa: E402
from sls_deploy.targets.local.host import invoke_result  # noqa: E402
from sls_deploy.targets.local.routing import Resolved  # noqa: E402
from sls_deploy.targets.local.state import LocalState  # noqa: E402
from sls_deploy.targets.local.telemetry import Telemetry  # noqa: E402
from sls_deploy.targets.local.telemetry_store import connect  # noqa: E402
from tests.targets.local.test_telemetry import RECORD, emf_line, worker_result  # noqa: E402

LINES = (
    '{"level":"INFO","message":"model loaded","load_ms":6.4}',
    '{"level":"INFO","message":"invocation","status":200,"inference_ms":0.7}',
    emf_line(0.7),
    emf_line(0.8),
    "plain print",
    "another line",
)


def per_call_us(fn, calls: int, threads: int) -> tuple[float, float]:
    """(median, p99) microseconds one call takes on its caller's thread, with `threads` callers at once."""
    samples: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        mine = []
        for _ in range(calls // threads):
            started = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - started)
        with lock:
            samples.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def queued_recorder(store: Telemetry, raw, invoked):
    return lambda: store.record_invocation(RECORD, invoked, raw)


def direct_recorder(path: Path, raw):
    """One transaction per invocation on the caller's thread, a connection per thread."""
    connect(path).close()
    local = threading.local()

    def record() -> None:
        if not hasattr(local, "connection"):
            local.connection = connect(path)
        item = telemetry_module._Invocation(
            RECORD.name, "2", str(uuid.uuid4()), time.time(), raw.report, None, raw.logs
        )
        telemetry_module._write(local.connection, [item])

    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="invocations per measurement")
    args = parser.parse_args()
    raw = worker_result(lines=LINES)
    invoked = invoke_result(Resolved(record=RECORD, qualifier="live"), raw, [])
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, 8):
            store = Telemetry(LocalState(Path(tmp) / f"queued{threads}"))
            q50, q99 = per_call_us(queued_recorder(store, raw, invoked), args.n, threads)
            started = time.perf_counter()
            store.flush()
            drain_ms = (time.perf_counter() - started) * 1000
            d50, d99 = per_call_us(
                direct_recorder(Path(tmp) / f"direct{threads}" / "t.sqlite3", raw), args.n, threads
            )
            print(
                f"{threads} thread(s), per invocation: queued p50 {q50:6.1f} µs p99 {q99:7.1f} µs | "
                f"direct commit p50 {d50:7.1f} µs p99 {d99:8.1f} µs | p50 ratio {d50 / q50:5.1f}× "
                f"(queue written {drain_ms:.0f} ms after the last record)"
            )
        store = Telemetry(LocalState(Path(tmp) / "queued8"))
        for label, query in (
            ("metrics, all", lambda: f"{store.metrics(RECORD.name, 0).invocations} invocations"),
            ("logs, all", lambda: f"{sum(1 for _ in store.logs(RECORD.name, 0))} events"),
            (
                "logs --filter",
                lambda: f"{sum(1 for _ in store.logs(RECORD.name, 0, filter_text='plain'))} events",
            ),
        ):
            started = time.perf_counter()
            found = query()
            print(f"{label:14s} {(time.perf_counter() - started) * 1000:7.1f} ms ({found})")
        with contextlib.closing(connect(store.path)) as connection:
            rows = connection.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
        print(f"store: {rows} log events, {store.path.stat().st_size / 1e6:.1f} MB (+ WAL)")


if __name__ == "__main__":
    main()
