"""The model folder: `model.onnx` + `model.json` as sls_inference.loader reads them — what `compress --out`
writes, what the gate loads each candidate from, and what the model layer holds (`model/...` → /opt/model on
Lambda), zipped deterministically.

The manifest (format 1) is what sls_inference.loader reads at init. This module only lays out and zips what
model intake found out: signature, opset and sha256 come in as arguments.
The layer may also hold the drift baseline (`model/baseline.json`, made by sls_deploy.model.baseline and
read by sls_inference.drift), named by model.json's "drift" entry.
Side effects: writes `<out_dir>/model/` (the unpacked layer, replaced on every build) and
`<out_dir>/model-<name>.zip`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from sls_inference.drift import BASELINE_NAME
from sls_inference.integrity import sha256_file
from sls_inference.loader import DEFAULT_MODEL_FILE, MANIFEST_FORMAT, MANIFEST_NAME
from sls_inference.signature import TensorSpec

from ..core import limits
from ..core.artifacts import Artifact
from ..core.errors import PackagingError
from ..core.zips import zip_directory

LAYER_DIR = "model"  # the zip's top folder: Lambda mounts it as /opt/model
VERSION_LENGTH = 12
KIND: Final = "model-layer"


def model_manifest(
    *,
    name: str,
    sha256: str,
    size_bytes: int,
    opset: Mapping[str, int],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """model.json's content. `extra` adds or replaces top-level fields (e.g. "compression",
    "session_config"); the identity fields (format, name, version, file, sha256, size) cannot be replaced."""
    manifest: dict[str, Any] = {
        "compression": {"method": "none"},
        "session_config": {},
    }
    manifest.update(extra or {})
    manifest.update(
        {
            "format": MANIFEST_FORMAT,
            "name": name,
            "version": sha256[:VERSION_LENGTH],
            "file": DEFAULT_MODEL_FILE,
            "sha256": sha256,
            "size_bytes": size_bytes,
            "opset": {str(domain): int(version) for domain, version in sorted(opset.items())},
            "signature": {
                "inputs": [spec.to_json() for spec in inputs],
                "outputs": [spec.to_json() for spec in outputs],
            },
        }
    )
    return manifest


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON encoding (sorted keys, fixed indentation): the same manifest gives the same bytes."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def model_layer_dir(out_dir: Path) -> Path:
    """Where build_model_layer leaves the unpacked layer (`<out_dir>/model`, laid out as /opt/model), so the
    model can be loaded with sls_inference.loader exactly as the handler will, without unzipping."""
    return Path(out_dir) / LAYER_DIR


def write_model_dir(
    model_path: Path,
    layer_dir: Path,
    name: str,
    *,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    opset: Mapping[str, int],
    sha256: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `layer_dir/{model.onnx,model.json}` (replacing the folder): the model folder the loader reads,
    as the model layer holds it and as `sls-deploy compress --out` leaves it. Returns `layer_dir`.

    `sha256` is the file's hash if the caller has it; it is re-checked here (the loader refuses a folder
    whose manifest does not match its file). None: computed here (e.g. for a merged or compressed copy).
    """
    if not limits.MODEL_NAME_RE.fullmatch(name):
        raise PackagingError(f"model name {name!r} cannot name a layer", limits.MODEL_NAME_HINT)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise PackagingError(
            f"model file {model_path} does not exist", "pass the .onnx file that model intake checked"
        )
    actual = sha256_file(model_path)
    if sha256 is not None and actual != sha256:
        raise PackagingError(
            f"{model_path} has sha256 {actual[:12]}…, not the {sha256[:12]}… it was inspected with",
            "the file changed after it was checked: run the command again",
        )
    manifest = model_manifest(
        name=name,
        sha256=actual,
        size_bytes=model_path.stat().st_size,
        opset=opset,
        inputs=inputs,
        outputs=outputs,
        extra=extra,
    )
    if model_path.resolve().is_relative_to(layer_dir.resolve()):
        raise PackagingError(
            f"{model_path} lies inside the folder the model layer is built in ({layer_dir})",
            "pass the original model file, or build into another folder",
        )
    if layer_dir.exists():
        shutil.rmtree(layer_dir)
    layer_dir.mkdir(parents=True)
    shutil.copyfile(
        model_path, layer_dir / DEFAULT_MODEL_FILE
    )  # a fresh file: mode from umask, not the source
    (layer_dir / MANIFEST_NAME).write_bytes(manifest_bytes(manifest))
    return layer_dir


def build_model_layer(
    model_path: Path,
    name: str,
    out_dir: Path,
    *,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    opset: Mapping[str, int],
    sha256: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Artifact:
    """Lay out `model_path` as `<out_dir>/model/{model.onnx,model.json}` and zip that folder as
    `<out_dir>/model-<name>.zip` (entries `model/...`).

    `sha256` is the file's hash if the caller has it (sls_deploy.model computes it); it is re-checked here,
    since the loader refuses a layer whose manifest does not match its file. None: computed here (e.g. for a
    merged or compressed copy). The same inputs give the same zip, byte for byte.
    """
    layer_dir = write_model_dir(
        model_path,
        model_layer_dir(out_dir),
        name,
        inputs=inputs,
        outputs=outputs,
        opset=opset,
        sha256=sha256,
        extra=extra,
    )
    return zip_model_layer(layer_dir, out_dir, name)


def write_drift_baseline(layer_dir: Path, baseline: bytes, drift: Mapping[str, Any]) -> None:
    """Add the drift baseline to a folder write_model_dir wrote: `baseline.json` (the document's canonical
    bytes) and model.json's "drift" entry (`drift`: {"baseline": "baseline.json", "every", "seconds"})."""
    manifest_path = Path(layer_dir) / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["drift"] = dict(drift)
    (Path(layer_dir) / str(drift.get("baseline", BASELINE_NAME))).write_bytes(baseline)
    manifest_path.write_bytes(manifest_bytes(manifest))


def zip_model_layer(layer_dir: Path, out_dir: Path, name: str) -> Artifact:
    """Zip a model folder (as write_model_dir left it) as `<out_dir>/model-<name>.zip`, entries `model/...`."""
    zip_path = Path(out_dir) / f"model-{name}.zip"
    zip_directory(layer_dir, zip_path, prefix=f"{LAYER_DIR}/")
    return Artifact.from_zip(KIND, name, zip_path)
