"""The warm pool behind LocalTarget.invoke and the gateway: reuse, concurrency, scale to zero, and the
sandbox limits (timeout, memory) on real workers."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import ThrottledError
from sls_deploy.core.records import InvokeResult
from sls_deploy.targets.local.pool import WorkerPool
from sls_deploy.targets.local.sandbox import MemoryEnforcement, detect_memory_enforcement
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import python312_or_skip, wait_until_gone, worker_runtime_dir
from tests.support.serve_helpers import deploy_project, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, layer_cache_dir: Path) -> ProjectConfig:
    python = python312_or_skip()
    worker_runtime_dir(python, layer_cache_dir)
    return deploy_project(tmp_path_factory.mktemp("pool") / "project", python, layer_cache_dir)


@pytest.fixture
def target(project: ProjectConfig) -> Iterator[LocalTarget]:
    with LocalTarget(project) as local:
        yield local


def call(target: LocalTarget, name: str, event: dict[str, Any]) -> tuple[InvokeResult, Any]:
    result = target.invoke(name, json.dumps(event).encode())
    return result, json.loads(result.payload)


def start(target: LocalTarget, name: str, event: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    """Invoke in a thread; the list gets the (result, payload) or the exception."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call(target, name, event))
        except Exception as exc:  # handed to the test through `out`
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_warm_worker_is_reused_and_only_the_first_invocation_is_a_cold_start(target: LocalTarget) -> None:
    first, first_body = call(target, "echo", {})
    second, second_body = call(target, "echo", {})
    assert first.extra["cold_start"] and not second.extra["cold_start"]
    assert first_body["pid"] == second_body["pid"]
    assert second.report.init_duration_ms is None and second.extra["concurrency"] == 1


def test_concurrent_requests_get_their_own_workers_up_to_the_limit_then_a_throttle(
    target: LocalTarget,
) -> None:
    slow = {"action": "sleep", "seconds": 1.0}
    threads = [start(target, "echo", slow) for _ in range(2)]
    assert wait_for(lambda: target.pool.in_flight("echo") == 2)
    results = []
    for thread, out in threads:
        thread.join(30)
        results.append(out[0])
    assert len({body["pid"] for _, body in results}) == 2
    single, _ = start(target, "single", slow)
    assert wait_for(lambda: target.pool.in_flight("single") == 1)
    with pytest.raises(ThrottledError, match="reserved concurrency") as info:
        target.invoke("single", b"{}")
    single.join(30)
    assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_idle_workers_exit_after_the_idle_window_and_the_next_request_is_cold(project: ProjectConfig) -> None:
    with LocalTarget(replace(project, idle_seconds=1)) as target:
        _, body = call(target, "echo", {})
        assert target.pool.idle_workers("echo")
        assert wait_until_gone(body["pid"], timeout_s=6), "the idle worker did not exit"
        assert target.pool.idle_workers("echo") == []
        again, again_body = call(target, "echo", {})
    assert again.extra["cold_start"] and again_body["pid"] != body["pid"]


def test_a_timeout_kills_the_worker_and_reports_lambdas_message(target: LocalTarget) -> None:
    _, warm = call(target, "tiny", {})
    result, body = call(target, "tiny", {"action": "sleep", "seconds": 30})
    after, after_body = call(target, "tiny", {})
    assert result.function_error == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith(f"{result.report.request_id} Task timed out after 1.00 seconds")
    assert wait_until_gone(warm["pid"])
    assert after.function_error is None and after.extra["cold_start"] and after_body["pid"] != warm["pid"]


def test_a_worker_killed_mid_request_fails_only_that_request_and_the_next_one_succeeds(
    target: LocalTarget,
) -> None:
    slow = {"action": "sleep", "seconds": 2.0}
    threads = [start(target, "echo", slow) for _ in range(2)]
    assert wait_for(lambda: len([w for w in target.pool.busy_workers() if w.pid]) == 2)
    victim = target.pool.busy_workers()[0].pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    outcomes = []
    for thread, out in threads:
        thread.join(30)
        outcomes.append(out[0])
    failed = [(r, b) for r, b in outcomes if r.function_error]
    succeeded = [(r, b) for r, b in outcomes if not r.function_error]
    assert len(failed) == 1 and len(succeeded) == 1
    assert failed[0][1]["errorType"] == "Runtime.ExitError"
    assert failed[0][1]["errorMessage"].endswith("Runtime exited with error: signal: killed")
    after, _ = call(target, "echo", {})
    assert after.function_error is None


def _assert_out_of_memory(result: InvokeResult, body: Any) -> None:
    assert result.function_error == "Unhandled" and body["errorType"] == "Runtime.OutOfMemory"
    assert "signal: killed" in body["errorMessage"] and "128 MB" in body["errorMessage"]


def test_using_more_than_memory_size_is_an_out_of_memory_error(target: LocalTarget) -> None:
    if detect_memory_enforcement().kind == "rss-watchdog":
        pytest.skip("no writable memory cgroup here (the watchdog is tested below)")
    fits, fits_body = call(target, "tiny", {"action": "alloc", "mb": 32})
    result, body = call(target, "tiny", {"action": "alloc", "mb": 400})
    after, _ = call(target, "tiny", {})
    assert fits.function_error is None and fits_body == {"held_mb": 32}
    _assert_out_of_memory(result, body)
    assert after.function_error is None and after.extra["cold_start"]


def test_without_a_cgroup_the_rss_watchdog_enforces_memory_size(target: LocalTarget) -> None:
    pool = WorkerPool(target.host, idle_s=60, memory=MemoryEnforcement("rss-watchdog"))
    try:
        result = pool.invoke(
            target.resolve("tiny", "live"), json.dumps({"action": "alloc", "mb": 400}).encode()
        )
    finally:
        pool.close()
    _assert_out_of_memory(result, json.loads(result.payload))
