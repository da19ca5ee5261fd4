"""Compression that chooses: build each candidate the policy names, run it and the original through the gate
with the handler's own loader (sls_inference.loader on a model folder laid out by model.folder), and
pick one by the policy (policy.py; the choosing in choice.py). Calibration and validation rows are split
first (validation.py): every verdict rests on rows no candidate was calibrated on. A method that cannot be
applied (e.g. to a control-flow model) is reported as failed for that candidate, never raised.
Side effects: writes candidates and their model folders under `work_dir` (replaced on every run); only
the chosen candidate's folder is kept.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from sls_inference.loader import LoadedModel, ModelLoadError, load_model
from sls_inference.signature import TensorSpec

from ..core.errors import ModelError
from ..core.progress import Progress, quiet
from ..model import graphs
from ..model.convert import TorchSource
from ..model.folder import build_model_layer, model_layer_dir
from ..model.processing import OutputView
from ..model.samples import Samples, sample_rows
from . import gate, plans, validation
from .base import MethodContext, MethodError
from .choice import choose, unshown_threshold
from .policy import CompressionPolicy
from .probe import AgreementProbe
from .report import CandidateReport, CompressionReport


@dataclass(frozen=True)
class CompressedModel:
    path: Path  # the chosen model file (the original's when none was chosen)
    opset: Mapping[str, int]
    session_config: Mapping[str, str]
    report: CompressionReport
    sha256: str | None = None  # of `path` when it is the original (checked again by the model layer)

    @property
    def method(self) -> str:
        return self.report.method

    def manifest_extra(self) -> dict[str, Any]:
        """model.json's "compression" (the run-independent record) and "session_config" fields."""
        return {"compression": self.report.to_manifest(), "session_config": dict(self.session_config)}


@dataclass
class _Built:
    path: Path
    opset: dict[str, int]
    session_config: dict[str, str] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _same_signature(a: Sequence[TensorSpec], b: Sequence[TensorSpec]) -> bool:
    return [(s.name, s.dtype) for s in a] == [(s.name, s.dtype) for s in b]


def _load(folder: Path, memory_mb: int) -> LoadedModel:
    return load_model(model_layer_dir(folder), memory_mb=memory_mb)


def _build_candidate(
    original: onnx.ModelProto, plan: plans.Plan, ctx: MethodContext
) -> tuple[onnx.ModelProto, dict[str, str], list[str]]:
    model = onnx.ModelProto()
    model.CopyFrom(original)
    config: dict[str, str] = {}
    notes: list[str] = []
    for step in plan.steps:
        result = plans.METHODS[step.method].apply(model, step.param, ctx)
        model = result.model
        config.update(result.session_config)
        notes.extend(n for n in result.notes if n)
    return model, config, notes


def _subgraph_note(model: onnx.ModelProto, flow: Sequence[str]) -> str:
    """What a method left of the weights inside If/Loop/Scan bodies (onnxruntime's quantizers skip them)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graphs.constants_to_initializers(probe.graph)
    left, size = graphs.subgraph_weights(probe)
    ops = ", ".join(flow)
    if not left:
        return f"control flow ({ops}): no fp32 weights left inside subgraphs"
    return f"control flow ({ops}): {left} fp32 weight tensor(s), {size / 1e6:.2f} MB, left inside subgraphs"


@dataclass(frozen=True)
class _Reference:
    """The original model loaded and run on the samples: what every candidate is measured against."""

    loaded: LoadedModel
    specs: Sequence[TensorSpec]  # what is compared: the model's outputs, or the post-processed ones
    outputs: list[Any]  # the original's outputs on the samples (post-processed with a view)
    metric: str
    threshold: float
    rows: int
    one: gate.Feeds
    many: gate.Feeds | None
    batch_rows: int | None


@dataclass(frozen=True)
class _Bench:
    """What every candidate is built, loaded and measured with."""

    name: str
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    samples: Samples  # the validation rows: agreement and latency are measured on them
    calibration: Samples  # the rows int8-static calibrates on (disjoint from `samples` where they could be)
    arch: str
    memory_mb: int
    max_slowdown: float
    flow: Sequence[str]  # the original's control-flow ops
    reference: _Reference
    progress: Progress
    view: OutputView | None = None
    search_probe: AgreementProbe | None = None  # on ≤ SEARCH_ROWS calibration rows, for methods that search
    validation_probe: AgreementProbe | None = None  # on the validation rows, for methods' notes only
    source: TorchSource | None = None  # the PyTorch model the original was exported from (prune's recovery)
    finetune_steps: int = 0

    def compared(self, specs: Sequence[TensorSpec], outputs: list[Any]) -> list[Any]:
        """A run's outputs as the gate compares them (post-processed by the view, if any)."""
        return outputs if self.view is None else self.view(specs, outputs, self.samples.arrays)[1]


def _measure_original(
    model_path: Path,
    name: str,
    folder: Path,
    *,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    opset: Mapping[str, int],
    sha256: str | None,
    samples: Samples,
    policy: CompressionPolicy,
    memory_mb: int,
    view: OutputView | None = None,
) -> tuple[_Reference, CandidateReport]:
    """The original laid out in `folder`, loaded and run on the samples (its outputs post-processed by
    `view`); and its baseline report."""
    layer = build_model_layer(
        model_path, name, folder, inputs=inputs, outputs=outputs, opset=opset, sha256=sha256
    )
    try:
        base = _load(folder, memory_mb)
        reference = base.session.run(None, dict(samples.arrays))
    except Exception as exc:  # the loader's ModelLoadError or onnxruntime's own errors
        raise ModelError(
            f"the original model does not run on the sample inputs ({samples.source}): {_first_line(exc)}",
            "check that the samples have the shapes and dtypes the model was exported with",
        ) from exc
    specs: Sequence[TensorSpec] = base.outputs
    if view is not None:
        specs, reference = view(base.outputs, reference, samples.arrays)
    metric = gate.choose_metric(specs, reference) if policy.metric == "auto" else policy.metric
    rows = sample_rows(samples)
    one, many, batch_rows = gate.latency_feeds(samples, base.inputs)
    measured = _Reference(
        base, specs, reference, metric, policy.threshold(metric), rows, one, many, batch_rows
    )
    baseline = CandidateReport(
        method="none",
        verdict="baseline",
        reason="the original model",
        size_bytes=model_path.stat().st_size,
        zipped_bytes=layer.zipped_bytes,
        agreement=gate.measure_agreement(metric, specs, reference, reference, rows),
        load_ms=base.load_ms,
    )
    return measured, baseline


def _timed(
    bench: _Bench, loaded: LoadedModel, agreement: gate.Agreement, label: str, counter: str
) -> tuple[gate.Latency, bool, str]:
    """The candidate's latency against the original's, and the gate's verdict on both measurements."""
    ref = bench.reference
    bench.progress(f"compression: timing {label} against the original {counter}")
    latency = gate.measure_latency(ref.loaded.session, loaded.session, ref.one, ref.many, ref.batch_rows)
    passed, reason = gate.judge(agreement, latency, ref.threshold, bench.max_slowdown)
    if not passed and agreement.value is not None and agreement.value >= ref.threshold:
        # A slowdown is measured twice before it refuses a candidate: shared machines are noisy.
        bench.progress(f"compression: timing {label} again {counter}")
        again = gate.measure_latency(ref.loaded.session, loaded.session, ref.one, ref.many, ref.batch_rows)
        latency = gate.faster_of(latency, again)
        passed, reason = gate.judge(agreement, latency, ref.threshold, bench.max_slowdown)
    return latency, passed, reason


def _built_and_measured(
    bench: _Bench,
    original: onnx.ModelProto,
    plan: plans.Plan,
    folder: Path,
    ctx: MethodContext,
    counter: str,
    started: float,
) -> tuple[CandidateReport, _Built]:
    """Build `plan`'s candidate in `folder`, load it as the handler would and measure it."""
    label, ref = plan.label, bench.reference
    model, config, notes = _build_candidate(original, plan, ctx)
    if bench.flow:
        notes.append(_subgraph_note(model, bench.flow))
    path = folder / "model.onnx"
    onnx.save_model(model, str(path))
    layer = build_model_layer(
        path,
        bench.name,
        folder,
        inputs=bench.inputs,
        outputs=bench.outputs,
        opset=graphs.opsets(model),
        extra={"compression": {"method": label}, "session_config": config},
    )
    loaded = _load(folder, bench.memory_mb)
    if not _same_signature(loaded.inputs, ref.loaded.inputs) or not _same_signature(
        loaded.outputs, ref.loaded.outputs
    ):
        raise MethodError("the compressed model's inputs or outputs differ from the original's")
    result = bench.compared(loaded.outputs, loaded.session.run(None, dict(bench.samples.arrays)))
    agreement = gate.measure_agreement(ref.metric, ref.specs, ref.outputs, result, ref.rows)
    latency, passed, reason = _timed(bench, loaded, agreement, label, counter)
    report = CandidateReport(
        method=label,
        verdict="passed" if passed else "refused",
        reason=reason,
        size_bytes=path.stat().st_size,
        zipped_bytes=layer.zipped_bytes,
        agreement=agreement,
        latency=latency,
        load_ms=loaded.load_ms,
        session_config=config,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )
    return report, _Built(path, graphs.opsets(model), config)


def _failed(label: str, exc: Exception, flow: Sequence[str], started: float) -> CandidateReport:
    prefix = "" if isinstance(exc, MethodError | ModelLoadError) else f"{type(exc).__name__}: "
    reason = prefix + _first_line(exc)
    if flow and not isinstance(exc, MethodError):
        reason += f" (the model uses {', '.join(flow)})"
    return CandidateReport(
        method=label, verdict="failed", reason=reason, seconds=time.perf_counter() - started
    )


def _candidate(
    bench: _Bench, original: onnx.ModelProto, plan: plans.Plan, folder: Path, counter: str
) -> tuple[CandidateReport, _Built | None]:
    """`plan`'s candidate measured, or failed with the reason: a method that cannot handle this model fails
    its candidate, not the push."""
    started = time.perf_counter()
    bench.progress(f"compression: {plan.label} {counter}")
    ctx = MethodContext(
        bench.calibration,
        bench.arch,
        folder / "work",
        bench.search_probe,
        bench.source,
        bench.finetune_steps,
        bench.validation_probe,
    )
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _built_and_measured(bench, original, plan, folder, ctx, counter, started)
    except Exception as exc:
        return _failed(plan.label, exc, bench.flow, started), None
    finally:
        shutil.rmtree(ctx.work_dir, ignore_errors=True)  # the methods' scratch copies


def _keep_only(work_dir: Path, kept: Path) -> None:
    """Remove the candidates not chosen (up to several copies of the model): every folder but `kept`'s."""
    for folder in work_dir.iterdir():
        if folder.is_dir() and not kept.is_relative_to(folder):
            shutil.rmtree(folder)


def compress_model(
    model_path: Path,
    name: str,
    *,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    opset: Mapping[str, int],
    samples: Samples,
    policy: CompressionPolicy,
    work_dir: Path,
    memory_mb: int,
    arch: str,
    sha256: str | None = None,
    progress: Progress = quiet,
    view: OutputView | None = None,
    held_out: Samples | None = None,
    source: TorchSource | None = None,
) -> CompressedModel:
    """Measure the candidates `policy` names against the original and return the chosen model.

    The samples are split into calibration and validation rows (policy.validation_fraction), or all of them
    calibrate and `held_out` (the user's own inputs) validates: verdicts rest on rows no candidate was
    calibrated on. With `view`, agreement is measured on the post-processed outputs (what the function
    answers), not the raw ones."""
    candidate_plans = plans.parse(policy.spec)
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    warnings: list[str] = []
    if samples.generated:
        warnings.append(
            "compression was measured on random inputs generated from the signature: agreement on them says "
            "little about real inputs (and int8-static calibrates on them); pass --sample with real inputs"
        )

    split = validation.split_samples(samples, policy.validation_fraction, held_out)
    if not split.disjoint:
        warnings.append(split.note)
    progress(f"compression: {split.note}")
    progress("compression: loading the original model")
    reference, baseline = _measure_original(
        model_path,
        name,
        work_dir / "none",
        inputs=inputs,
        outputs=outputs,
        opset=opset,
        sha256=sha256,
        samples=split.validation,
        policy=policy,
        memory_mb=memory_mb,
        view=view,
    )
    original = onnx.load(str(model_path))
    fixed = graphs.dedupe_opsets(original)
    if fixed:
        warnings.append(
            f"the model imports opset domain(s) {', '.join(fixed)} twice: kept the highest version"
        )
    flow = graphs.control_flow_ops(original)
    validation_probe = AgreementProbe(
        reference.loaded.session,
        reference.loaded.outputs,
        split.validation,
        reference.metric,
        reference.threshold,
        memory_mb,
        view,
        expected=(reference.specs, reference.outputs),
    )
    bench = _Bench(
        name,
        inputs,
        outputs,
        split.validation,
        split.calibration,
        arch,
        memory_mb,
        policy.max_slowdown,
        flow,
        reference,
        progress,
        view,
        validation_probe.on(split.calibration).for_search(),
        validation_probe,
        source=source,
        finetune_steps=policy.finetune_steps,
    )

    built: dict[str, _Built] = {"none": _Built(model_path, dict(opset))}
    reports: list[CandidateReport] = [baseline]
    for index, plan in enumerate(candidate_plans, start=1):
        counter = f"({index}/{len(candidate_plans)})"
        candidate, made = _candidate(bench, original, plan, work_dir / plan.slug, counter)
        reports.append(candidate)
        if made is not None:
            built[plan.label] = made

    chosen, reason = choose(reports, baseline, policy)
    unshown = "" if chosen is baseline else unshown_threshold(chosen, reference.threshold)
    if unshown:
        warnings.append(unshown)
    final = tuple(
        c.with_verdict("chosen", reason) if c is chosen and c is not baseline else c for c in reports
    )
    report = CompressionReport(
        method=chosen.method,
        requested=policy.spec,
        reason=reason,
        metric=reference.metric,
        min_agreement=reference.threshold,
        max_slowdown=policy.max_slowdown,
        samples=split.validation.source,
        rows=reference.rows,
        calibration_rows=split.calibration.rows,
        split=split.note,
        forced=policy.force and not chosen.passed,
        candidates=final,
        warnings=tuple(warnings),
    )
    pick = built[chosen.method]
    _keep_only(work_dir, pick.path)
    return CompressedModel(
        path=pick.path,
        opset=pick.opset,
        session_config=pick.session_config,
        report=report,
        sha256=sha256 if chosen is baseline else None,
    )
