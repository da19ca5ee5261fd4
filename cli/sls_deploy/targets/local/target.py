"""LocalTarget: the embedded Lambda emulation — deploy into the project's state folder, invoke with workers.

Deploying is plan, then apply: `plan` computes, without writing, which artifacts are new (by sha256), whether
an immutable version is published (only when code, layers or configuration differ from what `live` points
at), where `live` goes (with a canary percentage it sends that share to the new version and the rest to the
one it served) and which versions beyond config.keep_versions are pruned; `apply` carries that out and
refuses a plan the state no longer matches. invoke resolves a qualifier (routing.py: alias — weighted between
its two versions during a canary —, version number or $LATEST) and runs the event on the target's warm pool
(pool.py: workers reused per version, concurrency limits, scale to zero after config.idle_seconds; the one
invoke path, also of `open_session` and the gateway), which runs on host.py (worker specs, recording every
finished invocation with telemetry.py for `logs` and `metrics`). versions/rollback/promote/remove manage
versions and aliases (state.py). `alarms` evaluates monitor's alarm rules against the metric store, and a
canary's alarms roll it back (canary.py).

Side effects: writes below config.state_path and (the awslambdaric runtime dir) config.cache_path; starts
and stops worker processes.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...core import limits
from ...core.config import ProjectConfig
from ...core.errors import NotDeployedError, TargetError
from ...core.names import ALIAS
from ...core.progress import Progress, quiet
from ...core.records import (
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
    VersionInfo,
)
from ..events import StoredObject
from . import s3
from .canary import LocalAlarms
from .cpu import detect_cpu_enforcement
from .host import LocalHost
from .pool import WorkerPool
from .prepare import prepare_build
from .routing import Resolved, Router, routing
from .state import LocalState
from .telemetry import Telemetry
from .versions import AliasRoute, PublishPlan, VersionRecord
from .worker import Worker


class LocalSession:
    """Repeated invocations of one resolved version through the target's warm pool; `close()` stops the
    version's idle workers (a crashed worker is replaced by the pool on the next invocation)."""

    def __init__(self, target: LocalTarget, resolved: Resolved) -> None:
        self._target = target
        self._resolved = resolved
        self._worker: Worker | None = None

    @property
    def worker(self) -> Worker | None:
        """The worker that ran the last invocation."""
        return self._worker

    def invoke(self, payload: bytes) -> InvokeResult:
        result, self._worker = self._target.run(self._resolved, payload)
        return result

    def close(self) -> None:
        self._target.pool.retire(self._resolved.record)


def _check_build(build: FunctionBuild, canary_percent: float | None) -> None:
    """What Lambda would refuse about `build` (and a canary share outside 0..100), as a TargetError."""
    if canary_percent is not None and not 0.0 < canary_percent < 100.0:
        raise TargetError(
            f"a canary of {canary_percent} % is not between 0 and 100",
            "give the new version's share of traffic, e.g. --canary 10",
        )
    reserved = sorted(set(build.environment) & limits.RESERVED_ENV_VARS)
    if reserved:
        raise TargetError(
            f"{build.name}: the environment sets {', '.join(reserved)}, which Lambda reserves",
            "remove them from the function's Environment; Lambda sets them itself",
        )
    if len(build.layers) > limits.MAX_LAYERS:
        raise TargetError(
            f"{build.name} has {len(build.layers)} layers; Lambda allows {limits.MAX_LAYERS}",
            "merge layers",
        )


def _record_of(build: FunctionBuild) -> VersionRecord:
    """The version `build` would publish (its number and date are the state's to give)."""
    return VersionRecord(
        name=build.name,
        version=0,
        code_sha256=build.code.sha256,
        layer_sha256s=tuple(a.sha256 for a in build.layers),
        handler=build.handler,
        runtime=build.runtime,
        arch=build.arch,
        memory=build.memory,
        timeout=build.timeout,
        environment=dict(build.environment),
        model_sha256=build.model_sha256,
    )


def _weight(canary_percent: float | None) -> float | None:
    return None if canary_percent is None else canary_percent / 100.0


def _route_step(route: AliasRoute) -> str:
    """How apply moves `live`, in words."""
    if route.extra_version is None:
        return f"point {ALIAS} at {route.version}"
    extra = round(route.extra_weight * 100, 2)
    return f"send {extra:g} % of {ALIAS} to {route.extra_version}, {100 - extra:g} % to {route.version}"


def _settings(build: FunctionBuild) -> dict[str, Any]:
    """The function's settings a deploy writes (not part of a version: changing them publishes nothing)."""
    return {"reserved_concurrency": build.reserved_concurrency}


class LocalTarget:
    """The local target of one project (its state folder); workers run with config.python if set.

    `progress` hears about the one slow step, installing the worker runtime (pip, once per Python version),
    and about a canary rolled back by its alarms. `rng` picks an alias's version by weight during a canary.
    """

    name = "local"

    def __init__(
        self, config: ProjectConfig, progress: Progress | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.state = LocalState(config.state_path)
        self.telemetry = Telemetry(self.state, retention_days=config.log_retention_days)
        self._progress = progress or quiet
        alarms = LocalAlarms(config, self.state, self.telemetry, self._progress)
        self._alarms = alarms
        self.host = LocalHost(config, self.state, self.telemetry, alarms, self._progress)
        self._router = Router(self.state, rng)
        self._pool: WorkerPool | None = None

    # -- deploy: prepare, plan, then apply ---------------------------------------------------------------
    def ready(self) -> None:
        """Nothing to reach: the local target is this machine."""

    def prepare(self, build: FunctionBuild) -> PreparedBuild:
        """`build` with a runtime layer for this machine's architecture and the Python found for it."""
        return prepare_build(self.config, build, self._progress)

    def plan(self, build: FunctionBuild, canary_percent: float | None = None) -> DeployPlan:
        """What deploying `build` would do, computed from the state folder without writing to it."""
        _check_build(build, canary_percent)
        publish = self.state.plan_publish(
            _record_of(build), ALIAS, _weight(canary_percent), keep=self.config.keep_versions
        )
        new = [a for a in (build.code, *build.layers) if not self.state.artifact_path(a.sha256).is_file()]
        steps = [
            f"store {'the code of ' + build.name if a.kind == 'function-code' else 'layer ' + a.name} "
            f"sha256 {a.sha256[:12]}"
            for a in new
        ]
        if publish.minted:
            steps.append(f"publish version {publish.record.version} of {build.name}")
        if publish.route != publish.before:
            steps.append(_route_step(publish.route))
        steps += [f"prune version {number}" for number in publish.retired]
        if self.state.function_settings(build.name) != _settings(build):
            reserved = build.reserved_concurrency or "none"
            steps.append(f"write the settings of {build.name} (reserved concurrency: {reserved})")
        missing = self.host.runtime_to_install(publish.record)
        if missing is not None:
            steps.append(f"install the worker runtime for python{missing} (once, cached)")
        notes = () if publish.changed else (f"{build.name} version {publish.record.version} is up to date",)
        return DeployPlan(
            target=self.name,
            name=build.name,
            where=str(self.config.state_path),
            uploads=tuple(str(self.state.artifact_path(a.sha256)) for a in new),
            changes=(),
            notes=notes,
            steps=tuple(steps),
            build=build,
            canary_percent=canary_percent,
            handle=publish,
        )

    def apply(self, plan: DeployPlan) -> Deployment:
        """Carry out `plan`; TargetError when the function changed since it was planned (plan again)."""
        build, expected = plan.build, plan.handle
        if plan.target != self.name or build is None or not isinstance(expected, PublishPlan):
            raise TargetError(
                f"this plan for {plan.name} was not made by the local target",
                "plan the deploy with the target that applies it",
            )
        publication = self.state.deploy(
            _record_of(build),
            (build.code, *build.layers),
            ALIAS,
            _weight(plan.canary_percent),
            keep=self.config.keep_versions,
            expected=expected,
        )
        if self.state.function_settings(build.name) != _settings(build):
            self.state.write_function_settings(build.name, _settings(build))
        # Install the worker runtime now (slow once, cached) so the first invoke is not the slow one.
        self.host.ensure_runtime(publication.record)
        return self._deployment(publication.record, publication.changed, publication.route)

    def discard(self, plan: DeployPlan) -> None:
        """Nothing to release: a local plan holds nothing but what it computed."""

    def deploy(self, build: FunctionBuild, canary_percent: float | None = None) -> Deployment:
        return self.apply(self.plan(build, canary_percent))

    def _deployment(self, record: VersionRecord, changed: bool, route: AliasRoute | None) -> Deployment:
        project = self.config.project_name
        return Deployment(
            target=self.name,
            name=record.name,
            version=str(record.version),
            alias=ALIAS,
            changed=changed,
            endpoint=f"sls-deploy invoke {record.name}",
            function_id=f"local:{project}:{record.name}",
            routing=None if route is None else routing(ALIAS, route),
        )

    def list(self) -> builtins.list[Deployment]:
        deployments = []
        for name in self.state.function_names():
            route = self.state.alias_routes(name).get(ALIAS)
            record = self.state.read_version(name, route.version) if route is not None else None
            if record is not None:
                deployments.append(self._deployment(record, False, route))
        return deployments

    # -- versions and aliases ----------------------------------------------------------------------------
    def _require(self, name: str) -> None:
        names = self.state.function_names()
        if name not in names:
            known = ", ".join(names) or "none"
            raise NotDeployedError(
                f"no function {name!r} is deployed on the local target "
                f"({self.config.state_path}); deployed: {known}",
                "deploy it with `sls-deploy push MODEL --name NAME`" if not names else f"use one of: {known}",
            )

    def function_names(self) -> builtins.list[str]:
        """The functions deployed now."""
        return self.state.function_names()

    def function_folder(self, name: str) -> Path:
        """The function's folder in the state: every deploy, rollback, promote or remove renames a file in
        it, so its mtime changes with what the function's qualifiers resolve to."""
        return self.state.function_dir(name)

    def versions(self, name: str) -> FunctionVersions:
        self._require(name)
        routes = self.state.alias_routes(name)
        infos = []
        for number in self.state.versions(name):
            found = self.state.read_version(name, number)
            if found is None:
                continue
            infos.append(
                VersionInfo(
                    name=name,
                    version=str(number),
                    created_at=found.created_at,
                    model_sha256=found.model_sha256,
                    runtime=found.runtime,
                    arch=found.arch,
                    memory=found.memory,
                    timeout=found.timeout,
                    aliases=tuple(
                        alias for alias, route in sorted(routes.items()) if number in route.versions
                    ),
                )
            )
        return FunctionVersions(
            name=name,
            versions=tuple(infos),
            aliases=tuple(routing(alias, route) for alias, route in sorted(routes.items())),
        )

    def rollback(self, name: str, to: str | None = None) -> AliasChange:
        self._require(name)
        if to is not None and not to.isdigit():
            raise TargetError(f"{to!r} is not a version number", f"see `sls-deploy versions {name}`")
        before, after = self.state.rollback(name, ALIAS, None if to is None else int(to))
        return AliasChange(name=name, before=routing(ALIAS, before), after=routing(ALIAS, after))

    def promote(self, name: str) -> AliasChange:
        self._require(name)
        before, after = self.state.promote(name, ALIAS)
        return AliasChange(name=name, before=routing(ALIAS, before), after=routing(ALIAS, after))

    def remove(self, name: str, purge: bool = False) -> RemoveResult:
        """Remove every version and alias of `name`. With purge, also the artifacts and extracted trees no
        other function uses, and the function's logs and metrics."""
        self._require(name)
        removed = self.state.remove(name)
        purged: builtins.list[str] = []
        if purge:
            purged = [str(path) for path in self.state.collect_garbage()]
            self.telemetry.forget(name)
        return RemoveResult(
            target=self.name, name=name, versions=tuple(map(str, removed)), purged=tuple(purged)
        )

    # -- logs and metrics --------------------------------------------------------------------------------
    def _require_known(self, name: str) -> None:
        """Logs and metrics outlive a removed function (as its log group does); unknown names are errors."""
        if name not in self.state.function_names() and not self.telemetry.knows(name):
            self._require(name)

    def logs(
        self, name: str, since: float, filter_text: str | None = None, follow: bool = False
    ) -> Iterator[LogEvent]:
        self._require_known(name)
        return self.telemetry.logs(name, since, filter_text, follow)

    def metrics(self, name: str, since: float, until: float | None = None) -> MetricsResult:
        self._require_known(name)
        return self.telemetry.metrics(name, since, until)

    # -- what the gateway tells its clients ---------------------------------------------------------------
    @property
    def region(self) -> str:
        """The region the local functions see and their ARNs name."""
        return self.config.emulated_region

    @property
    def idle_seconds(self) -> int:
        """How long an idle worker stays warm."""
        return self.config.idle_seconds

    @property
    def project_name(self) -> str:
        return self.config.project_name

    def cpu_enforcement(self) -> str:
        """How workers get Lambda's CPU share of their MemorySize, or that they do not (emulate_cpu)."""
        if self.config.emulate_cpu:
            return detect_cpu_enforcement().describe()
        return "not throttled (set emulate_cpu = true for Lambda's CPU share of MemorySize)"

    # -- the local platform's S3 -------------------------------------------------------------------------
    @property
    def s3_root(self) -> Path:
        return self.host.s3_root

    def bucket(self, name: str) -> str:
        """The local bucket a function's S3 events come from: <project>-<name>-requests, as a bucket name."""
        raw = f"{self.config.project_name}-{name}-requests".lower()
        cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in raw).strip("-")
        return cleaned[:63].rstrip("-") or "sls-deploy-requests"

    def put_object(self, name: str, key: str, data: bytes) -> StoredObject:
        """Store `data` for an S3 event of `name` in its local bucket (a folder under the state folder)."""
        self._require(name)
        return s3.stored_object(s3.LocalObjectStore(self.s3_root), self.bucket(name), key, data)

    # -- alarms ------------------------------------------------------------------------------------------
    def alarms(self, name: str | None = None) -> builtins.list[AlarmState]:
        """Every alarm rule of `name` (None: every function) evaluated now against the metric store: over
        the rule's period for `live`; during a canary, the canary-gating rules over the canary version's
        life (what would roll it back)."""
        if name is not None:
            self._require(name)
        states: builtins.list[AlarmState] = []
        for function in [name] if name is not None else self.state.function_names():
            route = self.state.alias_routes(function).get(ALIAS)
            record = None if route is None else self.state.read_version(function, route.version)
            if route is not None and record is not None:
                states.extend(self._alarms.states(function, route, record))
        return states

    # -- invoke ------------------------------------------------------------------------------------------
    def resolve(self, name: str, qualifier: str) -> Resolved:
        """The version `qualifier` (alias, version number or $LATEST) of `name` names now."""
        self._require(name)
        return self._router.resolve(name, qualifier)

    @property
    def pool(self) -> WorkerPool:
        """The warm workers of this target's functions (idle ones exit after config.idle_seconds), held to
        Lambda's CPU share of their MemorySize when config.emulate_cpu is set."""
        if self._pool is None:
            cpu = detect_cpu_enforcement() if self.config.emulate_cpu else None
            self._pool = WorkerPool(self.host, idle_s=self.config.idle_seconds, cpu=cpu)
        return self._pool

    def run(self, resolved: Resolved, payload: bytes, **options: Any) -> tuple[InvokeResult, Worker]:
        """One invocation of a resolved version on the pool, and the worker that ran it (WorkerPool.run)."""
        return self.pool.run(resolved, payload, **options)

    def invoke_async(self, resolved: Resolved, payload: bytes, invoked_as: str | None = None) -> None:
        """An Event invocation in the background (WorkerPool.invoke_async)."""
        self.pool.invoke_async(resolved, payload, invoked_as=invoked_as)

    def close(self) -> None:
        """Stop every worker this target started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> LocalTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def open_session(self, name: str, qualifier: str = ALIAS) -> Iterator[LocalSession]:
        """Repeated invocations of one version (resolved once) on warm workers; its idle workers are
        stopped when the block ends."""
        session = LocalSession(self, self.resolve(name, qualifier))
        try:
            yield session
        finally:
            session.close()

    def invoke(self, name: str, payload: bytes, qualifier: str = ALIAS) -> InvokeResult:
        """One invocation on a warm worker of the resolved version (a cold start when none is idle); raises
        ThrottledError past the function's concurrency. The worker stays warm for config.idle_seconds."""
        return self.pool.invoke(self.resolve(name, qualifier), payload)
