"""Workers held to Lambda's CPU share: their cpu cgroup carries the quota, and no cgroup folder outlives a
worker — stopped, killed, or orphaned by a server killed hard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from sls_deploy.core.config import ProjectConfig
from sls_deploy.targets.local.cpu import cfs_quota_us, detect_cpu_enforcement, host_cpus
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import wait_until_gone
from tests.support.serve_helpers import wait_for
from tests.support.tune_helpers import REQUEST, spin_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, layer_cache_dir: Path) -> ProjectConfig:
    cpu = detect_cpu_enforcement()
    if cpu.kind != "cgroup-v1":
        pytest.skip(f"these tests read cgroup v1 files; here: {cpu.describe()}")
    return spin_project(tmp_path_factory.mktemp("cpu") / "project", layer_cache_dir)


def cpu_group(pid: int) -> Path:
    path = next(
        line.split(":", 2)[2].strip()
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        if "cpu" in line.split(":")[1].split(",")
    )
    return Path("/sys/fs/cgroup/cpu" + path)


def test_with_emulate_cpu_a_worker_runs_under_its_memory_sizes_quota_and_its_group_goes_with_it(
    project: ProjectConfig,
) -> None:
    with LocalTarget(replace(project, emulate_cpu=True)) as target:
        answer = target.invoke("spin", REQUEST)
        pid = json.loads(answer.payload)["pid"]
        group = cpu_group(pid)
        assert group.parent == detect_cpu_enforcement().base
        assert int((group / "cpu.cfs_quota_us").read_text()) == cfs_quota_us(1024, host_cpus())
        assert int((group / "cpu.cfs_period_us").read_text()) == 100_000
    assert wait_until_gone(pid) and wait_for(lambda: not group.exists()), f"{group} outlived its worker"


def test_without_emulate_cpu_workers_are_not_throttled(project: ProjectConfig) -> None:
    with LocalTarget(project) as target:
        pid = json.loads(target.invoke("spin", REQUEST).payload)["pid"]
        assert cpu_group(pid).parent != detect_cpu_enforcement().base


def test_a_worker_killed_mid_life_leaves_no_cpu_group(project: ProjectConfig) -> None:
    with LocalTarget(replace(project, emulate_cpu=True)) as target:
        pid = json.loads(target.invoke("spin", REQUEST).payload)["pid"]
        group = cpu_group(pid)
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: not group.exists()), f"{group} outlived its killed worker"


SERVER = """
import json, sys, time
from sls_deploy.core.config import load_config
from sls_deploy.targets.local.target import LocalTarget
target = LocalTarget(load_config(__import__("pathlib").Path(sys.argv[1]), {"emulate_cpu": True}))
print(json.loads(target.invoke("spin", b'{"loops": 1000}').payload)["pid"], flush=True)
time.sleep(60)
"""


def test_workers_of_a_process_killed_hard_remove_their_cpu_groups_themselves(
    project: ProjectConfig, layer_cache_dir: Path
) -> None:
    env = {**os.environ, "SLS_DEPLOY_CACHE_DIR": str(layer_cache_dir), "SLS_DEPLOY_PYTHON": project.python}
    command = [sys.executable, "-c", textwrap.dedent(SERVER), str(project.project_dir)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as server:
        assert server.stdout is not None
        pid = int(server.stdout.readline())
        group = cpu_group(pid)
        server.kill()
    assert wait_until_gone(pid, timeout_s=10), "the worker outlived its killed server"
    assert wait_for(lambda: not group.parent.exists()), f"{group.parent} was left behind"
