"""Model intake for build, push and compress: the name, conversion to ONNX, the checked signature and samples,
and what the model layer is built from (the original, an earlier `compress` choice, or the policy's candidate)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compress import CompressionPolicy, PreparedModel, compress_model, read_compressed_dir
from ..core import limits
from ..core.config import ProjectConfig
from ..core.errors import ConfigError
from ..core.progress import Progress
from ..model.convert import TorchSource, convert_to_onnx, needs_conversion, torch_source
from ..model.onnx_model import ModelInfo, inspect_model, single_file_model
from ..model.processing import (
    Processing,
    ProcessingOptions,
    output_view,
    processing_for,
    processing_from_folder,
    text_samples,
)
from ..model.samples import Samples, generate_samples, load_samples


def check_name(name: str) -> str:
    if not limits.MODEL_NAME_RE.fullmatch(name):
        raise ConfigError(f"model name {name!r} cannot name a Lambda function", limits.MODEL_NAME_HINT)
    return name


def default_name(model_path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", model_path.stem).strip("-_") or "model"
    return stem if stem[0].isalpha() else f"m-{stem}"


@dataclass(frozen=True)
class Intake:
    """The model as the rest of the flow sees it: converted if needed, checked, with its samples."""

    name: str
    info: ModelInfo
    samples: Samples
    model_file: Path  # one self-contained .onnx file
    prepared: PreparedModel | None  # a folder written by `compress`: its choice is kept
    warnings: tuple[str, ...]
    processing: Processing | None = None  # pre/post-processing checked against the signature
    source: TorchSource | None = None  # the PyTorch model it was converted from (prune's recovery trains it)


def model_intake(
    model_path: Path,
    name: str | None,
    sample: Path | None,
    work_dir: Path,
    trust_pickle: bool,
    progress: Progress,
    processing_options: ProcessingOptions | None = None,
) -> Intake:
    convert = needs_conversion(model_path)  # a folder may be a TensorFlow SavedModel, not a `compress` folder
    prepared = read_compressed_dir(model_path) if model_path.is_dir() and not convert else None
    name = check_name(name or (prepared.name if prepared and prepared.name else default_name(model_path)))
    warnings: list[str] = []
    given = model_path
    if prepared is not None:
        model_path = prepared.model_path
    elif convert:
        progress(f"converting {model_path} to ONNX")
        model_path = convert_to_onnx(
            model_path, work_dir / name / "converted.onnx", trust_pickle=trust_pickle, sample=sample
        )
    progress(f"checking {model_path}")
    info = inspect_model(model_path)
    source = torch_source(given, info.producer, trust_pickle) if convert else None
    if processing_options is not None:
        processing = processing_for(processing_options, info.inputs, info.outputs)
    elif prepared is not None:  # a folder `compress` wrote keeps the processing it was measured with
        processing = processing_from_folder(prepared.model_path.parent, info.inputs, info.outputs)
    else:
        processing = None
    if sample is not None:
        samples = read_inputs(sample, info, processing)
    elif processing is not None and processing.spec.text is not None:
        samples = text_samples(processing, info.inputs, None)
        warnings.append("no --sample given: the model was checked on a few built-in sentences")
    else:
        samples = generate_samples(info.inputs)
        warnings.append(
            "no --sample given: the model was checked on random inputs, which say little about it "
            "(and its drift baseline is made from them)"
        )
    model_file = single_file_model(info, work_dir / name / "merged.onnx")
    return Intake(name, info, samples, model_file, prepared, tuple(warnings), processing, source)


@dataclass(frozen=True)
class LayerSource:
    """What the model layer is built from: the chosen file and what model.json records about it."""

    path: Path
    opset: dict[str, int]
    sha256: str | None  # of `path`, when known
    extra: dict[str, Any] | None  # model.json's "compression" and "session_config"
    report: dict[str, Any] | None  # the full compression report, for display and --json
    warnings: tuple[str, ...] = ()


def read_inputs(path: Path, info: ModelInfo, processing: Processing | None) -> Samples:
    """Inputs from a file, as the model takes them: texts tokenized by the function's code for a text
    model, else arrays matching the signature."""
    if processing is not None and processing.spec.text is not None:
        return text_samples(processing, info.inputs, path)
    return load_samples(path, info.inputs)


def layer_source(
    config: ProjectConfig, intake: Intake, policy: CompressionPolicy, work_dir: Path, progress: Progress
) -> LayerSource:
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
        return LayerSource(
            intake.model_file, dict(info.opset), sha, prepared.manifest_extra(), prepared.report, notes
        )
    if not policy.enabled:
        return LayerSource(intake.model_file, dict(info.opset), sha, None, None)
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
        view=output_view(intake.processing, info.inputs),
        held_out=None
        if policy.validation is None
        else read_inputs(policy.validation, info, intake.processing),
        source=intake.source,
    )
    return LayerSource(
        compressed.path,
        dict(compressed.opset),
        compressed.sha256,
        compressed.manifest_extra(),
        compressed.report.to_json(),
        compressed.report.warnings,
    )
