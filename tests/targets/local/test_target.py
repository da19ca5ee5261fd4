"""LocalTarget end to end: deploy tiny functions into a project's state folder and invoke them for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import InvocationError, NotDeployedError, TargetError
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import (
    code_zip,
    function_build,
    layer_zip,
    python312_or_skip,
    wait_until_gone,
    worker_runtime_dir,
)

APP_V1 = """
import os, mod
def handler(event, context):
    if event.get("exit"):
        os._exit(1)
    return {"code": 1, "who": mod.WHO, "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "model": open(os.path.join(os.environ["SLS_MODEL_DIR"], "model.json")).read(), "pid": os.getpid()}
"""
APP_V2 = APP_V1.replace('"code": 1', '"code": 2')


@pytest.fixture(scope="module")
def python312(layer_cache_dir: Path) -> Path:
    python = python312_or_skip()
    worker_runtime_dir(python, layer_cache_dir)  # built (or found) in the shared test cache
    return python


@pytest.fixture
def target(tmp_path: Path, python312: Path, layer_cache_dir: Path) -> Iterator[LocalTarget]:
    config = ProjectConfig(
        project_dir=tmp_path / "project",
        project="demo",
        cache_dir=str(layer_cache_dir),
        python=str(python312),
    )
    with LocalTarget(config) as target:  # stops its warm workers when the test ends
        yield target


def layers(folder: Path) -> tuple[Artifact, Artifact]:
    runtime = layer_zip(folder / "runtime", {"python/mod.py": "WHO = 'runtime layer'\n"}, name="runtime")
    model = layer_zip(
        folder / "model",
        {"model/model.json": '{"name": "m"}', "python/mod.py": "WHO = 'model'\n"},
        name="model",
    )
    return runtime, model


def invoke_json(
    target: LocalTarget, name: str, event: dict[str, Any], qualifier: str = "live"
) -> dict[str, Any]:
    result = target.invoke(name, json.dumps(event).encode(), qualifier=qualifier)
    assert result.function_error is None, result.payload
    return json.loads(result.payload)


def test_deploying_the_same_artifacts_twice_keeps_the_version_and_reports_no_change(
    target: LocalTarget, tmp_path: Path
) -> None:
    build = function_build(
        "digits",
        code_zip(tmp_path / "v1", APP_V1),
        layers(tmp_path),
        environment={"SLS_MODEL_DIR": "/opt/model"},
    )
    first = target.deploy(build)
    second = target.deploy(build)
    assert (first.version, first.changed) == ("1", True)
    assert (second.version, second.changed) == ("1", False)
    assert first.function_id == "local:demo:digits" and first.alias == "live" and first.target == "local"
    assert [d.name for d in target.list()] == ["digits"]


def test_a_changed_artifact_publishes_version_2_moves_live_and_version_1_stays_invocable(
    target: LocalTarget, tmp_path: Path
) -> None:
    env = {"SLS_MODEL_DIR": "/opt/model"}
    target.deploy(
        function_build("digits", code_zip(tmp_path / "v1", APP_V1), layers(tmp_path), environment=env)
    )
    second = target.deploy(
        function_build("digits", code_zip(tmp_path / "v2", APP_V2), layers(tmp_path), environment=env)
    )
    assert (second.version, second.changed) == ("2", True)
    live = invoke_json(target, "digits", {})
    old = invoke_json(target, "digits", {}, qualifier="1")
    latest = invoke_json(target, "digits", {}, qualifier="$LATEST")
    assert (live["code"], live["version"]) == (2, "2")
    assert (old["code"], old["version"]) == (1, "1")
    assert latest["code"] == 2
    assert target.list()[0].version == "2"


def test_layers_are_mounted_in_order_and_opt_paths_in_the_environment_point_at_them(
    target: LocalTarget, tmp_path: Path
) -> None:
    target.deploy(
        function_build(
            "digits",
            code_zip(tmp_path / "v1", APP_V1),
            layers(tmp_path),
            environment={"SLS_MODEL_DIR": "/opt/model"},
        )
    )
    body = invoke_json(target, "digits", {})
    assert body["who"] == "model"  # the later layer's python/mod.py overwrote the earlier one's
    assert json.loads(body["model"]) == {"name": "m"}


def test_an_invoke_result_carries_the_report_logs_and_a_cold_start_flag(
    target: LocalTarget, tmp_path: Path
) -> None:
    code = code_zip(
        tmp_path / "app",
        "def handler(event, context):\n    print('hello from the handler')\n    return {'ok': True}\n",
    )
    target.deploy(function_build("hello", code, memory=256))
    result = target.invoke("hello", b"{}")
    assert json.loads(result.payload) == {"ok": True}
    assert (result.name, result.version, result.status_code) == ("hello", "1", 200)
    assert result.report.memory_size_mb == 256 and result.report.init_duration_ms is not None
    lines = result.log_tail.splitlines()
    assert lines[0] == f"START RequestId: {result.report.request_id} Version: 1"
    assert "hello from the handler" in lines
    assert lines[-1] == f"END RequestId: {result.report.request_id}"
    assert result.extra["cold_start"] is True and result.extra["warnings"] == []


def test_a_session_keeps_the_worker_warm_and_replaces_a_crashed_one(
    target: LocalTarget, tmp_path: Path
) -> None:
    target.deploy(
        function_build(
            "digits",
            code_zip(tmp_path / "v1", APP_V1),
            layers(tmp_path),
            environment={"SLS_MODEL_DIR": "/opt/model"},
        )
    )
    with target.open_session("digits") as session:
        first = session.invoke(b"{}")
        second = session.invoke(b"{}")
        crashed = session.invoke(b'{"exit": true}')
        assert session.worker is not None
        crashed_pid = session.worker.pid
        after = session.invoke(b"{}")
        last_pid = session.worker.pid
    assert first.extra["cold_start"] and not second.extra["cold_start"]
    assert json.loads(first.payload)["pid"] == json.loads(second.payload)["pid"]
    assert crashed.function_error == "Unhandled" and crashed.extra["error_type"] == "Runtime.ExitError"
    assert after.function_error is None and after.extra["cold_start"]
    assert json.loads(after.payload)["pid"] != json.loads(first.payload)["pid"]
    assert crashed_pid is not None and wait_until_gone(crashed_pid)
    assert last_pid is not None and wait_until_gone(last_pid)


def test_invoking_an_unknown_function_names_the_deployed_ones(target: LocalTarget, tmp_path: Path) -> None:
    target.deploy(function_build("digits", code_zip(tmp_path / "v1", APP_V1), layers(tmp_path)))
    with pytest.raises(NotDeployedError) as info:
        target.invoke("iris", b"{}")
    assert "digits" in info.value.hint


def test_invoking_an_unknown_qualifier_lists_the_valid_ones(target: LocalTarget, tmp_path: Path) -> None:
    target.deploy(function_build("digits", code_zip(tmp_path / "v1", APP_V1), layers(tmp_path)))
    with pytest.raises(NotDeployedError) as info:
        target.invoke("digits", b"{}", qualifier="7")
    assert "live" in info.value.hint and "1" in info.value.hint


def test_a_request_over_the_synchronous_payload_limit_is_refused(target: LocalTarget, tmp_path: Path) -> None:
    target.deploy(function_build("digits", code_zip(tmp_path / "v1", APP_V1), layers(tmp_path)))
    with pytest.raises(InvocationError, match="at most"):
        target.invoke("digits", b" " * (6 * 1024 * 1024 + 1))


def test_an_environment_setting_a_reserved_lambda_variable_is_refused(
    target: LocalTarget, tmp_path: Path
) -> None:
    with pytest.raises(TargetError, match="AWS_REGION"):
        target.deploy(
            function_build(
                "digits",
                code_zip(tmp_path / "v1", APP_V1),
                layers(tmp_path),
                environment={"AWS_REGION": "eu-west-1"},
            )
        )


def test_a_plan_says_what_apply_will_do_and_writes_nothing(target: LocalTarget, tmp_path: Path) -> None:
    runtime, model = layers(tmp_path)
    build = function_build("digits", code_zip(tmp_path / "v1", APP_V1), (runtime, model))
    plan = target.plan(build)
    assert not target.state.root.exists() or target.state.function_names() == []
    assert plan.steps == (
        f"store the code of digits sha256 {build.code.sha256[:12]}",
        f"store layer runtime sha256 {runtime.sha256[:12]}",
        f"store layer model sha256 {model.sha256[:12]}",
        "publish version 1 of digits",
        "point live at 1",
        "write the settings of digits (reserved concurrency: none)",
    )
    deployed = target.apply(plan)
    assert (deployed.version, deployed.changed) == ("1", True)
    again = target.plan(build)
    assert again.steps == () and again.notes == ("digits version 1 is up to date",)
    assert target.apply(again) == target.deploy(build)


def test_a_canary_plan_splits_live_and_prunes_what_is_kept_no_longer(
    target: LocalTarget, tmp_path: Path
) -> None:
    target = LocalTarget(replace(target.config, keep_versions=3))
    builds = [function_build("digits", code_zip(tmp_path / f"v{n}", APP_V1 + f"# {n}\n")) for n in range(4)]
    for build in builds[:3]:
        target.deploy(build)
    plan = target.plan(builds[3], canary_percent=10)
    assert plan.steps[1:] == (
        "publish version 4 of digits",
        "send 10 % of live to 4, 90 % to 3",
        "prune version 1",
    )
    deployed = target.apply(plan)
    assert deployed.routing is not None and deployed.routing.extra_version == "4"
    assert target.state.versions("digits") == [2, 3, 4]


def test_apply_refuses_a_plan_the_state_no_longer_matches(target: LocalTarget, tmp_path: Path) -> None:
    first = function_build("digits", code_zip(tmp_path / "v1", APP_V1))
    target.deploy(first)
    stale = target.plan(function_build("digits", code_zip(tmp_path / "v2", APP_V2)))
    target.deploy(function_build("digits", code_zip(tmp_path / "v3", APP_V2 + "# 3\n")))
    with pytest.raises(TargetError, match="changed on the local target since this deploy was planned") as err:
        target.apply(stale)
    assert "plan again" in err.value.hint
    assert target.list()[0].version == "2"
    target.discard(stale)
