"""`tune` on the local target: real workers of a deployed function at other memory sizes, held to each
size's CPU share by a cgroup CPU quota — or, where none can be written, figures labelled as estimates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.commands.factory import open_tune_runner
from sls_deploy.core.config import ProjectConfig, load_config
from sls_deploy.core.prices import US_EAST_1
from sls_deploy.monitor.tune import tune
from sls_deploy.targets.local.cpu import detect_cpu_enforcement
from sls_deploy.targets.local.target import LocalTarget
from tests.support.tune_helpers import REQUEST, spin_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, layer_cache_dir: Path) -> ProjectConfig:
    return spin_project(tmp_path_factory.mktemp("tune") / "project", layer_cache_dir)


@pytest.fixture
def target(project: ProjectConfig) -> Iterator[LocalTarget]:
    with LocalTarget(project) as local:
        yield local


def cpu_cgroups_or_skip() -> None:
    cpu = detect_cpu_enforcement()
    if not cpu.enforced:
        pytest.skip(cpu.describe())


def test_duration_falls_as_memory_grows_to_one_vcpu_and_the_cheapest_setting_is_chosen(
    target: LocalTarget,
) -> None:
    cpu_cgroups_or_skip()
    versions_before = target.versions("spin")
    result = tune(
        open_tune_runner(target, "spin"),
        "spin",
        REQUEST,
        prices=US_EAST_1,
        memories=[128, 1769],
        archs=["x86_64"],
        count=3,
    )
    small, vcpu = result.row(128, "x86_64"), result.row(1769, "x86_64")
    assert small is not None and vcpu is not None
    assert small.source == vcpu.source == "measured"
    # 128 MB gets 128/1769 of a vCPU: the same work takes several times longer (a loose bound, not a timing)
    assert small.p50_ms is not None and vcpu.p50_ms is not None and small.p50_ms > 2 * vcpu.p50_ms
    cheapest = min((small, vcpu), key=lambda row: row.cost_total)
    assert result.chosen == cheapest and "cheapest" in cheapest.verdicts and "chosen" in cheapest.verdicts
    assert target.versions("spin") == versions_before  # nothing published, no alias moved
    base = detect_cpu_enforcement().base
    assert base is not None and not [p for p in base.iterdir() if p.is_dir()]  # no worker cgroup left


def test_each_setting_runs_with_its_own_memory_size(target: LocalTarget) -> None:
    runner = open_tune_runner(target, "spin")
    try:
        with runner.setting(256) as trial:
            answer = trial.invoke("spin", REQUEST, trial.qualifier)
    finally:
        runner.close()
    assert json.loads(answer.payload)["memory"] == "256" and answer.report.memory_size_mb == 256
    assert answer.extra["cold_start"]


def test_without_a_writable_cgroup_the_figures_are_labelled_estimates(
    target: LocalTarget, tmp_path: Path
) -> None:
    runner = open_tune_runner(target, "spin", cgroup_root=tmp_path)  # no cgroup file system there
    assert not runner.cpu_scaled and runner.cpu.startswith("CPU share not emulated: ")
    result = tune(
        runner, "spin", REQUEST, prices=US_EAST_1, memories=[128, 1769], archs=["x86_64", "arm64"], count=2
    )
    sources = {(row.memory_mb, row.arch): row.source for row in result.rows}
    assert sources == {
        (128, "x86_64"): "estimated",
        (1769, "x86_64"): "estimated",
        (128, "arm64"): "projected",
        (1769, "arm64"): "projected",
    }
    small, vcpu = result.row(128, "x86_64"), result.row(1769, "x86_64")
    assert small is not None and vcpu is not None and small.p50_ms and vcpu.p50_ms
    assert small.p50_ms == pytest.approx(vcpu.p50_ms * 1769 / 128)  # scaled by the CPU share, not measured
    assert "ESTIMATES" in result.notes[0] and "CPU share not emulated" in result.notes[0]
    assert "estimated" in small.note


def test_the_cli_tunes_writes_the_chart_and_applies_the_choice_to_the_config_file(
    project: ProjectConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu_cgroups_or_skip()
    config_file = project.project_dir / "sls-deploy.toml"
    config_file.write_text(
        f'project = "tune"  # the stack\npython = "{project.python}"\ncache_dir = "{project.cache_dir}"\n'
        "memory = 1024  # MB\n\n[prices]\nmultiplier = 1.0\n"
    )
    request = tmp_path / "request.json"
    request.write_bytes(REQUEST)
    out_dir = tmp_path / "charts"
    result = CliRunner().invoke(
        main,
        ["-C", str(project.project_dir), "tune", "spin", "--memory", "128,1769", "--arch", "x86_64,arm64"]
        + ["--payload", str(request), "-n", "2", "--apply", "--out", str(out_dir), "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    chosen = data["chosen"]
    assert chosen["arch"] == "arm64"  # same duration projected, 20 % cheaper per GB-second
    assert {row["source"] for row in data["rows"]} == {"measured", "projected"}
    png = out_dir / "tune-spin.png"
    assert png.read_bytes().startswith(b"\x89PNG") and (out_dir / "tune-spin.html").is_file()
    assert data["files"] == [str(png), str(out_dir / "tune-spin.html"), str(out_dir / "tune-spin.json")]
    text = config_file.read_text()
    assert f"memory = {chosen['memory_mb']}  # MB" in text and text.endswith("[prices]\nmultiplier = 1.0\n")
    reloaded = load_config(project.project_dir)
    assert (reloaded.memory, reloaded.arch, reloaded.project) == (chosen["memory_mb"], "arm64", "tune")
