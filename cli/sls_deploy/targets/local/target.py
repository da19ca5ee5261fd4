"""LocalTarget: the embedded Lambda emulation — deploy into the project's state folder, invoke with workers.

deploy copies the artifacts into the state by hash and publishes an immutable version only when code, layers
or configuration differ from what `live` points at (with a canary percentage, `live` sends that share to the
new version and the rest to the one it served), then prunes versions beyond config.keep_versions; invoke
resolves a qualifier (alias — weighted between its two versions during a canary —, version number or
$LATEST) and runs the event on the target's warm pool (pool.py: workers reused per version, concurrency
limits, scale to zero after config.idle_seconds; the one invoke path, also of `open_session` and the
gateway). versions/rollback/promote/remove manage versions
and aliases (state.py); every finished invocation is recorded by telemetry.py for `logs` and `metrics`.
`alarms` evaluates monitor.alarms' rules (the ones the template renders as CloudWatch alarms) against that
store; during a canary, an invocation of the canary version re-evaluates the canary-gating rules over the
canary's invocations (on every failure, else at most every CANARY_CHECK_S) and an alarm routes `live` back to
the version the canary started from, as CodeDeploy does on AWS.

Workers get the local platform's environment too: AWS_ENDPOINT_URL_S3 pointing at the state folder's local
S3 endpoint (s3.py), where S3 events' objects live, and — unless the caller passes AWS credentials or an
endpoint of its own — the credentials of a local role, as a real function gets its role's.

The worker's interpreter is found for the version's runtime (FunctionBuild.runtime, e.g. "python3.12": the
Python the runtime layer was built for) with interpreters.find_interpreter, honouring config.python. When
none is found the host interpreter runs it, with a warning in InvokeResult.extra["warnings"]: compiled
packages in the layers only import when the layer was built for that Python.

Side effects: writes below config.state_path and (the awslambdaric runtime dir) config.cache_path; starts
and stops worker processes.
"""

from __future__ import annotations

import builtins
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...core import interpreters, limits
from ...core.alarm_rules import AlarmRule, alarm_name, alarm_rules
from ...core.config import ProjectConfig
from ...core.errors import NotDeployedError, TargetError
from ...core.names import function_name
from ...core.records import (
    AlarmState,
    AliasChange,
    AliasRouting,
    Deployment,
    FunctionBuild,
    FunctionVersions,
    InvokeResult,
    LogEvent,
    MetricsResult,
    RemoveResult,
    VersionInfo,
)
from ..events import StoredObject
from . import runtime_dir, s3
from .pool import WorkerPool
from .sandbox import detect_cpu_enforcement
from .state import AliasRoute, LocalState, VersionRecord
from .telemetry import Telemetry
from .worker import Worker, WorkerResult, WorkerSpec

LOG_TAIL_BYTES = 4096  # Lambda's X-Amz-Log-Result carries the last 4 KB of the invocation's log
ALIAS = "live"
CANARY_CHECK_S = 1.0  # a healthy canary's alarms are evaluated at most this often (every failure at once)
# A local function's role: S3 calls go to the local endpoint, which does not check signatures.
LOCAL_ROLE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ASIALOCALSLSDEPLOY00", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True)
class Resolved:
    record: VersionRecord
    qualifier: str
    route: AliasRoute | None = None  # the alias's routing when the qualifier named an alias

    @property
    def canary(self) -> bool:
        """Whether this is the canary (extra) version of the alias it was picked from."""
        return self.route is not None and self.route.extra_version == self.record.version


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
        result, self._worker = self._target.pool.run(self._resolved, payload)
        return result

    def close(self) -> None:
        self._target.pool.retire(self._resolved.record)


def _log_tail(record: VersionRecord, result: WorkerResult) -> str:
    """START, the function's lines (awslambdaric's \\r line breaks made real), END — as X-Amz-Log-Result,
    without the REPORT line, which InvokeResult.report carries."""
    lines = [
        f"START RequestId: {result.request_id} Version: {record.version}",
        *(line.replace("\r", "\n") for line in result.logs),
        f"END RequestId: {result.request_id}",
    ]
    text = "\n".join(lines) + "\n"
    data = text.encode("utf-8")
    if len(data) > LOG_TAIL_BYTES:
        text = data[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")
    return text


def invoke_result(resolved: Resolved, result: WorkerResult, warnings: list[str]) -> InvokeResult:
    extra: dict[str, object] = {
        "warnings": list(warnings),
        "cold_start": result.cold,
        "qualifier": resolved.qualifier,
    }
    if result.error_type is not None:
        extra["error_type"] = result.error_type
    return InvokeResult(
        name=resolved.record.name,
        version=str(resolved.record.version),
        status_code=200,
        payload=result.payload,
        function_error=result.function_error,
        report=result.report,
        log_tail=_log_tail(resolved.record, result),
        extra=extra,
    )


class LocalTarget:
    """The local target of one project (its state folder); workers run with config.python if set.

    `progress` hears about the one slow step, installing the worker runtime (pip, once per Python version),
    and about a canary rolled back by its alarms.
    """

    name = "local"

    def __init__(
        self,
        config: ProjectConfig,
        progress: runtime_dir.Progress | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.state = LocalState(config.state_path)
        self.telemetry = Telemetry(self.state, retention_days=config.log_retention_days)
        self._progress = progress or (lambda _: None)
        self._rng = rng or random.Random()  # picks an alias's version by weight during a canary
        self._pool: WorkerPool | None = None
        self._canary_checked: dict[tuple[str, int], float] = {}  # (function, version) → last evaluation

    # -- deploy ------------------------------------------------------------------------------------------
    def deploy(self, build: FunctionBuild, canary_percent: float | None = None) -> Deployment:
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
        layer_shas = tuple(a.sha256 for a in build.layers)
        environment = dict(build.environment)
        record = VersionRecord(
            name=build.name,
            version=0,
            code_sha256=build.code.sha256,
            layer_sha256s=layer_shas,
            handler=build.handler,
            runtime=build.runtime,
            arch=build.arch,
            memory=build.memory,
            timeout=build.timeout,
            environment=environment,
            model_sha256=build.model_sha256,
        )
        weight = None if canary_percent is None else canary_percent / 100.0
        publication = self.state.deploy(
            record, (build.code, *build.layers), ALIAS, weight, keep=self.config.keep_versions
        )
        published = publication.record
        self.state.write_function_settings(build.name, {"reserved_concurrency": build.reserved_concurrency})
        # Install the worker runtime now (slow once, cached) so the first invoke is not the slow one.
        interpreter, python_version, _ = self._interpreter_for(published)
        runtime_dir.ensure_runtime_dir(interpreter, python_version, self.config.cache_path, self._progress)
        return self._deployment(published, publication.changed, publication.route)

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
            routing=None if route is None else _routing(ALIAS, route),
        )

    def list(self) -> list[Deployment]:
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
            aliases=tuple(_routing(alias, route) for alias, route in sorted(routes.items())),
        )

    def rollback(self, name: str, to: str | None = None) -> AliasChange:
        self._require(name)
        if to is not None and not to.isdigit():
            raise TargetError(f"{to!r} is not a version number", f"see `sls-deploy versions {name}`")
        before, after = self.state.rollback(name, ALIAS, None if to is None else int(to))
        return AliasChange(name=name, before=_routing(ALIAS, before), after=_routing(ALIAS, after))

    def promote(self, name: str) -> AliasChange:
        self._require(name)
        before, after = self.state.promote(name, ALIAS)
        return AliasChange(name=name, before=_routing(ALIAS, before), after=_routing(ALIAS, after))

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

    # -- the local platform's S3 -------------------------------------------------------------------------
    @property
    def s3_root(self) -> Path:
        return self.state.root / "s3"

    def bucket(self, name: str) -> str:
        """The local bucket a function's S3 events come from: <project>-<name>-requests, as a bucket name."""
        raw = f"{self.config.project_name}-{name}-requests".lower()
        cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in raw).strip("-")
        return cleaned[:63].rstrip("-") or "sls-deploy-requests"

    def put_object(self, name: str, key: str, data: bytes) -> StoredObject:
        """Store `data` for an S3 event of `name` in its local bucket (a folder under the state folder)."""
        self._require(name)
        return s3.stored_object(s3.LocalObjectStore(self.s3_root), self.bucket(name), key, data)

    def platform_environment(self) -> dict[str, str]:
        """What the local platform adds to every worker's environment (the function's own variables win):
        its S3 endpoint and a local role's credentials, unless the caller passes its own (then they reach
        the function as they do now, see worker.PASSTHROUGH_VARS)."""
        if any(key.startswith("AWS_ENDPOINT_URL") for key in os.environ):
            return {}
        environment = {"AWS_ENDPOINT_URL_S3": s3.shared_server(self.s3_root).endpoint}
        if not any(key in os.environ for key in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE")):
            environment.update(LOCAL_ROLE_CREDENTIALS)
        return environment

    # -- invoke ------------------------------------------------------------------------------------------
    def resolve(self, name: str, qualifier: str) -> Resolved:
        self._require(name)
        routes = self.state.alias_routes(name)
        version: int | None
        if qualifier == "$LATEST":
            version = self.state.latest(name)
        elif qualifier.isdigit():
            version = int(qualifier)
        else:
            route = routes.get(qualifier)
            version = None if route is None else self._pick(route)
        record = self.state.read_version(name, version) if version is not None else None
        if record is None:
            choices = [*routes, "$LATEST", *map(str, self.state.versions(name))]
            raise NotDeployedError(
                f"{name} has no version or alias {qualifier!r}", f"use one of: {', '.join(choices)}"
            )
        return Resolved(record=record, qualifier=qualifier, route=routes.get(qualifier))

    def _pick(self, route: AliasRoute) -> int:
        """The alias's extra version with probability extra_weight, else its main version."""
        if route.extra_version is not None and self._rng.random() < route.extra_weight:
            return route.extra_version
        return route.version

    def _interpreter_for(self, record: VersionRecord) -> tuple[Path, str, builtins.list[str]]:
        """(interpreter, its X.Y, warnings) for a version: the Python its runtime names, else the host's."""
        wanted = record.runtime.removeprefix("python")
        found = interpreters.find_interpreter(wanted, self.config.python)
        if found is not None:
            return Path(found), wanted, []
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        warnings = (
            []
            if host == wanted
            else [
                f"no python{wanted} interpreter found: running {record.name} on this Python {host}; packages "
                f"built for python{wanted} may not import (set SLS_DEPLOY_PYTHON or install python{wanted})"
            ]
        )
        return Path(sys.executable), host, warnings

    def worker_spec(self, resolved: Resolved) -> tuple[WorkerSpec, builtins.list[str]]:
        """What a worker of the resolved version runs (and warnings about it); the pool asks once per version."""
        record, qualifier = resolved.record, resolved.qualifier
        interpreter, python_version, warnings = self._interpreter_for(record)
        machine = {"x86_64": "x86_64", "arm64": "aarch64"}.get(record.arch, record.arch)
        if machine != runtime_dir.host_machine():
            warnings.append(
                f"{record.name} version {record.version} is built for {record.arch}, this machine is "
                f"{runtime_dir.host_machine()}: its compiled packages may not load here"
            )
        spec = WorkerSpec(
            function_name=record.name,
            version=str(record.version),
            handler=record.handler,
            interpreter=interpreter,
            python_version=python_version,
            task_root=self.state.extracted(record.code_sha256),
            opt_dir=self.state.opt_dir(record),
            runtime_dir=runtime_dir.ensure_runtime_dir(
                interpreter, python_version, self.config.cache_path, self._progress
            ),
            memory_mb=record.memory,
            timeout_s=record.timeout,
            region=self.config.emulated_region,
            environment={**self.platform_environment(), **record.environment},
            qualifier=qualifier,
        )
        return spec, warnings

    def complete(
        self,
        resolved: Resolved,
        result: WorkerResult,
        warnings: builtins.list[str],
        concurrency: int | None = None,
    ) -> InvokeResult:
        """Every finished invocation passes here: the result, with its logs and REPORT recorded.

        `concurrency`: the function's invocations in flight when this one started (this one included),
        kept in the result's extra["concurrency"]."""
        invoked = invoke_result(resolved, result, warnings)
        if concurrency is not None:
            invoked.extra["concurrency"] = concurrency
        self.telemetry.record_invocation(resolved.record, invoked, result)
        if resolved.canary:
            self._watch_canary(resolved, invoked)
        return invoked

    # -- alarms and canaries -----------------------------------------------------------------------------
    def _alarm_name(self, name: str, rule: AlarmRule) -> str:
        return alarm_name(function_name(self.config.project_name, name), rule)

    def _canary_states(
        self, name: str, route: AliasRoute, rules: Iterable[AlarmRule]
    ) -> builtins.list[AlarmState]:
        """The canary version's state under `rules`, over its whole life (since the canary began)."""
        assert route.extra_version is not None
        now = time.time()
        version = str(route.extra_version)
        metrics = self.telemetry.metrics(name, route.since or 0.0, now, version=version)
        return [rule.evaluate(metrics, self._alarm_name(name, rule), version, now) for rule in rules]

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
            if route is None or record is None:
                continue
            states.extend(self._alarm_states(function, route, record))
        return states

    def _alarm_states(
        self, function: str, route: AliasRoute, record: VersionRecord
    ) -> builtins.list[AlarmState]:
        now = time.time()
        queried: dict[tuple[float, float, str | None], MetricsResult] = {}  # one query per window

        def window(start: float, end: float, version: str | None = None) -> MetricsResult:
            key = (start, end, version)
            if key not in queried:
                queried[key] = self.telemetry.metrics(function, start, end, version=version)
            return queried[key]

        states = []
        for rule in alarm_rules(self.config, record.timeout):
            version = ""
            if rule.gates_canary and route.extra_version is not None:
                version = str(route.extra_version)
                periods = [window(route.since or 0.0, now, version)]
            else:
                periods = [
                    window(now - (i + 1) * rule.period_s, now - i * rule.period_s)
                    for i in reversed(range(rule.evaluation_periods))
                ]
            states.append(rule.evaluate(periods, self._alarm_name(function, rule), version, now))
        return states

    def _watch_canary(self, resolved: Resolved, invoked: InvokeResult) -> None:
        """After an invocation of a canary version: evaluate the canary-gating alarm rules (on every
        failure, else at most every CANARY_CHECK_S) and, on an alarm, route `live` back to the version the
        canary started from — as CodeDeploy does on AWS. Says so in the function's log and the result."""
        record, route = resolved.record, resolved.route
        assert route is not None
        key = (record.name, record.version)
        now = time.monotonic()
        if invoked.function_error is None and now - self._canary_checked.get(key, 0.0) < CANARY_CHECK_S:
            return
        self._canary_checked[key] = now
        rules = [rule for rule in alarm_rules(self.config, record.timeout) if rule.gates_canary]
        firing = [state for state in self._canary_states(record.name, route, rules) if state.state == "ALARM"]
        if not firing:
            return
        change = self.state.abort_canary(record.name, record.version, ALIAS)
        if change is None:
            return  # another invocation (or a promote) ended the canary first
        before, after = change
        message = (
            f"sls-deploy: canary version {record.version} rolled back, {ALIAS} now routes all traffic to "
            f"version {after.version}: alarm {firing[0].name}: {firing[0].reason}"
        )
        self.telemetry.record_notice(record.name, str(record.version), message)
        self._progress(message.removeprefix("sls-deploy: "))
        invoked.extra["canary_rolled_back"] = {
            "alarm": firing[0].to_json(),
            "before": _routing(ALIAS, before).to_json(),
            "after": _routing(ALIAS, after).to_json(),
        }
        warnings = invoked.extra.setdefault("warnings", [])
        if isinstance(warnings, builtins.list):
            warnings.append(message.removeprefix("sls-deploy: "))

    def throttled(self, resolved: Resolved) -> None:
        """Every throttled request passes here, to be counted."""
        self.telemetry.record_throttle(resolved.record)

    @property
    def pool(self) -> WorkerPool:
        """The warm workers of this target's functions (idle ones exit after config.idle_seconds), held to
        Lambda's CPU share of their MemorySize when config.emulate_cpu is set."""
        if self._pool is None:
            cpu = detect_cpu_enforcement() if self.config.emulate_cpu else None
            self._pool = WorkerPool(self, idle_s=self.config.idle_seconds, cpu=cpu)
        return self._pool

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


def _routing(alias: str, route: AliasRoute) -> AliasRouting:
    return AliasRouting(
        alias=alias,
        version=str(route.version),
        extra_version=None if route.extra_version is None else str(route.extra_version),
        extra_weight=route.extra_weight,
    )
