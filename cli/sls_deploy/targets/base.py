"""The Target protocol and the result types every target returns, so each CLI command works on all targets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from ..package.artifacts import Artifact


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


@dataclass(frozen=True)
class Deployment:
    """The outcome of deploying one function."""

    target: str
    name: str
    version: str  # the published version the alias points at
    alias: str
    changed: bool  # False: nothing differed from the deployed version, no new version published
    endpoint: str  # how to reach it: a local invoke address, or a function URL / ARN on AWS
    function_id: str  # local: "local:<project>:<name>"; AWS: the function ARN

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "changed": self.changed,
            "endpoint": self.endpoint,
            "function_id": self.function_id,
        }


@dataclass(frozen=True)
class Report:
    """Lambda's REPORT line for one invocation."""

    request_id: str
    duration_ms: float
    billed_duration_ms: int
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # set on cold starts only

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


class Target(Protocol):
    name: str

    def deploy(self, build: FunctionBuild) -> Deployment: ...

    def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult: ...

    def list(self) -> list[Deployment]: ...
