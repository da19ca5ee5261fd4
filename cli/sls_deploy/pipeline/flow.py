"""The one-way flow of `build`, `push` and `compress`: intake → model layer → smoke check → drift baseline →
runtime layer and code → budget → template → target (prepare, plan, apply)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..compress import CompressionPolicy
from ..compress.prepared import REPORT_NAME
from ..core.artifacts import Artifact
from ..core.config import ProjectConfig
from ..core.errors import ConfigError, ModelError
from ..core.fsutil import atomic_write_text, link_or_copy
from ..core.names import DEFAULT_HANDLER, function_environment
from ..core.progress import Progress, quiet
from ..core.records import FunctionBuild, ProcessingRecipe
from ..model.baseline import DriftBaseline, compute_baseline
from ..model.folder import (
    model_layer_dir,
    write_drift_baseline,
    write_model_dir,
    zip_model_layer,
)
from ..model.processing import ProcessingOptions, check_handler_source, write_processing
from ..model.samples import Samples
from ..package.budget import check_budget
from ..package.function_code import build_function_code
from ..package.processing_layer import build_processing_layer
from ..package.runtime import build_runtime_layer
from ..targets.base import Target
from ..template.monitoring import CanarySpec
from ..template.project import write_project_template
from ..template.spec import FunctionSpec, LayerRef
from .intake import Intake, layer_source, model_intake
from .results import BuildResult, CompressResult, PushResult, SmokeCheck


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


def smoke_check(model_dir: Path, samples: Samples, memory: int) -> tuple[SmokeCheck, dict[str, np.ndarray]]:
    """The check, and the model's outputs on the samples (output name → array) for the drift baseline."""
    import time

    from sls_inference.loader import ModelLoadError, load_model
    from sls_inference.processing import Processor, SpecError

    try:
        loaded = load_model(model_dir, memory_mb=memory)
    except ModelLoadError as exc:
        raise ModelError(f"the built model layer does not load: {exc}", "report this as a bug") from exc
    try:  # the processing the function builds at init, from the files the layer holds
        Processor.for_model(loaded, hooks=False)  # a custom handler's imports live in its processing layer
    except SpecError as exc:
        raise ModelError(
            f"the model layer's processing does not load: {exc}", "check the processing flags"
        ) from exc
    check_handler_source(model_dir)
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


def drift_baseline(
    config: ProjectConfig, layer_dir: Path, intake: Intake, predictions: dict[str, np.ndarray]
) -> DriftBaseline | None:
    """The drift baseline of the samples and the model's outputs on them, written into the model folder."""
    info = intake.info
    document = compute_baseline(intake.samples, info.inputs, info.outputs, predictions)
    baseline = DriftBaseline(document, config.drift_every, config.drift_seconds)
    if not baseline.watches_anything:
        return None
    write_drift_baseline(layer_dir, baseline.data, baseline.manifest_entry())
    return baseline


def in_build_dir(artifact: Artifact, build_dir: Path) -> Artifact:
    """The cached runtime layer, linked into the project's build folder so the template can point at it."""
    dest = build_dir / artifact.zip_path.name
    if not (dest.exists() and dest.samefile(artifact.zip_path)):
        link_or_copy(artifact.zip_path, dest)
    return replace(artifact, zip_path=dest)


def _processing_layer(
    config: ProjectConfig, recipe: ProcessingRecipe | None, build_dir: Path, progress: Progress
) -> Artifact | None:
    """The model's processing layer for the deploy platform (cached), linked into the build folder."""
    if recipe is None:
        return None
    progress(f"building the processing layer ({', '.join(recipe.describe())}; cached after the first build)")
    layer = build_processing_layer(
        recipe.needs, recipe.requirements, config.arch, config.python_version, config.cache_path, progress
    )
    return None if layer is None else in_build_dir(layer, build_dir)


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
    processing: ProcessingOptions | None = None,
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
    intake = model_intake(model_path, name, sample, build_dir, trust_pickle, progress, processing)
    name, info, samples = intake.name, intake.info, intake.samples
    warnings.extend(intake.warnings)
    source = layer_source(config, intake, policy, build_dir, progress)
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
    if intake.processing is not None:
        write_processing(layer_dir, intake.processing)
    progress("running the model layer on the samples")
    smoke, predictions = smoke_check(layer_dir, samples, config.memory)
    drift = drift_baseline(config, layer_dir, intake, predictions)
    model_layer = zip_model_layer(layer_dir, build_dir / name, name)

    progress(f"building the runtime layer ({config.arch}, {config.runtime}; cached after the first build)")
    deploy_runtime = in_build_dir(
        build_runtime_layer(config.arch, config.python_version, config.cache_path, progress=progress),
        build_dir,
    )
    code = build_function_code(build_dir, config.python_version, config.python)
    recipe = None if intake.processing is None else intake.processing.recipe
    processing_layer = _processing_layer(config, recipe, build_dir, progress)
    layers = (deploy_runtime, *([processing_layer] if processing_layer else []), model_layer)
    budget = check_budget([code, *layers])
    progress("rendering template.yaml")
    spec = FunctionSpec.from_config(
        config,
        name,
        LayerRef(model_layer.zip_path, model_layer.sha256),
        reserved_concurrency=config.reserved_concurrency or None,
        model_sha256=info.sha256,
        canary=canary_spec(config, canary_percent),
        processing_layer=None
        if processing_layer is None
        else LayerRef(processing_layer.zip_path, processing_layer.sha256),
    )
    template = write_project_template(config, spec, deploy_runtime, code, build_dir)
    function = FunctionBuild(
        name=name,
        code=code,
        layers=layers,
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
        processing=recipe,
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
        processing=None if intake.processing is None else intake.processing.summary(),
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
    processing: ProcessingOptions | None = None,
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
        processing=processing,
    )
    plan = target.plan(result.function, canary_percent)
    if dry_run:
        target.discard(plan)
        return PushResult(build=result, deployment=None, dry_run=True, plan=plan)
    progress(f"deploying {result.function.name} to the {target.name} target")
    deployment = target.apply(plan)
    return PushResult(build=result, deployment=deployment)


def compress(
    config: ProjectConfig,
    model_path: Path,
    out_dir: Path,
    name: str | None = None,
    sample: Path | None = None,
    progress: Progress = quiet,
    policy: CompressionPolicy | None = None,
    trust_pickle: bool = False,
    processing: ProcessingOptions | None = None,
) -> CompressResult:
    """The build flow up to the model layer's content, written to `out_dir` instead of deployed. With
    `processing`, agreement is measured on what the function answers (a text model's pooled embedding, on
    texts tokenized as the function does), and the folder keeps the processing for `push DIR`."""
    policy = policy or CompressionPolicy.from_config(config)
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "model.json").is_file())
    ):
        raise ConfigError(
            f"--out {out_dir} exists and is not a folder written by `sls-deploy compress`",
            "give a new or empty folder (its content is replaced)",
        )
    build_dir = config.state_path / "build"
    intake = model_intake(model_path, name, sample, build_dir, trust_pickle, progress, processing)
    if intake.prepared is not None:
        raise ConfigError(f"{model_path} is compressed already", "compress the original .onnx file")
    if not policy.enabled:
        raise ConfigError("--compress none leaves nothing to do", "use --compress auto or name a method")
    source = layer_source(config, intake, policy, config.state_path / "build", progress)
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
    if intake.processing is not None:
        write_processing(out_dir, intake.processing, with_requirements=True)
    atomic_write_text(out_dir / REPORT_NAME, json.dumps(source.report, indent=2, sort_keys=True) + "\n")
    return CompressResult(
        name=intake.name,
        model=intake.info,
        out_dir=out_dir,
        compression=source.report,
        session_config=dict(source.extra["session_config"]),
        warnings=intake.warnings + source.warnings,
    )
