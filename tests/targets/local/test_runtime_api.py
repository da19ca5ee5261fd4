"""A real awslambdaric worker (python3.12) behind the local Runtime API, running tiny handlers."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sls_deploy.core import limits
from sls_deploy.core.errors import InvocationError
from sls_deploy.targets.local.environment import WorkerSpec
from sls_deploy.targets.local.invocation import WorkerResult
from sls_deploy.targets.local.worker import Worker
from tests.support.local_target_helpers import (
    children_of,
    python312_or_skip,
    wait_until_gone,
    worker_runtime_dir,
)

APP = """
import os, subprocess, time
print("init: app imported")

def handler(event, context):
    action = event.get("action")
    print(f"handling {action}")
    if action == "raise":
        raise ValueError("bad input: " + str(event.get("x")))
    if action == "sleep":
        if event.get("pid_file"):
            child = subprocess.Popen(["sleep", "30"])
            with open(event["pid_file"], "w") as fh:
                fh.write(str(child.pid))
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    if action == "env":
        return dict(os.environ)
    if action == "big":
        return "x" * event["n"]
    return {"echo": event, "request_id": context.aws_request_id, "function_name": context.function_name,
            "arn": context.invoked_function_arn, "pid": os.getpid(),
            "remaining_ms": context.get_remaining_time_in_millis()}
"""
BROKEN = "import a_module_that_does_not_exist\n\ndef handler(event, context):\n    return 1\n"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory, layer_cache_dir: Path) -> WorkerSpec:
    python = python312_or_skip()
    task = tmp_path_factory.mktemp("task")
    (task / "app.py").write_text(APP)
    (task / "broken.py").write_text(BROKEN)
    opt = tmp_path_factory.mktemp("opt")
    return WorkerSpec(
        function_name="tiny",
        version="1",
        handler="app.handler",
        interpreter=python,
        python_version="3.12",
        task_root=task,
        opt_dir=opt,
        runtime_dir=worker_runtime_dir(python, layer_cache_dir),
        memory_mb=256,
        timeout_s=3,
        region="eu-west-1",
    )


def call(worker: Worker, event: dict[str, Any], timeout_s: float | None = None) -> tuple[WorkerResult, Any]:
    result = worker.invoke(json.dumps(event).encode(), timeout_s=timeout_s)
    return result, json.loads(result.payload)


def test_a_handler_result_comes_back_with_a_report(spec: WorkerSpec) -> None:
    with Worker(spec) as worker:
        result, body = call(worker, {"action": "echo", "n": 1})
    assert result.function_error is None
    assert body["echo"] == {"action": "echo", "n": 1}
    assert body["request_id"] == result.request_id
    assert body["function_name"] == "tiny"
    assert body["arn"] == "arn:aws:lambda:eu-west-1:000000000000:function:tiny"
    assert 0 < body["remaining_ms"] <= 3000
    assert result.cold and result.report.init_duration_ms is not None and result.report.init_duration_ms > 0
    assert result.report.memory_size_mb == 256
    assert 5 < result.report.max_memory_used_mb < 256
    assert result.report.billed_duration_ms >= result.report.duration_ms + result.report.init_duration_ms


def test_a_raising_handler_is_an_unhandled_function_error_with_its_type_and_message(spec: WorkerSpec) -> None:
    with Worker(spec) as worker:
        result, body = call(worker, {"action": "raise", "x": 7})
        assert worker.alive
    assert result.function_error == "Unhandled"
    assert result.error_type == "ValueError"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input: 7"
    assert any("app.py" in frame for frame in body["stackTrace"])
    assert any("[ERROR] ValueError: bad input: 7" in line for line in result.logs)


def test_an_import_error_is_reported_as_runtime_import_module_error_and_the_worker_exits(
    spec: WorkerSpec,
) -> None:
    with Worker(replace(spec, handler="broken.handler")) as worker:
        result, body = call(worker, {})
        pid = worker.pid
        assert not worker.alive
    assert result.function_error == "Unhandled"
    assert result.error_type == "Runtime.ImportModuleError"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'broken'" in body["errorMessage"]
    assert result.report.init_duration_ms is not None
    assert pid is not None and wait_until_gone(pid)


def test_a_handler_past_its_timeout_is_killed_with_its_children_and_reported_as_timed_out(
    spec: WorkerSpec, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    with Worker(spec) as worker:
        started = time.monotonic()
        result, body = call(
            worker, {"action": "sleep", "seconds": 30, "pid_file": str(pid_file)}, timeout_s=1
        )
        elapsed = time.monotonic() - started
        assert not worker.alive
        worker_pid = worker.pid
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith(f"{result.request_id} Task timed out after 1.00 seconds")
    assert 1000 <= result.report.duration_ms < 1500
    assert elapsed < 3
    assert any("Task timed out after 1.00 seconds" in line for line in result.logs)
    assert worker_pid is not None and wait_until_gone(worker_pid)
    assert wait_until_gone(int(pid_file.read_text())), "the handler's child process outlived the timeout"


def test_a_process_exiting_mid_request_is_a_runtime_exit_error_and_the_worker_is_done(
    spec: WorkerSpec,
) -> None:
    with Worker(spec) as worker:
        result, body = call(worker, {"action": "exit"})
        assert not worker.alive
        with pytest.raises(InvocationError):
            worker.invoke(b"{}")
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert (
        body["errorMessage"]
        == f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 3"
    )


def test_a_warm_worker_serves_the_next_event_without_init_in_the_same_process(spec: WorkerSpec) -> None:
    with Worker(spec) as worker:
        first, first_body = call(worker, {"action": "echo"})
        started = time.perf_counter()
        second, second_body = call(worker, {"action": "echo"})
        warm_ms = (time.perf_counter() - started) * 1000
    assert first.cold and first.report.init_duration_ms is not None
    assert not second.cold and second.report.init_duration_ms is None
    assert first_body["pid"] == second_body["pid"]
    assert warm_ms < 50
    assert "init: app imported" in first.logs and "handling echo" in first.logs
    assert second.logs == ("handling echo",)


def test_the_handler_sees_the_variables_a_real_lambda_sets_and_none_of_the_callers_others(
    spec: WorkerSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLS_TEST_CALLER_ONLY", "must-not-leak")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALTEST")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000")
    own = replace(spec, environment={"SLS_MODEL_DIR": "/opt/model", "GREETING": "hi"})
    with Worker(own) as worker:
        _, env = call(worker, {"action": "env"})
        api = env["AWS_LAMBDA_RUNTIME_API"]
    assert {
        key: env[key]
        for key in (
            "_HANDLER",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "TZ",
            "LANG",
            "LAMBDA_TASK_ROOT",
        )
    } == {
        "_HANDLER": "app.handler",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": "tiny",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/tiny",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "LAMBDA_TASK_ROOT": str(spec.task_root),
    }
    assert api.startswith("127.0.0.1:")
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[-1].startswith("[1]")
    assert env["LAMBDA_RUNTIME_DIR"] == str(spec.runtime_dir)
    assert f"{spec.opt_dir}/lib" in env["LD_LIBRARY_PATH"].split(":")
    assert env["PYTHONPATH"].split(":") == [
        str(spec.task_root),
        f"{spec.opt_dir}/python/lib/python3.12/site-packages",
        f"{spec.opt_dir}/python",
        str(spec.runtime_dir),
    ]
    assert env["GREETING"] == "hi" and env["SLS_MODEL_DIR"] == f"{spec.opt_dir}/model"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIALOCALTEST"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:5000"
    assert "SLS_TEST_CALLER_ONLY" not in env and "HOME" not in env and "VIRTUAL_ENV" not in env


def test_a_response_over_the_payload_limit_is_function_response_size_too_large(spec: WorkerSpec) -> None:
    with Worker(spec) as worker:
        result, body = call(worker, {"action": "big", "n": limits.MAX_SYNC_PAYLOAD_BYTES + 10})
        after, _ = call(worker, {"action": "echo"})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert after.function_error is None


def test_stop_ends_the_worker_process_and_leaves_no_child_behind(spec: WorkerSpec) -> None:
    worker = Worker(spec)
    call(worker, {"action": "echo"})
    pid = worker.pid
    assert pid in children_of(os.getpid())
    worker.stop()
    assert not worker.alive
    assert pid is not None and wait_until_gone(pid)
    assert pid not in children_of(os.getpid())


def test_a_worker_whose_interpreter_does_not_exist_fails_with_an_invocation_error(
    spec: WorkerSpec, tmp_path: Path
) -> None:
    worker = Worker(replace(spec, interpreter=tmp_path / "no-such-python"))
    with pytest.raises(InvocationError, match="cannot start the worker"):
        worker.invoke(b"{}")
    worker.stop()
    assert not worker.alive
