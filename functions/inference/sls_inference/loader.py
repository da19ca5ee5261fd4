"""The one model loader: a model directory (model.onnx + model.json) → a checked onnxruntime session.

Used by the Lambda handler at init, by the local target, and by the CLI when it checks a model, so that the
session options and integrity checks that were validated are the ones that run. Reads files; no other I/O.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from .integrity import sha256_file
from .signature import TensorSpec, specs_from_ort

MANIFEST_NAME = "model.json"
DEFAULT_MODEL_FILE = "model.onnx"
MANIFEST_FORMAT = 1
MEMORY_MB_PER_VCPU = (
    1769  # Lambda gives one full vCPU at 1,769 MB (sls_deploy.core.limits holds the same figure)
)
MAX_VCPUS = 6


class ModelLoadError(Exception):
    """The model directory is incomplete, altered, or not loadable by onnxruntime."""


@dataclass(frozen=True)
class LoadedModel:
    session: ort.InferenceSession
    manifest: Mapping[str, Any]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    load_ms: float
    threads: int
    path: Path = field(default=Path("."))

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", "model"))

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "1"))


def threads_for_memory(memory_mb: int | None) -> int:
    """Intra-op threads ≈ the vCPUs Lambda allocates for `memory_mb` (1 per 1,769 MB, at most 6)."""
    if not memory_mb:
        return max(1, min(MAX_VCPUS, os.cpu_count() or 1))
    return max(1, min(MAX_VCPUS, math.ceil(memory_mb / MEMORY_MB_PER_VCPU)))


def session_options(
    memory_mb: int | None, config_entries: Mapping[str, str] | None = None
) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    threads = threads_for_memory(memory_mb)
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads burn billed CPU between requests on a fractional vCPU.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for key, value in (config_entries or {}).items():
        opts.add_session_config_entry(str(key), str(value))
    return opts


def read_manifest(model_dir: Path) -> dict[str, Any]:
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ModelLoadError(
            f"{manifest_path} is missing: the model layer must hold model.onnx and model.json"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelLoadError(f"{manifest_path} must hold a JSON object")
    return manifest


def load_model(
    model_dir: str | os.PathLike[str], memory_mb: int | None = None, verify_sha256: bool = True
) -> LoadedModel:
    """Load `model_dir` (as laid out in the model layer). Raises ModelLoadError with what is wrong."""
    started = time.perf_counter()
    root = Path(model_dir)
    manifest = read_manifest(root)
    model_path = root / str(manifest.get("file", DEFAULT_MODEL_FILE))
    if not model_path.is_file():
        raise ModelLoadError(f"{model_path} is missing from the model layer")
    if verify_sha256 and manifest.get("sha256"):
        actual = sha256_file(model_path)
        if actual != manifest["sha256"]:
            raise ModelLoadError(
                f"{model_path} has sha256 {actual[:12]}…, but model.json records {str(manifest['sha256'])[:12]}…: "
                "the model layer was altered or is incomplete"
            )
    threads = threads_for_memory(memory_mb)
    opts = session_options(memory_mb, manifest.get("session_config") or {})
    try:
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelLoadError(f"onnxruntime could not load {model_path}: {exc}") from exc
    return LoadedModel(
        session=session,
        manifest=manifest,
        inputs=specs_from_ort(session.get_inputs()),
        outputs=specs_from_ort(session.get_outputs()),
        load_ms=(time.perf_counter() - started) * 1000.0,
        threads=threads,
        path=root,
    )
