"""ONNX intake: check a model file and describe it as a ModelInfo.

Checks, in order: the file exists; it parses as an ONNX ModelProto; external data files it references are
present; onnx.checker accepts it; onnxruntime can load it with the same loader options the handler uses.
The signature comes from onnxruntime (as the handler sees it). Reads files; writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import ExternalDataInfo, uses_external_data

from sls_inference.integrity import sha256_file
from sls_inference.loader import session_options
from sls_inference.signature import TensorSpec, specs_from_ort

from ..core.errors import ModelError

PROTOBUF_LIMIT = 2 * 1024**3  # a ModelProto larger than 2 GiB cannot be serialised as one file


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    size_bytes: int  # the .onnx file plus any external data files
    ir_version: int
    opset: dict[str, int]  # domain ("" = ai.onnx) → version
    producer: str
    graph_name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    external_data: tuple[Path, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "ir_version": self.ir_version,
            "opset": self.opset,
            "producer": self.producer,
            "graph_name": self.graph_name,
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "external_data": [str(p) for p in self.external_data],
        }


def _parse(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeWarning, ValueError, OSError) as exc:
        raise ModelError(
            f"{path} is not a readable ONNX model: {exc}",
            "check that the file is a complete .onnx export (re-export or re-download it)",
        ) from exc
    # Protobuf decodes many non-ONNX byte strings into a mostly empty message; a real model has an IR
    # version and a graph with at least one output.
    if model.ir_version <= 0 or not model.graph.output:
        raise ModelError(
            f"{path} is not an ONNX model (no IR version or graph outputs found)",
            "pass a file exported with torch.onnx.export, skl2onnx, tf2onnx or onnx.save",
        )
    return model


def _external_files(model: onnx.ModelProto, base: Path) -> tuple[Path, ...]:
    files: set[Path] = set()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(attr.t for attr in node.attribute if attr.HasField("t"))
    for tensor in tensors:
        if uses_external_data(tensor):
            files.add(base / ExternalDataInfo(tensor).location)
    missing = sorted(str(p) for p in files if not p.is_file())
    if missing:
        raise ModelError(
            f"the model stores weights in external data files that are missing: {', '.join(missing)}",
            "keep the external data files next to the .onnx file, with the names the model records",
        )
    return tuple(sorted(files))


def inspect_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Check `path` and return its ModelInfo; raises ModelError saying what is wrong and how to fix it."""
    model_path = Path(path)
    if not model_path.exists():
        raise ModelError(
            f"model file {model_path} does not exist", "check the path (it is relative to the current folder)"
        )
    if not model_path.is_file():
        raise ModelError(f"{model_path} is not a file", "pass the .onnx file itself, not its folder")
    model = _parse(model_path)
    external = _external_files(model, model_path.parent)
    try:
        # The path form lets the checker handle external data and models over 2 GiB.
        onnx.checker.check_model(str(model_path))
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelError(
            f"{model_path} fails the ONNX checker: {first}",
            "re-export the model with a current exporter and opset",
        ) from exc
    import onnxruntime as ort  # heavy; imported only once a file is worth loading

    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=session_options(None), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises Fail / InvalidGraph / NotImplemented with a message
        raise ModelError(
            f"onnxruntime {ort.__version__} cannot load {model_path}: {str(exc).strip()[:400]}",
            "check the opset and operators the model uses against onnxruntime's support",
        ) from exc
    size = model_path.stat().st_size + sum(p.stat().st_size for p in external)
    return ModelInfo(
        path=model_path.resolve(),
        sha256=sha256_file(model_path),
        size_bytes=size,
        ir_version=int(model.ir_version),
        opset={imp.domain or "": int(imp.version) for imp in model.opset_import},
        producer=" ".join(x for x in (model.producer_name, model.producer_version) if x),
        graph_name=model.graph.name,
        inputs=specs_from_ort(session.get_inputs()),
        outputs=specs_from_ort(session.get_outputs()),
        external_data=external,
    )


def single_file_model(info: ModelInfo, dest: Path) -> Path:
    """The model as one self-contained .onnx file: the original, or (with external data) a merged copy at dest."""
    if not info.external_data:
        return info.path
    if info.size_bytes >= PROTOBUF_LIMIT:
        raise ModelError(
            f"{info.path} with its external data is {info.size_bytes / 1e9:.1f} GB; one ONNX file holds < 2 GiB",
            "such a model does not fit Lambda's 250 MB limit either: compress it or use a container image",
        )
    model = onnx.load(str(info.path), load_external_data=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dest), save_as_external_data=False)
    return dest
