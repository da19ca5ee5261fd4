"""LocalTarget: the embedded Lambda emulation — deploy into the project's state folder, invoke with workers.

deploy copies the artifacts into the state by hash and publishes an immutable version only when code, layers
or configuration differ from what `live` points at; invoke resolves a qualifier (alias, version number or
$LATEST) and runs the event in a fresh worker (one cold invocation per call); `open_session` keeps a worker
warm for repeated invocations (benchmarks, a local server).

The worker's interpreter is found for the version's runtime (FunctionBuild.runtime, e.g. "python3.12": the
Python the runtime layer was built for) with interpreters.find_interpreter, honouring config.python. When
none is found the host interpreter runs it, with a warning in InvokeResult.extra["warnings"]: compiled
packages in the layers only import when the layer was built for that Python.

Side effects: writes below config.state_path and (the awslambdaric runtime dir) config.cache_path; starts
and stops worker processes.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ... import interpreters, limits
from ...config import ProjectConfig
from ...errors import InvocationError, NotDeployedError, TargetError
from ..base import Deployment, FunctionBuild, InvokeResult
from . import runtime_dir
from .state import LocalState, VersionRecord
from .worker import Worker, WorkerResult, WorkerSpec

LOG_TAIL_BYTES = 4096  # Lambda's X-Amz-Log-Result carries the last 4 KB of the invocation's log
ALIAS = "live"


@dataclass(frozen=True)
class _Resolved:
    record: VersionRecord
    qualifier: str


class LocalSession:
    """A function version with a worker kept warm across invocations; a crashed worker is replaced."""

    def __init__(
        self, target: LocalTarget, resolved: _Resolved, spec: WorkerSpec, warnings: list[str]
    ) -> None:
        self._target = target
        self._resolved = resolved
        self.spec = spec
        self.warnings = warnings
        self._worker: Worker | None = None

    @property
    def worker(self) -> Worker | None:
        return self._worker

    def invoke(self, payload: bytes) -> InvokeResult:
        if len(payload) > limits.MAX_SYNC_PAYLOAD_BYTES:
            raise InvocationError(
                f"the request is {len(payload)} bytes; Lambda accepts at most {limits.MAX_SYNC_PAYLOAD_BYTES} "
                f"bytes for a synchronous invoke",
                "send the data through S3 and pass its key instead",
            )
        if self._worker is None or not self._worker.alive:
            if self._worker is not None:
                self._worker.stop()
            self._worker = Worker(self.spec)
        result = self._worker.invoke(payload)
        return _invoke_result(self._resolved, result, self.warnings)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None


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


def _invoke_result(resolved: _Resolved, result: WorkerResult, warnings: list[str]) -> InvokeResult:
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

    `progress` hears about the one slow step: installing the worker runtime (pip, once per Python version).
    """

    name = "local"

    def __init__(self, config: ProjectConfig, progress: runtime_dir.Progress | None = None) -> None:
        self.config = config
        self.state = LocalState(config.state_path)
        self._progress = progress or (lambda _: None)

    # -- deploy ------------------------------------------------------------------------------------------
    def deploy(self, build: FunctionBuild) -> Deployment:
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
        for artifact in (build.code, *build.layers):
            self.state.store_artifact(artifact)
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
        published, changed = self.state.publish(record, ALIAS)
        self.state.extracted(published.code_sha256)
        self.state.opt_dir(published)
        # Install the worker runtime now (slow once, cached) so the first invoke is not the slow one.
        interpreter, python_version, _ = self._interpreter_for(published)
        runtime_dir.ensure_runtime_dir(interpreter, python_version, self.config.cache_path, self._progress)
        return self._deployment(published, changed)

    def _deployment(self, record: VersionRecord, changed: bool) -> Deployment:
        project = self.config.project_name
        return Deployment(
            target=self.name,
            name=record.name,
            version=str(record.version),
            alias=ALIAS,
            changed=changed,
            endpoint=f"sls-deploy invoke {record.name}",
            function_id=f"local:{project}:{record.name}",
        )

    def list(self) -> list[Deployment]:
        deployments = []
        for name in self.state.function_names():
            live = self.state.aliases(name).get(ALIAS)
            record = self.state.read_version(name, live) if live is not None else None
            if record is not None:
                deployments.append(self._deployment(record, changed=False))
        return deployments

    # -- invoke ------------------------------------------------------------------------------------------
    def _resolve(self, name: str, qualifier: str) -> _Resolved:
        names = self.state.function_names()
        if name not in names:
            known = ", ".join(names) or "none"
            raise NotDeployedError(
                f"no function {name!r} is deployed on the local target "
                f"({self.config.state_path}); deployed: {known}",
                "deploy it with `sls-deploy push MODEL --name NAME`" if not names else f"use one of: {known}",
            )
        aliases = self.state.aliases(name)
        version: int | None
        if qualifier == "$LATEST":
            version = self.state.latest(name)
        elif qualifier.isdigit():
            version = int(qualifier)
        else:
            version = aliases.get(qualifier)
        record = self.state.read_version(name, version) if version is not None else None
        if record is None:
            choices = [*aliases, "$LATEST", *map(str, self.state.versions(name))]
            raise NotDeployedError(
                f"{name} has no version or alias {qualifier!r}", f"use one of: {', '.join(choices)}"
            )
        return _Resolved(record=record, qualifier=qualifier)

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

    def _session(self, name: str, qualifier: str) -> LocalSession:
        resolved = self._resolve(name, qualifier)
        record = resolved.record
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
            region=self.config.region,
            environment=record.environment,
            qualifier=qualifier,
        )
        return LocalSession(self, resolved, spec, warnings)

    @contextmanager
    def open_session(self, name: str, qualifier: str = ALIAS) -> Iterator[LocalSession]:
        """A warm worker for repeated invocations of one version; stopped when the block ends."""
        session = self._session(name, qualifier)
        try:
            yield session
        finally:
            session.close()

    def invoke(self, name: str, payload: bytes, qualifier: str = ALIAS) -> InvokeResult:
        """One cold invocation: start a worker, run the event, stop the worker."""
        with self.open_session(name, qualifier) as session:
            return session.invoke(payload)
