"""Lambda's CPU share of a memory size as a CFS quota, and how its absence is detected and said."""

from __future__ import annotations

import os
from pathlib import Path

from sls_deploy.core import limits
from sls_deploy.targets.local.cpu import (
    CFS_PERIOD_US,
    CpuEnforcement,
    cfs_quota_us,
    cpu_share,
    detect_cpu_enforcement,
)


def test_one_vcpu_at_1769_mb_and_proportionally_less_below() -> None:
    assert cpu_share(limits.MEMORY_MB_PER_VCPU) == 1.0
    assert cpu_share(128) == 128 / 1769
    assert cfs_quota_us(1769, cpus=2) == CFS_PERIOD_US
    assert cfs_quota_us(128, cpus=2) == round(CFS_PERIOD_US * 128 / 1769)  # 7,236 µs every 100 ms


def test_the_share_never_passes_six_vcpus_nor_this_machines_cores() -> None:
    assert cpu_share(limits.MAX_MEMORY_MB) == limits.MAX_MEMORY_MB / 1769 <= limits.MAX_VCPUS
    assert cpu_share(20_000) == limits.MAX_VCPUS
    assert cfs_quota_us(3008, cpus=2) == round(CFS_PERIOD_US * 3008 / 1769)
    assert cfs_quota_us(limits.MAX_MEMORY_MB, cpus=2) == 2 * CFS_PERIOD_US


def test_a_root_without_a_cgroup_file_system_says_the_share_is_not_emulated(tmp_path: Path) -> None:
    found = detect_cpu_enforcement(tmp_path)
    assert not found.enforced
    assert found.describe().startswith("CPU share not emulated: ")
    assert str(tmp_path / "cpu") in found.reason


def test_plain_folders_shaped_like_a_cgroup_mount_are_not_taken_for_one(tmp_path: Path) -> None:
    own = next(
        line.split(":", 2)[2].strip()
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if "cpu" in line.split(":")[1].split(",") or line.split(":")[1] == ""
    )
    group = tmp_path / "cpu" / own.lstrip("/")
    group.mkdir(parents=True, exist_ok=True)
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    found = detect_cpu_enforcement(tmp_path)
    assert not found.enforced and "cannot create a cpu cgroup" in found.reason
    assert not (group / f"sls-deploy-{os.getpid()}").exists()  # nothing left behind


def test_an_enforced_share_describes_its_quota() -> None:
    text = CpuEnforcement("cgroup-v1", Path("/sys/fs/cgroup/cpu/x"), cpus=2).describe()
    assert "MemorySize / 1769 MB of a vCPU" in text and "at most 2 vCPUs" in text
