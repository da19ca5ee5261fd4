"""The target-neutral records every room passes around: what a build deploys, what a deploy, invoke, logs,
metrics and alarms return. Both targets answer with exactly these types, so every CLI command works on both.

Plain frozen dataclasses and their JSON forms; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .artifacts import Artifact
from .jsonable import Jsonable

_REPORT_RE = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+"
    r"Billed Duration: (?P<billed>\d+) ms\s+Memory Size: (?P<memory>\d+) MB\s+"
    r"Max Memory Used: (?P<used>\d+) MB(?:\s+Init Duration: (?P<init>[\d.]+) ms)?"
)


@dataclass(frozen=True)
class ProcessingRecipe:
    """What a model's processing layer is built from, so a target can build it for another platform:
    "text"/"image" (tokenizers, Pillow) and a custom handler's requirements file."""

    needs: tuple[str, ...]
    requirements: Path | None = None

    def describe(self) -> list[str]:
        return [*self.needs, *([f"requirements {self.requirements.name}"] if self.requirements else [])]


@dataclass(frozen=True)
class FunctionBuild:
    """Everything built for one model's function: what a target needs to deploy it."""

    name: str  # the function's (model's) name, e.g. "digits"
    code: Artifact  # function code zip (sls_inference package)
    layers: tuple[Artifact, ...]  # in mount order: runtime layer first, model layer last
    handler: str
    runtime: str
    arch: str
    memory: int
    timeout: int
    environment: dict[str, str]
    model_sha256: str
    public: bool = False
    reserved_concurrency: int = 0  # Lambda's ReservedConcurrentExecutions; 0: not reserved
    # The project's SAM template rendered with this build (what template.yaml holds); the AWS target deploys
    # it. None for a build made without rendering one (tests, the local target's own runs).
    template: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    processing: ProcessingRecipe | None = None  # the recipe of its processing layer (None: it has none)


@dataclass(frozen=True)
class Deployment(Jsonable):
    """The outcome of deploying one function."""

    target: str
    name: str
    version: str  # the published version the alias points at
    alias: str
    changed: bool  # False: nothing differed from the deployed version, no new version published
    endpoint: str  # how to reach it: a local invoke address, or a function URL / ARN on AWS
    function_id: str  # local: "local:<project>:<name>"; AWS: the function ARN
    routing: AliasRouting | None = None  # the alias after the deploy (a canary shows its extra version)


@dataclass(frozen=True)
class AliasRouting(Jsonable):
    """Where an alias sends traffic: `version`, and `extra_weight` (0..1) of it to `extra_version` (canary)."""

    alias: str
    version: str
    extra_version: str | None = None
    extra_weight: float = 0.0


@dataclass(frozen=True)
class VersionInfo(Jsonable):
    """One published, immutable version of a function."""

    name: str
    version: str
    created_at: str  # ISO 8601, UTC
    model_sha256: str
    runtime: str
    arch: str
    memory: int
    timeout: int
    aliases: tuple[str, ...] = ()  # aliases that route some traffic to this version


@dataclass(frozen=True)
class FunctionVersions(Jsonable):
    """A function's versions (oldest first) and its aliases."""

    name: str
    versions: tuple[VersionInfo, ...]
    aliases: tuple[AliasRouting, ...]

    def alias(self, name: str = "live") -> AliasRouting | None:
        """Where the alias `name` routes, None when the function has no such alias."""
        return next((routing for routing in self.aliases if routing.alias == name), None)


@dataclass(frozen=True)
class AliasChange(Jsonable):
    """An alias moved by rollback or promote."""

    name: str
    before: AliasRouting
    after: AliasRouting


@dataclass(frozen=True)
class RemoveResult(Jsonable):
    """What `remove` deleted."""

    target: str
    name: str
    versions: tuple[str, ...]  # the versions that existed and are gone
    purged: tuple[str, ...] = ()  # artifacts deleted too (paths or s3:// keys), with purge


@dataclass(frozen=True)
class LogEvent(Jsonable):
    """One line a function printed (or the platform wrote: START, END, REPORT), as CloudWatch Logs keeps it."""

    timestamp: float  # seconds since the epoch
    message: str
    request_id: str | None = None
    version: str | None = None
    stream: str = ""


@dataclass(frozen=True)
class Stats:
    """Summary statistics of one metric over a period (None where there were no data points)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    average: float | None = None
    maximum: float | None = None

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "count": self.count,
            "p50": rounded(self.p50),
            "p90": rounded(self.p90),
            "p99": rounded(self.p99),
            "average": rounded(self.average),
            "maximum": rounded(self.maximum),
        }


@dataclass(frozen=True)
class MetricsResult(Jsonable):
    """A function's metrics over [start, end): the platform's own (as Lambda publishes them) and the
    handler's EMF metrics. The same type on every target."""

    target: str
    name: str
    start: float  # seconds since the epoch
    end: float
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    max_concurrency: int | None = None
    duration_ms: Stats = field(default_factory=Stats)
    init_duration_ms: Stats = field(default_factory=Stats)
    inference_latency_ms: Stats = field(default_factory=Stats)
    # The handler's drift reports (PSI against the push-time baseline, each the highest over a window's
    # features): their average over the period — what the drift alarm compares — and the highest one;
    # None when the function reported none.
    input_drift_psi: float | None = None
    input_drift_psi_max: float | None = None
    prediction_drift_psi: float | None = None


@dataclass(frozen=True)
class AlarmState(Jsonable):
    """One alarm of a model, as CloudWatch reports it (aws) or as the local target evaluates the same rule.

    `state` is "OK", "ALARM" or "INSUFFICIENT_DATA"; `value` the figure the rule compared (None without data); `version` the
    function version the local target evaluated (during a canary: the canary's), "" when it covers the
    function as a whole."""

    name: str  # the alarm's name, e.g. "myproject-digits-errors"
    model: str
    rule: str  # monitor.alarms rule key: errors | p99-duration | input-drift
    state: str
    reason: str
    threshold: float
    value: float | None = None
    version: str = ""
    updated_at: float | None = None  # epoch seconds of the last state change (aws) or evaluation (local)


@dataclass(frozen=True)
class Report:
    """Lambda's REPORT line for one invocation."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # set on cold starts only

    @classmethod
    def parse(cls, line: str) -> Report | None:
        """The Report of a REPORT line as Lambda writes it (the inverse of `line`), else None."""
        match = _REPORT_RE.search(line)
        if match is None:
            return None
        init = match["init"]
        return cls(
            request_id=match["id"],
            duration_ms=float(match["duration"]),
            billed_duration_ms=int(match["billed"]),
            memory_size_mb=int(match["memory"]),
            max_memory_used_mb=int(match["used"]),
            init_duration_ms=None if init is None else float(init),
        )

    def line(self) -> str:
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_duration_ms} ms\tMemory Size: {self.memory_size_mb} MB\t"
            f"Max Memory Used: {self.max_memory_used_mb} MB"
        )
        if self.init_duration_ms is not None:
            text += f"\tInit Duration: {self.init_duration_ms:.2f} ms"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "duration_ms": round(self.duration_ms, 3),
            "billed_duration_ms": self.billed_duration_ms,
            "memory_size_mb": self.memory_size_mb,
            "max_memory_used_mb": self.max_memory_used_mb,
            "init_duration_ms": None if self.init_duration_ms is None else round(self.init_duration_ms, 3),
        }


@dataclass(frozen=True)
class InvokeResult:
    """What an invocation returned: the payload as Lambda returns it, the error kind, logs and REPORT."""

    name: str
    version: str
    status_code: int  # the Invoke API's status (200 even when the function raised)
    payload: bytes
    function_error: str | None  # "Unhandled" / "Handled" as in X-Amz-Function-Error, else None
    report: Report
    log_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def decoded_payload(self) -> Any:
        """The payload as a JSON value; its text where it is not JSON; None when empty."""
        if not self.payload:
            return None
        try:
            return json.loads(self.payload)
        except ValueError:
            return self.payload.decode("utf-8", "replace")

    @property
    def error_status(self) -> int | None:
        """The HTTP-style status of an error answer ({"error": {"status": 400, ...}}), else None."""
        payload = self.decoded_payload
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            status = payload["error"].get("status")
            return status if isinstance(status, int) else 500
        return None


@dataclass(frozen=True)
class PlannedChange(Jsonable):
    """One resource a deploy would add, modify or remove (a CloudFormation change set's row)."""

    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""  # "True" | "False" | "Conditional" for a Modify; "" otherwise


@dataclass(frozen=True)
class DeployPlan:
    """What deploying a build would do, computed without changing anything that serves traffic.

    `steps` are what `Target.apply(plan)` runs, in order, one line each (what `push --dry-run` prints);
    `build` and `canary_percent` what it deploys; `handle` the target's own state that apply continues from
    (aws: the change set the plan created), never shown and never compared."""

    target: str
    name: str
    where: str  # e.g. the stack's name and region
    uploads: tuple[str, ...]  # artifacts that would be uploaded (URIs)
    changes: tuple[PlannedChange, ...]
    notes: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    build: FunctionBuild | None = field(default=None, compare=False, repr=False)
    canary_percent: float | None = None
    handle: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "where": self.where,
            "uploads": list(self.uploads),
            "changes": [c.to_json() for c in self.changes],
            "notes": list(self.notes),
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class PreparedBuild:
    """A build as one target runs it: the local target swaps in a runtime layer for this machine's
    architecture and Python and names the interpreter; AWS runs the build as it is."""

    function: FunctionBuild
    interpreter: str = ""  # the Python the target runs the function with ("": the platform's own, AWS)
    warnings: tuple[str, ...] = ()
