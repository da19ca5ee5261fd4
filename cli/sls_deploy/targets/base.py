"""The Target protocol: what every target offers, with the records of core.records as its answers, and the
rules both targets share."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..core.records import (
    AlarmState,
    AliasChange,
    Deployment,
    DeployPlan,
    FunctionBuild,
    FunctionVersions,
    InvokeResult,
    LogEvent,
    MetricsResult,
    PreparedBuild,
    RemoveResult,
)


def default_rollback(version: int, extra_version: int | None, existing: Sequence[int]) -> int | None:
    """Where `rollback` sends an alias by default, on every target: during a canary, the version the canary
    started from; otherwise the newest existing version older than the one it serves (None: there is none)."""
    if extra_version is not None:
        return version
    return max((v for v in existing if v < version), default=None)


class Target(Protocol):
    """What every target offers; each CLI command calls one of these, and both targets answer with the records
    of core.records. Deploying is plan, then apply: `plan` computes what must change (uploads, the stack's
    change set, versions and alias moves) and changes nothing that serves traffic; `apply` runs exactly the
    plan's steps; `discard` lets go of a plan that will not be applied (`push --dry-run`)."""

    name: str

    def ready(self) -> None:
        """Fail now (TargetError with a fix) when this target cannot be reached, before a long build."""
        ...

    def prepare(self, build: FunctionBuild) -> PreparedBuild:
        """`build` as this target runs it (local: a runtime layer for this machine, its interpreter)."""
        ...

    def plan(self, build: FunctionBuild, canary_percent: float | None = None) -> DeployPlan:
        """What deploying `build` would do: a new version only when it differs, `live` pointed at it — or,
        with a canary percentage, that share of `live`'s traffic to the new version, the rest to the old."""
        ...

    def apply(self, plan: DeployPlan) -> Deployment:
        """Carry out `plan` (made by this target's `plan`)."""
        ...

    def discard(self, plan: DeployPlan) -> None:
        """Release what `plan` holds without applying it (aws: delete the change set it created)."""
        ...

    def deploy(self, build: FunctionBuild, canary_percent: float | None = None) -> Deployment:
        """plan, then apply."""
        ...

    def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult: ...

    def list(self) -> list[Deployment]: ...

    def versions(self, name: str) -> FunctionVersions: ...

    def rollback(self, name: str, to: str | None = None) -> AliasChange:
        """Point `live` (all of its traffic) at version `to`, default: the version before the current one."""
        ...

    def promote(self, name: str) -> AliasChange:
        """End a canary: all of `live`'s traffic to its extra (new) version."""
        ...

    def remove(self, name: str, purge: bool = False) -> RemoveResult: ...

    def logs(
        self, name: str, since: float, filter_text: str | None = None, follow: bool = False
    ) -> Iterator[LogEvent]:
        """Log events from `since` (epoch seconds) on, oldest first; with follow, keeps yielding new ones."""
        ...

    def metrics(self, name: str, since: float, until: float | None = None) -> MetricsResult: ...

    def alarms(self, name: str | None = None) -> builtins.list[AlarmState]:
        """The alarm states of model `name` (None: every model): aws reads CloudWatch, local evaluates the
        same rules (core.alarm_rules) against its metric store."""
        ...
