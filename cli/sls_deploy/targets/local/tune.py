"""The local target's power-tuning runner: the deployed `live` version at another MemorySize, without
publishing anything.

Each setting is a fresh worker (worker.py) of the version `live` serves (its main version during a canary)
whose WorkerSpec differs only in memory_mb: the function sees that AWS_LAMBDA_FUNCTION_MEMORY_SIZE, the
worker gets that memory limit and — where sandbox.detect_cpu_enforcement finds a writable cgroup — that
memory size's CPU share of Lambda's (MemorySize / 1,769 MB of a vCPU). Versions, aliases, the warm pool and
the function's logs and metrics are left alone: tuning invocations are not the function's traffic.
Where no CPU quota can be applied, `cpu_scaled` is False and monitor/tune.py estimates instead.

Side effects: starts and stops worker processes; holds a lease on the version's files while it runs.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ...core.errors import NotDeployedError, TargetError
from ...core.names import ALIAS
from ...core.records import InvokeResult
from ...package.runtime import host_layer_arch
from . import runtime_dir
from .cpu import CpuEnforcement, detect_cpu_enforcement
from .environment import WorkerSpec
from .host import invoke_result
from .routing import Resolved
from .sandbox import CGROUP_ROOT
from .target import LocalTarget
from .worker import Worker


class _WorkerInvoker:
    """Invocations of one tuning worker, answered as LocalTarget.invoke answers (not recorded)."""

    def __init__(self, worker: Worker, resolved: Resolved, warnings: builtins.list[str]) -> None:
        self.qualifier = str(resolved.record.version)
        self._worker = worker
        self._resolved = resolved
        self._warnings = warnings

    def invoke(self, name: str, payload: bytes, qualifier: str = ALIAS) -> InvokeResult:
        result = self._worker.invoke(payload)
        self._worker.acknowledge()
        problem = self._worker.cpu_problem
        if problem:  # asked for, detected, and still not applied to this worker: its figures would lie
            raise TargetError(
                f"the CPU share of {self._worker.spec.memory_mb} MB could not be applied: {problem}",
                "run tune as root on a machine with a writable cpu cgroup, or read its figures as estimates",
            )
        return invoke_result(self._resolved, result, self._warnings)


class LocalTuneRunner:
    """Runs a locally deployed function's `live` version at other memory sizes (monitor.tune.TuneRunner)."""

    target = "local"

    def __init__(self, target: LocalTarget, name: str, cgroup_root: Path = CGROUP_ROOT) -> None:
        self._target = target
        # versions() raises NotDeployedError naming what is deployed
        live = next((a for a in target.versions(name).aliases if a.alias == ALIAS), None)
        if live is None:
            raise NotDeployedError(f"{name} has no alias {ALIAS}", "push the model again")
        self._resolved = target.resolve(name, live.version)
        self._cpu: CpuEnforcement = detect_cpu_enforcement(cgroup_root)
        self.cpu_scaled = self._cpu.enforced
        self.cpu = self._cpu.describe()
        self.arch = host_layer_arch() or runtime_dir.host_machine()  # Lambda's name for this machine's
        self._spec, self._warnings = target.host.worker_spec(self._resolved)
        self._lease = target.host.lease(self._resolved.record)

    def spec_for(self, memory_mb: int) -> WorkerSpec:
        """The deployed version's worker spec at `memory_mb` (nothing else differs)."""
        return replace(self._spec, memory_mb=memory_mb)

    @contextmanager
    def setting(self, memory_mb: int) -> Iterator[_WorkerInvoker]:
        """A fresh worker at `memory_mb` (monitor.tune.Trial); stopped when the block ends."""
        worker = Worker(self.spec_for(memory_mb), cpu=self._cpu if self._cpu.enforced else None)
        try:
            yield _WorkerInvoker(worker, self._resolved, self._warnings)
        finally:
            worker.stop(grace_s=0)

    def close(self) -> None:
        self._lease.release()
