"""Metrics (EMF on stdout), structured logs and the module-level init of the inference handler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.inference_support import (
    DIGITS_REQUEST,
    DIGITS_ROWS,
    FakeContext,
    digits_dir,
    http_v2,
    logs,
    make_app,
    sqs_event,
)

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "inference"


def emf_lines(captured: str) -> list[dict]:
    return [
        line
        for line in (json.loads(text) for text in captured.splitlines() if text.startswith("{"))
        if "_aws" in line
    ]


def metric_names(line: dict) -> set[str]:
    return {metric["Name"] for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    return make_app(digits_dir(tmp_path), function_name="digits-fn")


def test_inference_latency_is_printed_once_per_invocation(app, capsys):
    for _ in range(3):
        app.handle(DIGITS_REQUEST, FakeContext())
    lines = [line for line in emf_lines(capsys.readouterr().out) if "InferenceLatency" in line]
    assert len(lines) == 3
    assert all(line["BatchSize"] == [1.0] and line["InferenceLatency"][0] > 0 for line in lines)


def test_metrics_use_the_namespace_and_the_function_name_dimension(app, capsys):
    app.handle(DIGITS_REQUEST, FakeContext())
    line = next(line for line in emf_lines(capsys.readouterr().out) if "InferenceLatency" in line)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SlsDeploy" and "function_name" in directive["Dimensions"][0]
    assert line["function_name"] == "digits-fn"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}["InferenceLatency"] == "Milliseconds"


def test_cold_start_and_model_load_time_come_only_with_the_first_invocation(app, capsys):
    app.handle(DIGITS_REQUEST, FakeContext())
    first = emf_lines(capsys.readouterr().out)
    app.handle(DIGITS_REQUEST, FakeContext())
    second = emf_lines(capsys.readouterr().out)
    assert (
        sum("ColdStart" in line for line in first) == 1
        and sum("ModelLoadTime" in line for line in first) == 1
    )
    assert not any("ColdStart" in line or "ModelLoadTime" in line for line in second)


def test_provisioned_concurrency_suppresses_the_cold_start_metric(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    make_app(digits_dir(tmp_path)).handle(DIGITS_REQUEST, FakeContext())
    lines = emf_lines(capsys.readouterr().out)
    assert not any("ColdStart" in line for line in lines) and any("ModelLoadTime" in line for line in lines)


def test_a_batch_reports_its_rows_and_one_latency(app, capsys):
    app.handle(
        sqs_event(
            {"a": {"instances": DIGITS_ROWS[:3].tolist()}, "b": {"instances": DIGITS_ROWS[:2].tolist()}}
        ),
        FakeContext(),
    )
    lines = [line for line in emf_lines(capsys.readouterr().out) if "InferenceLatency" in line]
    assert len(lines) == 1 and lines[0]["BatchSize"] == [5.0] and len(lines[0]["InferenceLatency"]) == 1


def test_health_checks_and_rejected_requests_print_no_inference_metrics(app, capsys):
    app.handle(http_v2("GET", "/v2/health/ready"), FakeContext())
    capsys.readouterr()
    app.handle(http_v2("GET", "/v2/health/live"), FakeContext())
    app.handle({"instances": [[1]]}, FakeContext())
    assert emf_lines(capsys.readouterr().out) == []


def test_every_invocation_logs_request_id_batch_size_and_latency(app):
    app.handle({"instances": DIGITS_ROWS[:4].tolist()}, FakeContext(aws_request_id="req-42"))
    summary = [entry for entry in logs(app) if entry["message"] == "invocation"][-1]
    assert summary["request_id"] == "req-42" and summary["event_type"] == "direct"
    assert summary["batch_size"] == 4 and summary["status"] == 200 and summary["inference_ms"] > 0


# ---------------------------------------------------------------------------------------------- module init


def _import_handler(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import json, sys\n"
        "from sls_inference import handler\n"
        "print(json.dumps(handler.lambda_handler(json.loads(sys.stdin.read()), None)))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(DIGITS_REQUEST),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=FUNCTION_DIR,
        env={**os.environ, **env},
    )


def test_inside_a_lambda_runtime_the_model_loads_at_import_from_the_environment(tmp_path):
    model_dir = digits_dir(tmp_path)
    done = _import_handler(
        {
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9",
            "SLS_MODEL_DIR": str(model_dir),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
            "AWS_LAMBDA_FUNCTION_NAME": "digits-fn",
        }
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["outputs"][0]["data"] == [7]
    loaded = next(json.loads(line) for line in done.stdout.splitlines() if '"model loaded"' in line)
    assert loaded["threads"] == 1 and loaded["service"] == "digits-fn"


def test_inside_a_lambda_runtime_a_missing_model_fails_the_import(tmp_path):
    done = _import_handler(
        {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "SLS_MODEL_DIR": str(tmp_path / "nothing")}
    )
    assert done.returncode != 0
    assert "ModelLoadError" in done.stderr and "model.json" in done.stderr
