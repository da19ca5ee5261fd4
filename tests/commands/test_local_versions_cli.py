"""Versions, aliases, logs and metrics on the local target, through the library and the CLI, with real
workers running tiny functions."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import NotDeployedError, TargetError
from sls_deploy.core.records import FunctionBuild
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import code_zip, function_build, python312_or_skip, worker_runtime_dir

APP = """
import json, os, time
CODE = {code}
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    print(json.dumps({{"_aws": {{"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{{
        "Namespace": "Test", "Dimensions": [[]],
        "Metrics": [{{"Name": "InferenceLatency", "Unit": "Milliseconds"}}]}}]}},
        "InferenceLatency": [float(event.get("ms", 1.0))]}}))
    print("answered " + str(event.get("n")))
    return {{"code": CODE, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}}
"""

# 2000 picks at 10 %: mean 200, standard deviation sqrt(2000 * 0.1 * 0.9) ≈ 13.4; ±5 sd.
CANARY_PICKS, CANARY_LOW, CANARY_HIGH = 2000, 133, 267


@pytest.fixture(scope="module")
def python312(layer_cache_dir: Path) -> Path:
    python = python312_or_skip()
    worker_runtime_dir(python, layer_cache_dir)
    return python


@pytest.fixture
def project(tmp_path: Path, python312: Path, layer_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder the CLI and a LocalTarget share (the CLI finds the interpreter and cache by env)."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.setenv("SLS_DEPLOY_PYTHON", str(python312))
    monkeypatch.setenv("SLS_DEPLOY_CACHE_DIR", str(layer_cache_dir))
    return folder


def open_target(project: Path, **settings: Any) -> LocalTarget:
    config = ProjectConfig(project_dir=project, project="demo", **settings)
    return LocalTarget(config, rng=random.Random(7))


@pytest.fixture
def target(project: Path) -> Iterator[LocalTarget]:
    with open_target(project) as target:
        yield target


def build(tmp_path: Path, code: int) -> FunctionBuild:
    return function_build("fn", code_zip(tmp_path / f"v{code}", APP.format(code=code)))


def invoke(target: LocalTarget, event: dict[str, Any], qualifier: str = "live") -> dict[str, Any]:
    result = target.invoke("fn", json.dumps(event).encode(), qualifier=qualifier)
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def cli(project: Path, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, ["-C", str(project), *args], input=input, catch_exceptions=False)


def cli_json(project: Path, *args: str) -> Any:
    result = cli(project, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_canary_sends_about_its_share_of_live_traffic_to_the_new_version(
    target: LocalTarget, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    deployment = target.deploy(build(tmp_path, 2), canary_percent=10)
    assert deployment.version == "2" and deployment.changed
    routing = deployment.routing
    assert routing is not None and (routing.version, routing.extra_version, routing.extra_weight) == (
        "1",
        "2",
        0.1,
    )
    picks = [target.resolve("fn", "live").record.version for _ in range(CANARY_PICKS)]
    assert CANARY_LOW <= picks.count(2) <= CANARY_HIGH
    assert {target.resolve("fn", "1").record.version for _ in range(20)} == {1}  # a version is not weighted
    served = {invoke(target, {})["version"] for _ in range(40)}
    assert served == {"1", "2"}  # real invocations through `live` reach both versions


def test_promote_and_rollback_move_live_and_invocations_follow(target: LocalTarget, tmp_path: Path) -> None:
    target.deploy(build(tmp_path, 1))
    target.deploy(build(tmp_path, 2), canary_percent=30)
    change = target.promote("fn")
    assert (change.before.extra_version, change.after.version, change.after.extra_version) == ("2", "2", None)
    assert invoke(target, {})["code"] == 2
    with pytest.raises(TargetError, match="no canary"):
        target.promote("fn")
    back = target.rollback("fn")
    assert (back.before.version, back.after.version) == ("2", "1")
    assert invoke(target, {})["code"] == 1
    with pytest.raises(TargetError, match="no older version"):
        target.rollback("fn")
    assert target.rollback("fn", to="2").after.version == "2"


def test_pruning_keeps_the_last_n_versions_and_every_version_live_routes_to(
    project: Path, tmp_path: Path
) -> None:
    with open_target(project, keep_versions=1) as target:
        target.deploy(build(tmp_path, 1))
        target.deploy(build(tmp_path, 2))
        target.deploy(build(tmp_path, 3), canary_percent=20)
        assert [v.version for v in target.versions("fn").versions] == ["2", "3"]  # both serve live
        target.deploy(build(tmp_path, 4))
        listed = target.versions("fn")
        assert [v.version for v in listed.versions] == ["4"] and listed.versions[0].aliases == ("live",)
        with pytest.raises(NotDeployedError):
            target.invoke("fn", b"{}", qualifier="2")
        assert invoke(target, {})["code"] == 4


def test_metrics_and_logs_report_what_the_invocations_did(
    target: LocalTarget, project: Path, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    results = [target.invoke("fn", json.dumps({"n": n, "ms": n + 1}).encode()) for n in range(5)]
    failed = target.invoke("fn", b'{"fail": true}')
    assert failed.function_error == "Unhandled"
    cold = sum(1 for r in [*results, failed] if r.extra["cold_start"])

    metrics = cli_json(project, "metrics", "fn", "--since", "10m")
    assert (metrics["invocations"], metrics["errors"], metrics["throttles"]) == (6, 1, 0)
    assert metrics["cold_starts"] == cold >= 1 and metrics["init_duration_ms"]["count"] == cold
    assert metrics["duration_ms"]["count"] == 6 and metrics["max_concurrency"] == 1
    latency = metrics["inference_latency_ms"]
    assert (latency["count"], latency["p50"], latency["maximum"]) == (5, 3.0, 5.0)

    lines = cli(project, "logs", "fn", "--since", "10m", "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    messages = [event["message"] for event in events]
    assert sum(m.startswith("START RequestId:") for m in messages) == 6
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 6
    assert sum(m.startswith("answered") for m in messages) == 5
    assert any("asked to fail" in m for m in messages)  # the traceback of the failed invocation
    request_ids = {r.report.request_id for r in [*results, failed]}
    assert {event["request_id"] for event in events} == request_ids
    filtered = cli(project, "logs", "fn", "--filter", "answered 3").stdout
    assert "answered 3" in filtered and "answered 2" not in filtered


def test_the_version_commands_print_json_and_explain_refusals(
    target: LocalTarget, project: Path, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    target.deploy(build(tmp_path, 2), canary_percent=25)
    listed = cli_json(project, "versions", "fn")
    assert [v["version"] for v in listed["versions"]] == ["1", "2"]
    assert listed["aliases"] == [
        {"alias": "live", "version": "1", "extra_version": "2", "extra_weight": 0.25}
    ]
    assert "25 %" in cli(project, "versions", "fn").stdout
    promoted = cli_json(project, "promote", "fn")
    assert promoted["after"] == {"alias": "live", "version": "2", "extra_version": None, "extra_weight": 0.0}
    refused = cli(project, "promote", "fn")
    assert refused.exit_code == 1 and "no canary" in refused.output and "hint:" in refused.output
    rolled = cli_json(project, "rollback", "fn", "--to", "1")
    assert rolled["before"]["version"] == "2" and rolled["after"]["version"] == "1"
    unknown = cli(project, "rollback", "nope")
    assert unknown.exit_code == 1 and "fn" in unknown.output  # names the deployed functions
    assert cli(project, "logs", "fn", "--since", "yesterday").exit_code == 2


def test_remove_asks_first_and_purge_deletes_the_functions_artifacts(
    target: LocalTarget, project: Path, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    target.deploy(build(tmp_path, 2))
    declined = cli(project, "remove", "fn", input="n\n")
    assert declined.exit_code == 1 and [d.name for d in target.list()] == ["fn"]
    removed = cli_json(project, "remove", "fn", "--purge")
    assert removed["versions"] == ["1", "2"] and len(removed["purged"]) == 4  # 2 code zips + 2 trees
    assert target.list() == [] and not list((project / ".sls-deploy" / "artifacts").glob("*.zip"))
    gone = cli(project, "invoke", "fn", "--data", "{}")
    assert gone.exit_code == 1 and "no function 'fn'" in gone.output


def test_the_version_log_and_metric_commands_have_help_with_examples() -> None:
    for command in ("versions", "rollback", "promote", "remove", "logs", "metrics"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output and "--json" in result.output, command
    assert "--canary" in CliRunner().invoke(main, ["push", "--help"]).output
    assert "--event" in CliRunner().invoke(main, ["invoke", "--help"]).output


def test_a_canary_outside_0_to_100_is_a_usage_error(project: Path) -> None:
    result = cli(project, "push", "model.onnx", "--canary", "100")
    assert result.exit_code == 2 and "--canary" in result.output


BROKEN = """
def handler(event, context):
    raise RuntimeError("this release is broken")
"""


def test_a_canary_whose_new_version_fails_is_rolled_back_by_its_error_alarm(
    project: Path, tmp_path: Path
) -> None:
    heard: list[str] = []  # what `serve` prints
    config = ProjectConfig(project_dir=project, project="demo")
    with LocalTarget(config, progress=heard.append, rng=random.Random(7)) as target:
        _roll_back_a_failing_canary(target, tmp_path)
    assert [line for line in heard if "rolled back" in line] == [
        "canary version 2 rolled back, live now routes all traffic to version 1: alarm demo-fn-errors: "
        "error rate of version 2 is 100 %, above the threshold 5 % (1 of 1 invocations failed)"
    ]


def _roll_back_a_failing_canary(target: LocalTarget, tmp_path: Path) -> None:
    target.deploy(build(tmp_path, 1))
    target.deploy(function_build("fn", code_zip(tmp_path / "broken", BROKEN)), canary_percent=50)
    results = [target.invoke("fn", b"{}") for _ in range(30)]
    failed = [r for r in results if r.function_error is not None]
    assert len(failed) == 1 and failed[0].version == "2"  # the first failure ends the canary
    rolled = failed[0].extra["canary_rolled_back"]
    assert rolled["alarm"]["rule"] == "errors" and rolled["alarm"]["state"] == "ALARM"
    assert (rolled["before"]["extra_version"], rolled["after"]["version"]) == ("2", "1")
    assert any("rolled back" in w for w in failed[0].extra["warnings"])
    after = results[results.index(failed[0]) + 1 :]
    assert after and {r.version for r in after} == {"1"}
    routing = target.versions("fn").aliases[0]
    assert (routing.version, routing.extra_version) == ("1", None)
    notices = [e.message for e in target.logs("fn", 0.0, filter_text="rolled back")]
    assert len(notices) == 1 and "alarm demo-fn-errors" in notices[0]


def test_a_healthy_canary_keeps_running_with_ok_alarms_until_promoted(
    project: Path, target: LocalTarget, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    target.deploy(build(tmp_path, 2), canary_percent=50)
    versions = {invoke(target, {"n": n})["version"] for n in range(20)}
    assert versions == {"1", "2"}
    states = {state.rule: state for state in target.alarms("fn")}
    assert set(states) == {"errors", "p99-duration", "input-drift"}
    assert states["errors"].state == "OK" and states["errors"].version == "2"  # judged on the canary
    assert states["errors"].value == 0.0
    assert states["input-drift"].state == "OK" and states["input-drift"].value is None  # no drift reports
    listed = cli_json(project, "alarms", "fn")
    assert {a["rule"]: a["state"] for a in listed} == {
        "errors": "OK",
        "p99-duration": "OK",
        "input-drift": "OK",
    }
    promoted = cli_json(project, "promote", "fn")
    assert promoted["after"]["version"] == "2" and promoted["after"]["extra_version"] is None
    assert {invoke(target, {})["version"] for _ in range(5)} == {"2"}


def test_status_shows_each_models_live_version_traffic_and_alarms(
    project: Path, target: LocalTarget, tmp_path: Path
) -> None:
    target.deploy(build(tmp_path, 1))
    for n in range(3):
        invoke(target, {"n": n})
    failed = target.invoke("fn", json.dumps({"fail": True}).encode())
    assert failed.function_error == "Unhandled"
    report = cli_json(project, "status")
    (row,) = report["models"]
    assert (row["name"], row["version"], row["invocations"], row["errors"]) == ("fn", "1", 4, 1)
    assert row["cold_starts"] == 1 and row["p99_ms"] is not None and row["drift"] == "no data"
    firing = [a["rule"] for a in row["alarms"] if a["state"] == "ALARM"]
    assert firing == ["errors"]  # 1 of 4 failed: 25 % > 5 %
    text = cli(project, "status")
    assert text.exit_code == 0 and "fn" in text.output and "errors" in text.output
