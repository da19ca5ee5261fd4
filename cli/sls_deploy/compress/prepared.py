"""A folder written by `sls-deploy compress --out DIR` (model.onnx + model.json holding the choice), read back
so that `push DIR` deploys that choice without compressing again. Reads files only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sls_inference.loader import DEFAULT_MODEL_FILE, ModelLoadError, read_manifest

from ..core.errors import ModelError

REPORT_NAME = "compression-report.json"  # the full report (timings included) `compress --out` writes


@dataclass(frozen=True)
class PreparedModel:
    model_path: Path
    name: str
    sha256: str
    compression: dict[str, Any]  # model.json's record
    session_config: dict[str, str]
    report: dict[str, Any]  # the full report when the folder has it, else the record

    @property
    def method(self) -> str:
        return str(self.compression.get("method", "none"))

    def manifest_extra(self) -> dict[str, Any]:
        return {"compression": self.compression, "session_config": self.session_config}


def read_compressed_dir(folder: Path) -> PreparedModel:
    """The model and choice in `folder`; ModelError when it is not a folder `sls-deploy compress` wrote."""
    hint = (
        "pass an .onnx file, a folder written by `sls-deploy compress MODEL --out DIR`, or a TensorFlow "
        "SavedModel folder (one holding saved_model.pb)"
    )
    try:
        manifest = read_manifest(folder)
    except ModelLoadError as exc:
        raise ModelError(f"{folder} is a folder but not a compressed model: {exc}", hint) from exc
    model_path = folder / str(manifest.get("file", DEFAULT_MODEL_FILE))
    if not model_path.is_file() or not isinstance(manifest.get("compression"), dict):
        raise ModelError(
            f"{folder} does not hold model.onnx and a model.json with a compression record", hint
        )
    config = manifest.get("session_config") or {}
    return PreparedModel(
        model_path=model_path,
        name=str(manifest.get("name", "")),
        sha256=str(manifest.get("sha256", "")),
        compression=dict(manifest["compression"]),
        session_config={str(k): str(v) for k, v in dict(config).items()},
        report=_full_report(folder) or dict(manifest["compression"]),
    )


def _full_report(folder: Path) -> dict[str, Any] | None:
    try:
        report = json.loads((folder / REPORT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None
