"""Lambda's CPU share for a worker: MemorySize / 1,769 MB of a vCPU (one full vCPU at 1,769 MB, at most 6),
which a worker gets when its caller asks for it (`detect_cpu_enforcement()`; config `emulate_cpu`, and
always for `tune`). Where it can, a CFS quota per worker: cgroup v1 `cpu.cfs_quota_us` =
`cpu.cfs_period_us` (100 ms) × share in a `cpu` cgroup beside the memory one
(`<cpu mount>/<own group>/sls-deploy-<pid>/w<n>`), cgroup v2 `cpu.max` in the worker's (shared) cgroup. The
share is also capped at this machine's cores. Where neither can be written, nothing pretends:
`CpuEnforcement.describe()` says "CPU share not emulated: <why>" and workers run unthrottled.

The cgroup plumbing (joining, creating, removing) is sandbox.py's, shared with the memory limit.

Side effects: creates and removes cgroup folders under /sys/fs/cgroup and writes their cpu control files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...core import limits
from .sandbox import (
    CGROUP_ROOT,
    DETECT_LOCK,
    GROUP_NUMBERS,
    LIVE_GROUPS,
    OTHER_BASES,
    detect_memory_enforcement,
    joiner,
    own_cgroup,
    prepare_base,
    remove_group,
)

CFS_PERIOD_US = 100_000  # the CFS period the quota is a share of (the kernel's default)
CFS_MIN_QUOTA_US = 1_000  # the smallest quota the kernel accepts


def cpu_share(memory_mb: int, host_cpus: int | None = None) -> float:
    """The vCPUs Lambda gives `memory_mb` (MemorySize / 1,769 MB, at most 6), capped at `host_cpus`."""
    share = limits.lambda_vcpus(memory_mb)
    return min(share, float(host_cpus)) if host_cpus is not None else share


def host_cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cfs_quota_us(memory_mb: int, cpus: int) -> int:
    """The CFS quota per CFS_PERIOD_US giving a worker of `memory_mb` its CPU share on `cpus` cores."""
    return max(CFS_MIN_QUOTA_US, round(CFS_PERIOD_US * cpu_share(memory_mb, cpus)))


@dataclass(frozen=True)
class CpuEnforcement:
    """How this machine gives a worker Lambda's CPU share, or why it cannot."""

    kind: str  # "cgroup-v1" | "cgroup-v2" | "none"
    base: Path | None = None  # cgroup-v1: the folder holding this process's worker cpu cgroups
    reason: str = ""  # kind "none": why not
    cpus: int = 1  # this machine's cores: no share above them

    @property
    def enforced(self) -> bool:
        return self.kind != "none"

    def describe(self) -> str:
        if not self.enforced:
            return f"CPU share not emulated: {self.reason}"
        where = f" under {self.base}" if self.base is not None else " in each worker's memory cgroup"
        return (
            f"{self.kind} CPU quota per worker = MemorySize / {limits.MEMORY_MB_PER_VCPU} MB of a vCPU "
            f"(period {CFS_PERIOD_US // 1000} ms; at most {min(limits.MAX_VCPUS, self.cpus)} vCPUs here)"
            f"{where}"
        )


class CpuLimit:
    """The CPU quota of one worker process: `preexec` joins its cpu cgroup (v1; on v2 the memory cgroup
    the worker joins holds the quota), `applied` says whether a quota is in force, `release` cleans up."""

    def __init__(self, enforcement: CpuEnforcement, memory_mb: int, memory_group: Path | None) -> None:
        self.enforcement = enforcement
        self.memory_mb = memory_mb
        self.problem = ""
        self._group: Path | None = None
        self._applied = False
        quota = f"{cfs_quota_us(memory_mb, enforcement.cpus)}"
        if enforcement.kind == "cgroup-v1" and enforcement.base is not None:
            self._group = enforcement.base / f"w{next(GROUP_NUMBERS)}"
            try:
                self._group.mkdir()
                LIVE_GROUPS.add(self._group)
                (self._group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (self._group / "cpu.cfs_quota_us").write_text(quota)
                self._applied = True
            except OSError as exc:
                self.problem = f"cannot set the quota in {self._group}: {exc.strerror or exc}"
                self.release()
        elif enforcement.kind == "cgroup-v2":
            if memory_group is None:
                self.problem = "the worker has no cgroup to hold a quota (its memory is watched by RSS)"
            else:
                try:
                    (memory_group / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
                    self._applied = True
                except OSError as exc:
                    self.problem = f"cannot write {memory_group / 'cpu.max'}: {exc.strerror or exc}"

    @property
    def applied(self) -> bool:
        return self._applied

    def preexec(self) -> Callable[[], None] | None:
        """The function a child runs between fork and exec to join the cpu cgroup (None when there is
        nothing to join). Three system calls, as MemoryLimit.preexec."""
        if self._group is None or not self._applied:
            return None
        return joiner(str(self._group / "cgroup.procs"))

    def release(self) -> None:
        """Remove the worker's cpu cgroup (after the worker was reaped)."""
        if self._group is not None:
            remove_group(self._group)
            self._group = None


_CPU_DETECTED: dict[Path, CpuEnforcement] = {}


def detect_cpu_enforcement(root: Path = CGROUP_ROOT) -> CpuEnforcement:
    """How workers get their CPU share here (decided once per root): a writable cgroup v1 `cpu` controller
    under `root`, else the cgroup v2 `cpu` controller beside the v2 memory cgroups, else "none" with why."""
    with DETECT_LOCK:
        known = _CPU_DETECTED.get(root)
    if known is not None:
        return known
    cpus = host_cpus()
    v1 = _try_cpu_v1(root, cpus)
    found: CpuEnforcement | str = v1 if isinstance(v1, CpuEnforcement) else _try_cpu_v2(root, cpus)
    if isinstance(found, str):
        found = CpuEnforcement("none", reason=f"{v1}; {found}", cpus=cpus)
    with DETECT_LOCK:
        if root not in _CPU_DETECTED and found.kind == "cgroup-v1" and found.base is not None:
            OTHER_BASES.append(found.base)  # removed with the memory cgroups' folder (sandbox.release_all)
        return _CPU_DETECTED.setdefault(root, found)


def _try_cpu_v1(root: Path, cpus: int) -> CpuEnforcement | str:
    """A cgroup v1 cpu enforcement, or why not."""
    mount = root / "cpu"
    own = own_cgroup("cpu")
    if own is None or not (mount / "cpu.cfs_quota_us").is_file():
        return f"no cgroup v1 cpu controller at {mount}"
    base = mount / own.lstrip("/") / f"sls-deploy-{os.getpid()}"

    def probe(group: Path) -> None:
        if not (group / "cpu.cfs_quota_us").is_file():  # a plain folder: not a cgroup file system
            raise OSError(f"{group} is not a cgroup (no cpu.cfs_quota_us)")
        (group / "cpu.cfs_quota_us").write_text(str(CFS_PERIOD_US))

    if prepare_base(base, probe=probe) is None:
        return f"cannot create a cpu cgroup with a quota under {base.parent} (not writable here)"
    return CpuEnforcement("cgroup-v1", base, cpus=cpus)


def _try_cpu_v2(root: Path, cpus: int) -> CpuEnforcement | str:
    """The cgroup v2 cpu controller in the v2 memory cgroups' folder, or why not."""
    memory = detect_memory_enforcement()
    if memory.kind != "cgroup-v2" or memory.base is None or not memory.base.is_relative_to(root):
        return f"no cgroup v2 memory cgroup per worker under {root} to hold a cpu.max"
    try:
        if "cpu" not in (memory.base.parent / "cgroup.subtree_control").read_text().split():
            return f"the cgroup v2 cpu controller is not delegated to {memory.base.parent}"
        (memory.base / "cgroup.subtree_control").write_text("+cpu")
        probe = memory.base / "probe-cpu"
        probe.mkdir(exist_ok=True)
        try:
            (probe / "cpu.max").write_text(f"{CFS_PERIOD_US} {CFS_PERIOD_US}")
        finally:
            probe.rmdir()
    except OSError as exc:
        return f"cannot enable the cgroup v2 cpu controller in {memory.base}: {exc.strerror or exc}"
    return CpuEnforcement("cgroup-v2", None, cpus=cpus)
