"""`sls-deploy cost` on the local target with the example model: a fresh measurement while the function has no
metrics, then the metrics of those invocations; other memory sizes and architectures are said to be scaled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main

pytestmark = pytest.mark.slow


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def cost_json(*args: str) -> dict:
    result = run("cost", "digits", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cost_measures_a_function_without_metrics_then_prices_its_metrics(example_project: Path) -> None:
    pushed = run("push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--json")
    assert pushed.exit_code == 0, pushed.output

    measured = cost_json("-n", "5", "--requests", "2000000")
    assert measured["source"] == "measured"
    assert measured["measurement"]["count"] == 5 and measured["measurement"]["cold_starts"] == 1
    assert measured["cold_start_rate"] == 0.01  # a burst says nothing about traffic: the assumed rate
    assert measured["init_ms"] > 0 and measured["billed_ms"] >= 1
    month = measured["month"]
    assert month["requests_per_month"] == 2_000_000
    # 6 custom metrics; 4 alarm metrics (the error-rate alarm is metric math over Errors and Invocations)
    assert month["metrics"] == pytest.approx(6 * 0.30) and month["alarms"] == pytest.approx(4 * 0.10)
    # 2M requests: twice the per-million variable cost, plus the fixed metrics and alarms
    per_million = measured["per_million"]
    assert month["total"] == pytest.approx(2 * per_million["total"] + 1.80 + 0.40, abs=1e-6)

    priced = cost_json("--vs-hourly", "0.05")
    assert priced["source"] == "metrics" and "invocations 5," in priced["basis"]
    assert priced["cold_start_rate"] == pytest.approx(1 / 5)
    assert priced["break_even"]["requests_per_month"] > 0
    given = cost_json("--cold-start-rate", "0")
    assert given["cold_start_rate"] == 0 and given["per_million"]["init"] == 0

    text = run("cost", "digits", "--memory", "2048", "--arch", "arm64", "--vs-hourly", "0.05").output
    assert "arm64, 2048 MB (not deployed)" in text
    assert "durations scaled from the deployed 1024 MB" in text and "sls-deploy tune digits" in text
    assert "Lambda is cheaper below" in text and "prices: us-east-1, checked 2026-11" in text

    (example_project / "sls-deploy.toml").write_text("[prices]\nrequest_per_million = 0.40\n")
    assert cost_json()["per_million"]["requests"] == 0.40


def test_cost_of_a_function_that_is_not_deployed_says_how_to_deploy_it(example_project: Path) -> None:
    result = run("cost", "digits")
    assert result.exit_code == 1 and "push" in result.output
