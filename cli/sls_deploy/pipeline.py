"""The one-way flow of `build` and `push`: model → samples → layers → budget → smoke check → template → target.

Each step hands a frozen record to the next. Side effects: writes build outputs under the project's state
folder and the cache, writes template.yaml, and (push only) deploys through a target.
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import interpreters, limits
from .config import ProjectConfig
from .errors import ConfigError, ModelError, SlsDeployError
from .fsutil import link_or_copy
from .model.onnx_model import ModelInfo, inspect_model, single_file_model
from .model.samples import Samples, generate_samples, load_samples
from .package.artifacts import Artifact
from .package.budget import BudgetReport, check_budget
from .package.function_code import build_function_code
from .package.model_layer import build_model_layer, model_layer_dir
from .package.runtime_layer import build_runtime_layer, host_layer_arch
from .targets.base import Deployment, FunctionBuild, Target
from .template.project import write_project_template
from .template.sam import DEFAULT_HANDLER, FunctionSpec, LayerRef, function_environment

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


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
    local_python: str  # interpreter the local target runs this function with
    warnings: tuple[str, ...] = ()

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
        }


@dataclass(frozen=True)
class PushResult:
    build: BuildResult
    deployment: Deployment | None  # None with --dry-run
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        data = self.build.to_json()
        data["dry_run"] = self.dry_run
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


def check_name(name: str) -> str:
    if not limits.MODEL_NAME_RE.fullmatch(name):
        raise ConfigError(f"model name {name!r} cannot name a Lambda function", limits.MODEL_NAME_HINT)
    return name


def default_name(model_path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", model_path.stem).strip("-_") or "model"
    return stem if stem[0].isalpha() else f"m-{stem}"


def _smoke_check(model_dir: Path, samples: Samples, memory: int) -> SmokeCheck:
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
    return SmokeCheck(
        rows=samples.rows,
        load_ms=loaded.load_ms,
        run_ms=run_ms,
        samples_source=samples.source,
        outputs=shapes,
    )


def _local_runtime(config: ProjectConfig) -> tuple[str, str, str, list[str]]:
    """(arch, python version, interpreter path) the local target runs with, and warnings where it differs."""
    warnings: list[str] = []
    host_arch = host_layer_arch() or platform.machine()
    arch = config.arch
    if arch != host_arch:
        warnings.append(
            f"this machine is {host_arch}: the local target runs an {host_arch} build of the runtime "
            f"layer; the template keeps {arch}"
        )
        arch = host_arch
    found = interpreters.find_interpreter(config.python_version, config.python)
    if found is not None:
        return arch, config.python_version, str(found), warnings
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    warnings.append(
        f"no python{config.python_version} interpreter found (set SLS_DEPLOY_PYTHON or install it "
        f"with pyenv): the local target runs on this Python {host} with a layer built for it"
    )
    return arch, host, sys.executable, warnings


def _in_build_dir(artifact: Artifact, build_dir: Path) -> Artifact:
    """The cached runtime layer, linked into the project's build folder so the template can point at it."""
    dest = build_dir / artifact.zip_path.name
    if not (dest.exists() and dest.samefile(artifact.zip_path)):
        link_or_copy(artifact.zip_path, dest)
    return replace(artifact, zip_path=dest)


def build(
    config: ProjectConfig,
    model_path: Path,
    name: str | None = None,
    sample: Path | None = None,
    progress: Progress = _quiet,
) -> BuildResult:
    """Check the model, build the three artifacts, check the budget and the model layer, render the template."""
    name = check_name(name or default_name(model_path))
    warnings: list[str] = []
    if config.public:
        warnings.append(
            "public access: the function URL takes unauthenticated requests (AuthType NONE); anyone "
            "who learns the URL can invoke it and run up the bill"
        )
    progress(f"checking {model_path}")
    info = inspect_model(model_path)
    build_dir = config.state_path / "build"
    if sample is not None:
        samples = load_samples(sample, info.inputs)
    else:
        samples = generate_samples(info.inputs)
        warnings.append(
            "no --sample given: the model was checked on random inputs, which say little about it"
        )

    model_file = single_file_model(info, build_dir / name / "merged.onnx")
    progress("building the model layer")
    model_layer = build_model_layer(
        model_file,
        name,
        build_dir / name,
        inputs=info.inputs,
        outputs=info.outputs,
        opset=info.opset,
        sha256=info.sha256 if model_file == info.path else None,
    )
    progress("running the model layer on the samples")
    smoke = _smoke_check(model_layer_dir(build_dir / name), samples, config.memory)

    progress(f"building the runtime layer ({config.arch}, {config.runtime}; cached after the first build)")
    deploy_runtime = _in_build_dir(
        build_runtime_layer(config.arch, config.python_version, config.cache_path, progress=progress),
        build_dir,
    )
    code = build_function_code(build_dir)
    budget = check_budget([code, deploy_runtime, model_layer])
    runtime = deploy_runtime

    local_python = ""
    if config.target == "local":
        local_arch, local_py, local_python, local_warnings = _local_runtime(config)
        warnings.extend(local_warnings)
        if (local_arch, local_py) != (config.arch, config.python_version):
            progress(f"building the runtime layer for the local target ({local_arch}, python{local_py})")
            runtime = build_runtime_layer(local_arch, local_py, config.cache_path, progress=progress)
    else:
        local_arch, local_py = config.arch, config.python_version

    environment = function_environment(name)
    function = FunctionBuild(
        name=name,
        code=code,
        layers=(runtime, model_layer),
        handler=DEFAULT_HANDLER,
        runtime=f"python{local_py}",
        arch=local_arch,
        memory=config.memory,
        timeout=config.timeout,
        environment=environment,
        model_sha256=info.sha256,
        public=config.public,
    )
    progress("rendering template.yaml")
    spec = FunctionSpec.from_config(config, name, LayerRef(model_layer.zip_path, model_layer.sha256))
    template_path = write_project_template(config, spec, deploy_runtime, code, build_dir)
    return BuildResult(
        model=info,
        function=function,
        budget=budget,
        smoke=smoke,
        template_path=template_path,
        local_python=local_python,
        warnings=tuple(warnings),
    )


def push(
    config: ProjectConfig,
    model_path: Path,
    name: str | None = None,
    sample: Path | None = None,
    dry_run: bool = False,
    progress: Progress = _quiet,
) -> PushResult:
    target = open_target(config, progress)  # an unavailable target fails before anything is built
    result = build(config, model_path, name=name, sample=sample, progress=progress)
    if dry_run:
        return PushResult(build=result, deployment=None, dry_run=True)
    progress(f"deploying {result.function.name} to the {config.target} target")
    deployment = target.deploy(result.function)
    return PushResult(build=result, deployment=deployment)


def open_target(config: ProjectConfig, progress: Progress = _quiet) -> Target:
    if config.target == "local":
        from .targets.local.target import LocalTarget

        return LocalTarget(config, progress=progress)
    raise SlsDeployError("the aws target is not available in this version", "use --target local")
