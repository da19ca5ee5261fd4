"""What the local target's warm pool runs on (pool.PoolHost): a version's worker spec (interpreter, runtime
dir, extracted code and /opt, the platform's environment), the end of every invocation (logs, REPORT and
metrics recorded; a canary's alarms watched), throttles counted, version leases and reserved concurrency.

Workers get the local platform's environment too: AWS_ENDPOINT_URL_S3 pointing at the state folder's local
S3 endpoint (s3.py), where S3 events' objects live, and — unless the caller passes AWS credentials or an
endpoint of its own — the credentials of a local role, as a real function gets its role's.

The worker's interpreter is found for the version's runtime (e.g. "python3.12": the Python the runtime layer
was built for) with interpreters.find_interpreter, honouring config.python. When none is found the host
interpreter runs it, with a warning in InvokeResult.extra["warnings"]: compiled packages in the layers only
import when the layer was built for that Python.

Side effects: installs the worker runtime below config.cache_path (runtime_dir.py), extracts artifacts below
the state folder, starts the local S3 endpoint, records telemetry.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ...core import interpreters
from ...core.config import ProjectConfig
from ...core.progress import Progress
from ...core.records import InvokeResult
from . import runtime_dir, s3
from .canary import LocalAlarms
from .environment import WorkerSpec
from .invocation import WorkerResult
from .routing import Resolved
from .state import LocalState
from .telemetry import Telemetry
from .versions import VersionLease, VersionRecord

LOG_TAIL_BYTES = 4096  # Lambda's X-Amz-Log-Result carries the last 4 KB of the invocation's log
# A local function's role: S3 calls go to the local endpoint, which does not check signatures.
LOCAL_ROLE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ASIALOCALSLSDEPLOY00", "AWS_SECRET_ACCESS_KEY": "local"}


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
    """A worker's answer as every target answers an invoke."""
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


class LocalHost:
    """The pool's host for one project: its state folder, telemetry and alarms (pool.PoolHost)."""

    def __init__(
        self,
        config: ProjectConfig,
        state: LocalState,
        telemetry: Telemetry,
        alarms: LocalAlarms,
        progress: Progress,
    ) -> None:
        self._config = config
        self._state = state
        self._telemetry = telemetry
        self._alarms = alarms
        self._progress = progress
        self.s3_root = state.root / "s3"

    def interpreter_for(self, record: VersionRecord) -> tuple[Path, str, list[str]]:
        """(interpreter, its X.Y, warnings) for a version: the Python its runtime names, else the host's."""
        wanted = record.runtime.removeprefix("python")
        found = interpreters.find_interpreter(wanted, self._config.python)
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

    def ensure_runtime(self, record: VersionRecord) -> Path:
        """The worker runtime for the version's Python, installed now if missing (slow once, cached)."""
        interpreter, python_version, _ = self.interpreter_for(record)
        return runtime_dir.ensure_runtime_dir(
            interpreter, python_version, self._config.cache_path, self._progress
        )

    def platform_environment(self) -> dict[str, str]:
        """What the local platform adds to every worker's environment (the function's own variables win):
        its S3 endpoint and a local role's credentials, unless the caller passes its own (then they reach
        the function as they do now, see environment.PASSTHROUGH_VARS)."""
        if any(key.startswith("AWS_ENDPOINT_URL") for key in os.environ):
            return {}
        environment = {"AWS_ENDPOINT_URL_S3": s3.shared_server(self.s3_root).endpoint}
        if not any(key in os.environ for key in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE")):
            environment.update(LOCAL_ROLE_CREDENTIALS)
        return environment

    def worker_spec(self, resolved: Resolved) -> tuple[WorkerSpec, list[str]]:
        """What a worker of the resolved version runs (and warnings about it); the pool asks once per version."""
        record, qualifier = resolved.record, resolved.qualifier
        interpreter, python_version, warnings = self.interpreter_for(record)
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
            task_root=self._state.extracted(record.code_sha256),
            opt_dir=self._state.opt_dir(record),
            runtime_dir=runtime_dir.ensure_runtime_dir(
                interpreter, python_version, self._config.cache_path, self._progress
            ),
            memory_mb=record.memory,
            timeout_s=record.timeout,
            region=self._config.emulated_region,
            environment={**self.platform_environment(), **record.environment},
            qualifier=qualifier,
        )
        return spec, warnings

    def finished(
        self, resolved: Resolved, result: WorkerResult, warnings: list[str], concurrency: int | None = None
    ) -> InvokeResult:
        """Every finished invocation passes here: the result, with its logs and REPORT recorded; a canary's
        alarms watched. `concurrency`: the function's invocations in flight when this one started (this one
        included), kept in the result's extra["concurrency"]."""
        invoked = invoke_result(resolved, result, warnings)
        if concurrency is not None:
            invoked.extra["concurrency"] = concurrency
        self._telemetry.record_invocation(resolved.record, invoked, result)
        self._alarms.watch(resolved, invoked)
        return invoked

    def throttled(self, resolved: Resolved) -> None:
        """Every throttled request passes here, to be counted."""
        self._telemetry.record_throttle(resolved.record)

    def lease(self, record: VersionRecord) -> VersionLease:
        """The version's files held on disk while a worker runs it (LocalState.lease)."""
        return self._state.lease(record)

    def reserved_concurrency(self, name: str) -> int:
        """The function's reserved concurrency (0: none), as its last deploy set it."""
        return int(self._state.function_settings(name).get("reserved_concurrency") or 0)

    def runtime_to_install(self, record: VersionRecord) -> str | None:
        """The Python version (X.Y) whose worker runtime `ensure_runtime` would install; None: it is there."""
        _, python_version, _ = self.interpreter_for(record)
        path = runtime_dir.runtime_dir_path(self._config.cache_path, python_version)
        return None if runtime_dir.is_built(path) else python_version
