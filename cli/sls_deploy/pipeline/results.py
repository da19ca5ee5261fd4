"""The records the pipeline answers with: the build (with its smoke check), the push, the compression."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.records import Deployment, DeployPlan, FunctionBuild
from ..model.onnx_model import ModelInfo
from ..package.budget import BudgetReport


@dataclass(frozen=True)
class SmokeCheck:
    """The built model layer, loaded with the handler's loader and run on the samples."""

    rows: int
    load_ms: float
    run_ms: float
    samples_source: str
    outputs: dict[str, list[int]]  # output name → shape

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "load_ms": round(self.load_ms, 2),
            "run_ms": round(self.run_ms, 2),
            "samples": self.samples_source,
            "outputs": self.outputs,
        }


@dataclass(frozen=True)
class BuildResult:
    model: ModelInfo
    function: FunctionBuild
    budget: BudgetReport
    smoke: SmokeCheck
    template_path: Path
    local_python: str  # interpreter the target runs this function with ("": the platform's own, aws)
    warnings: tuple[str, ...] = ()
    compression: dict[str, Any] | None = None  # the compression report (None: --compress none)
    drift: dict[str, Any] | None = None  # the drift baseline's summary (None: nothing to watch)
    processing: dict[str, Any] | None = None  # the processing spec (None: tensors in and out)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.function.name,
            "model": self.model.to_json(),
            "runtime": self.function.runtime,
            "arch": self.function.arch,
            "memory": self.function.memory,
            "timeout": self.function.timeout,
            "layers": [a.to_json() for a in self.function.layers],
            "code": self.function.code.to_json(),
            "budget": self.budget.to_json(),
            "smoke": self.smoke.to_json(),
            "template": str(self.template_path),
            "local_python": self.local_python,
            "warnings": list(self.warnings),
            "compression": self.compression,
            "drift": self.drift,
            "processing": self.processing,
        }


@dataclass(frozen=True)
class PushResult:
    build: BuildResult
    deployment: Deployment | None  # None with --dry-run
    dry_run: bool = False
    plan: DeployPlan | None = None  # with --dry-run, on targets that plan (aws: the stack's change set)

    def to_json(self) -> dict[str, Any]:
        data = self.build.to_json()
        data["dry_run"] = self.dry_run
        data["plan"] = None if self.plan is None else self.plan.to_json()
        data["deployment"] = None if self.deployment is None else self.deployment.to_json()
        if self.deployment is not None:
            data.update(
                target=self.deployment.target,
                version=self.deployment.version,
                changed=self.deployment.changed,
                endpoint=self.deployment.endpoint,
                function_id=self.deployment.function_id,
            )
        return data


@dataclass(frozen=True)
class CompressResult:
    """`sls-deploy compress`: the chosen model written to `out_dir` (model.onnx + model.json)."""

    name: str
    model: ModelInfo
    out_dir: Path
    compression: dict[str, Any]
    session_config: dict[str, str]
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model.to_json(),
            "out_dir": str(self.out_dir),
            "session_config": self.session_config,
            "compression": self.compression,
            "warnings": list(self.warnings),
        }
