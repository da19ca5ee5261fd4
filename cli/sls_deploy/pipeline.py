"""The one-way flow of `build` and `push`: model → samples → layers → budget → smoke check → template → target.

Each step hands a frozen record to the next. Side effects: writes build outputs under the project's state
folder and the cache, writes template.yaml, and (push only) deploys through a target.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .compress import CompressionPolicy, PreparedModel, compress_model, read_compressed_dir
from .compress.prepared import REPORT_NAME
from .core import limits
from .core.artifacts import Artifact
from .core.config import ProjectConfig
from .core.errors import ConfigError, ModelError
from .core.fsutil import atomic_write_text, link_or_copy
from .core.names import DEFAULT_HANDLER, function_environment
from .core.progress import Progress, quiet
from .core.records import Deployment, DeployPlan, FunctionBuild
from .model.baseline import DriftBaseline, compute_baseline
from .model.convert import convert_to_onnx, needs_conversion
from .model.onnx_model import ModelInfo, inspect_model, single_file_model
from .model.samples import Samples, generate_samples, load_samples
from .package.budget import BudgetReport, check_budget
from .package.function_code import build_function_code
from .package.model_layer import (
    model_layer_dir,
    write_drift_baseline,
    write_model_dir,
    zip_model_layer,
)
from .package.runtime import build_runtime_layer
from .targets.base import Target
from .template.monitoring import CanarySpec
from .template.project import write_project_template
from .template.sam import FunctionSpec, LayerRef


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


def canary_spec(config: ProjectConfig, canary_percent: float | None) -> CanarySpec | None:
    """The canary a push with `canary_percent` renders into the template (None: no canary)."""
    if canary_percent is None:
        return None
    if not 0.0 < canary_percent < 100.0:
        raise ConfigError(
            f"a canary of {canary_percent:g} % is not between 0 and 100",
            "give the new version's share of traffic, e.g. --canary 10",
        )
    if config.target == "aws" and not float(canary_percent).is_integer():
        raise ConfigError(
            f"a canary of {canary_percent:g} % is not a whole percentage",
            "CodeDeploy shifts whole percentages: give e.g. --canary 10",
        )
    return CanarySpec(max(1, round(canary_percent)), config.canary_minutes, config.canary_mode)


def check_name(name: str) -> str:
    if not limits.MODEL_NAME_RE.fullmatch(name):
        raise ConfigError(f"model name {name!r} cannot name a Lambda function", limits.MODEL_NAME_HINT)
    return name


def default_name(model_path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", model_path.stem).strip("-_") or "model"
    return stem if stem[0].isalpha() else f"m-{stem}"


def _smoke_check(model_dir: Path, samples: Samples, memory: int) -> tuple[SmokeCheck, dict[str, np.ndarray]]:
    """The check, and the model's outputs on the samples (output name → array) for the drift baseline."""
    import time

    from sls_inference.loader import ModelLoadError, load_model

    try:
        loaded = load_model(model_dir, memory_mb=memory)
    except ModelLoadError as exc:
        raise ModelError(f"the built model layer does not load: {exc}", "report this as a bug") from exc
    started = time.perf_counter()
    try:
        results = loaded.session.run(None, dict(samples.arrays))
    except Exception as exc:  # onnxruntime's errors name the offending input
        raise ModelError(
            f"the model fails on the sample inputs ({samples.source}): {str(exc).strip()[:400]}",
            "check that the samples have the shapes and dtypes the model was exported with",
        ) from exc
    run_ms = (time.perf_counter() - started) * 1000.0
    shapes = {spec.name: list(np.shape(r)) for spec, r in zip(loaded.outputs, results, strict=True)}
    check = SmokeCheck(
        rows=samples.rows,
        load_ms=loaded.load_ms,
        run_ms=run_ms,
        samples_source=samples.source,
        outputs=shapes,
    )
    return check, {spec.name: np.asarray(r) for spec, r in zip(loaded.outputs, results, strict=True)}


def _drift_baseline(
    config: ProjectConfig, layer_dir: Path, intake: _Intake, predictions: dict[str, np.ndarray]
) -> DriftBaseline | None:
    """The drift baseline of the samples and the model's outputs on them, written into the model folder."""
    info = intake.info
    document = compute_baseline(intake.samples, info.inputs, info.outputs, predictions)
    baseline = DriftBaseline(document, config.drift_every, config.drift_seconds)
    if not baseline.watches_anything:
        return None
    write_drift_baseline(layer_dir, baseline.data, baseline.manifest_entry())
    return baseline


def _in_build_dir(artifact: Artifact, build_dir: Path) -> Artifact:
    """The cached runtime layer, linked into the project's build folder so the template can point at it."""
    dest = build_dir / artifact.zip_path.name
    if not (dest.exists() and dest.samefile(artifact.zip_path)):
        link_or_copy(artifact.zip_path, dest)
    return replace(artifact, zip_path=dest)


@dataclass(frozen=True)
class _Intake:
    """The model as the rest of the flow sees it: converted if needed, checked, with its samples."""

    name: str
    info: ModelInfo
    samples: Samples
    model_file: Path  # one self-contained .onnx file
    prepared: PreparedModel | None  # a folder written by `compress`: its choice is kept
    warnings: tuple[str, ...]


def _intake(
    model_path: Path,
    name: str | None,
    sample: Path | None,
    work_dir: Path,
    trust_pickle: bool,
    progress: Progress,
) -> _Intake:
    prepared = read_compressed_dir(model_path) if model_path.is_dir() else None
    name = check_name(name or (prepared.name if prepared and prepared.name else default_name(model_path)))
    warnings: list[str] = []
    if prepared is not None:
        model_path = prepared.model_path
    elif needs_conversion(model_path):
        progress(f"converting {model_path} to ONNX")
        model_path = convert_to_onnx(
            model_path, work_dir / name / "converted.onnx", trust_pickle=trust_pickle, sample=sample
        )
    progress(f"checking {model_path}")
    info = inspect_model(model_path)
    if sample is not None:
        samples = load_samples(sample, info.inputs)
    else:
        samples = generate_samples(info.inputs)
        warnings.append(
            "no --sample given: the model was checked on random inputs, which say little about it "
            "(and its drift baseline is made from them)"
        )
    model_file = single_file_model(info, work_dir / name / "merged.onnx")
    return _Intake(name, info, samples, model_file, prepared, tuple(warnings))


@dataclass(frozen=True)
class _LayerSource:
    """What the model layer is built from: the chosen file and what model.json records about it."""

    path: Path
    opset: dict[str, int]
    sha256: str | None  # of `path`, when known
    extra: dict[str, Any] | None  # model.json's "compression" and "session_config"
    report: dict[str, Any] | None  # the full compression report, for display and --json
    warnings: tuple[str, ...] = ()


def _layer_source(
    config: ProjectConfig, intake: _Intake, policy: CompressionPolicy, work_dir: Path, progress: Progress
) -> _LayerSource:
    """The original, the folder's earlier choice, or the candidate the compression policy chooses."""
    info = intake.info
    sha = info.sha256 if intake.model_file == info.path else None
    if intake.prepared is not None:
        note = (
            f"{intake.prepared.model_path.parent} was compressed already ({intake.prepared.method}): "
            f"--compress {policy.spec} is not applied again"
        )
        notes = (note,) if policy.enabled else ()
        prepared = intake.prepared
        return _LayerSource(
            intake.model_file, dict(info.opset), sha, prepared.manifest_extra(), prepared.report, notes
        )
    if not policy.enabled:
        return _LayerSource(intake.model_file, dict(info.opset), sha, None, None)
    compressed = compress_model(
        intake.model_file,
        intake.name,
        inputs=info.inputs,
        outputs=info.outputs,
        opset=info.opset,
        samples=intake.samples,
        policy=policy,
        work_dir=work_dir / intake.name / "compress",
        memory_mb=config.memory,
        arch=config.arch,
        sha256=sha,
        progress=progress,
    )
    return _LayerSource(
        compressed.path,
        dict(compressed.opset),
        compressed.sha256,
        compressed.manifest_extra(),
        compressed.report.to_json(),
        compressed.report.warnings,
    )


def build(
    config: ProjectConfig,
    model_path: Path,
    name: str | None = None,
    sample: Path | None = None,
    progress: Progress = quiet,
    policy: CompressionPolicy | None = None,
    trust_pickle: bool = False,
    canary_percent: float | None = None,
    target: Target | None = None,
) -> BuildResult:
    """Check (or convert) the model, compress it if asked, build the three artifacts, check the budget and
    the model layer, render the template (with a canary percentage: with CodeDeploy's deployment
    preference for the model). With `target`, the function as that target runs it (Target.prepare)."""
    policy = policy or CompressionPolicy.from_config(config)
    warnings: list[str] = []
    if config.public:
        warnings.append(
            "public access: the function URL takes unauthenticated requests (AuthType NONE); anyone "
            "who learns the URL can invoke it and run up the bill"
        )
    build_dir = config.state_path / "build"
    intake = _intake(model_path, name, sample, build_dir, trust_pickle, progress)
    name, info, samples = intake.name, intake.info, intake.samples
    warnings.extend(intake.warnings)
    source = _layer_source(config, intake, policy, build_dir, progress)
    warnings.extend(source.warnings)
    progress("building the model layer")
    layer_dir = write_model_dir(
        source.path,
        model_layer_dir(build_dir / name),
        name,
        inputs=info.inputs,
        outputs=info.outputs,
        opset=source.opset,
        sha256=source.sha256,
        extra=source.extra,
    )
    progress("running the model layer on the samples")
    smoke, predictions = _smoke_check(layer_dir, samples, config.memory)
    drift = _drift_baseline(config, layer_dir, intake, predictions)
    model_layer = zip_model_layer(layer_dir, build_dir / name, name)

    progress(f"building the runtime layer ({config.arch}, {config.runtime}; cached after the first build)")
    deploy_runtime = _in_build_dir(
        build_runtime_layer(config.arch, config.python_version, config.cache_path, progress=progress),
        build_dir,
    )
    code = build_function_code(build_dir, config.python_version, config.python)
    budget = check_budget([code, deploy_runtime, model_layer])
    progress("rendering template.yaml")
    spec = FunctionSpec.from_config(
        config,
        name,
        LayerRef(model_layer.zip_path, model_layer.sha256),
        reserved_concurrency=config.reserved_concurrency or None,
        model_sha256=info.sha256,
        canary=canary_spec(config, canary_percent),
    )
    template = write_project_template(config, spec, deploy_runtime, code, build_dir)
    function = FunctionBuild(
        name=name,
        code=code,
        layers=(deploy_runtime, model_layer),
        handler=DEFAULT_HANDLER,
        runtime=config.runtime,
        arch=config.arch,
        memory=config.memory,
        timeout=config.timeout,
        environment=function_environment(name),
        model_sha256=info.sha256,
        public=config.public,
        reserved_concurrency=config.reserved_concurrency,
        template=template.document,
    )
    interpreter = ""
    if target is not None:
        prepared = target.prepare(function)
        function, interpreter = prepared.function, prepared.interpreter
        warnings.extend(prepared.warnings)
    return BuildResult(
        model=info,
        function=function,
        budget=budget,
        smoke=smoke,
        template_path=template.path,
        local_python=interpreter,
        warnings=tuple(warnings),
        compression=source.report,
        drift=None if drift is None else drift.summary(),
    )


def push(
    config: ProjectConfig,
    target: Target,
    model_path: Path,
    name: str | None = None,
    sample: Path | None = None,
    dry_run: bool = False,
    progress: Progress = quiet,
    policy: CompressionPolicy | None = None,
    trust_pickle: bool = False,
    canary_percent: float | None = None,
) -> PushResult:
    """Build, then plan and apply on `target`; with `canary_percent` the new version gets that share of
    `live`'s traffic. With `dry_run`, plan and discard: the plan's steps are what apply would run."""
    canary_spec(config, canary_percent)  # a canary the target cannot run fails before anything is built
    target.ready()  # an unavailable target fails before anything is built
    result = build(
        config,
        model_path,
        name=name,
        sample=sample,
        progress=progress,
        policy=policy,
        trust_pickle=trust_pickle,
        canary_percent=canary_percent,
        target=target,
    )
    plan = target.plan(result.function, canary_percent)
    if dry_run:
        target.discard(plan)
        return PushResult(build=result, deployment=None, dry_run=True, plan=plan)
    progress(f"deploying {result.function.name} to the {target.name} target")
    deployment = target.apply(plan)
    return PushResult(build=result, deployment=deployment)


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


def compress(
    config: ProjectConfig,
    model_path: Path,
    out_dir: Path,
    name: str | None = None,
    sample: Path | None = None,
    progress: Progress = quiet,
    policy: CompressionPolicy | None = None,
    trust_pickle: bool = False,
) -> CompressResult:
    """The build flow up to the model layer's content, written to `out_dir` instead of deployed."""
    policy = policy or CompressionPolicy.from_config(config)
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "model.json").is_file())
    ):
        raise ConfigError(
            f"--out {out_dir} exists and is not a folder written by `sls-deploy compress`",
            "give a new or empty folder (its content is replaced)",
        )
    intake = _intake(model_path, name, sample, config.state_path / "build", trust_pickle, progress)
    if intake.prepared is not None:
        raise ConfigError(f"{model_path} is compressed already", "compress the original .onnx file")
    if not policy.enabled:
        raise ConfigError("--compress none leaves nothing to do", "use --compress auto or name a method")
    source = _layer_source(config, intake, policy, config.state_path / "build", progress)
    assert source.extra is not None and source.report is not None
    write_model_dir(
        source.path,
        out_dir,
        intake.name,
        inputs=intake.info.inputs,
        outputs=intake.info.outputs,
        opset=source.opset,
        sha256=source.sha256,
        extra=source.extra,
    )
    atomic_write_text(out_dir / REPORT_NAME, json.dumps(source.report, indent=2, sort_keys=True) + "\n")
    return CompressResult(
        name=intake.name,
        model=intake.info,
        out_dir=out_dir,
        compression=source.report,
        session_config=dict(source.extra["session_config"]),
        warnings=intake.warnings + source.warnings,
    )
