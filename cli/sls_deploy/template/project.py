"""The project's template.yaml: one function per model built in this project, rendered from build records.

Each `build` leaves `<state>/build/<name>/function.json` (the model layer and the function's settings);
the template covers every model recorded there, with the project's current architecture and runtime (they
share one runtime layer). Side effects: writes function.json records and template.yaml; `forget_function` deletes
a model's build folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..core.alarm_rules import alarm_rules
from ..core.artifacts import Artifact
from ..core.config import ProjectConfig
from ..core.errors import TemplateError
from ..core.fsutil import atomic_write_text
from .monitoring import CanarySpec
from .render import render_template, to_yaml
from .rendered import template_functions, without_function
from .spec import DEFAULT_CODE_URI, FunctionSpec, LayerRef, TemplateSpec

RECORD_NAME = "function.json"
TEMPLATE_NAME = "template.yaml"


class WrittenTemplate(NamedTuple):
    """template.yaml as written: where, and the document its text holds."""

    path: Path
    document: dict[str, Any]


def _relative(config: ProjectConfig, path: Path) -> str:
    return Path(os.path.relpath(path, config.project_dir)).as_posix()


def _recorded_uri(config: ProjectConfig, uri: str) -> str:
    """An s3:// URI as it is; a local path relative to the project folder."""
    return uri if uri.startswith("s3://") else _relative(config, Path(uri).resolve())


def record_function(config: ProjectConfig, spec: FunctionSpec, record_dir: Path) -> None:
    data = {
        "name": spec.name,
        "model_layer": _recorded_uri(config, spec.model_layer.uri),
        "model_layer_sha256": spec.model_layer.sha256,
        "memory": spec.memory,
        "timeout": spec.timeout,
        "public": spec.public,
        "environment": dict(spec.environment),
        "reserved_concurrency": spec.reserved_concurrency,
        "model_sha256": spec.model_sha256,
        "canary": None if spec.canary is None else spec.canary.to_json(),
    }
    if spec.processing_layer is not None:  # absent for a model without one: older records read the same
        data["processing_layer"] = _recorded_uri(config, spec.processing_layer.uri)
        data["processing_layer_sha256"] = spec.processing_layer.sha256
    atomic_write_text(record_dir / RECORD_NAME, json.dumps(data, indent=2, sort_keys=True) + "\n")


def recorded_functions(config: ProjectConfig, build_dir: Path) -> tuple[FunctionSpec, ...]:
    specs = []
    for record in sorted(build_dir.glob(f"*/{RECORD_NAME}")):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            specs.append(
                FunctionSpec(
                    name=data["name"],
                    model_layer=LayerRef(data["model_layer"], data["model_layer_sha256"]),
                    memory=int(data["memory"]),
                    timeout=int(data["timeout"]),
                    arch=config.arch,
                    runtime=config.runtime,
                    public=bool(data["public"]),
                    environment=data.get("environment") or {},
                    reserved_concurrency=data.get("reserved_concurrency"),
                    model_sha256=data.get("model_sha256", ""),
                    alarms=alarm_rules(config, int(data["timeout"])),
                    canary=CanarySpec(**data["canary"]) if data.get("canary") else None,
                    snapstart=config.snapstart,
                    provisioned=config.provisioned,
                    processing_layer=LayerRef(data["processing_layer"], data["processing_layer_sha256"])
                    if data.get("processing_layer")
                    else None,
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TemplateError(
                f"build record {record} is unreadable: {exc}",
                f"delete {record.parent} and build that model again",
            ) from exc
    return tuple(specs)


def code_uri(config: ProjectConfig, code: Artifact) -> str:
    """functions/inference/ where the project holds the function's source (this repository), else the zip."""
    if (config.project_dir / DEFAULT_CODE_URI / "sls_inference" / "handler.py").is_file():
        return DEFAULT_CODE_URI
    return _relative(config, code.zip_path)


def forget_function(config: ProjectConfig, name: str) -> None:
    """Take model `name` out of the project: its build folder goes, and template.yaml no longer holds it
    (template.yaml goes too when it held nothing else)."""
    shutil.rmtree(config.state_path / "build" / name, ignore_errors=True)
    path = config.project_dir / TEMPLATE_NAME
    try:
        template = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return
    if not isinstance(template, dict):
        return
    trimmed = without_function(template, name)
    if template_functions(trimmed):
        atomic_write_text(path, to_yaml(trimmed))
    else:
        path.unlink(missing_ok=True)


def write_project_template(
    config: ProjectConfig, function: FunctionSpec, runtime_layer: Artifact, code: Artifact, build_dir: Path
) -> WrittenTemplate:
    """Record `function` (a just-built model) and rewrite template.yaml for every recorded model."""
    record_function(config, function, build_dir / function.name)
    functions = recorded_functions(config, build_dir)
    spec = TemplateSpec.from_config(
        config,
        runtime_layer=LayerRef(_relative(config, runtime_layer.zip_path), runtime_layer.sha256),
        functions=functions,
        code_uri=code_uri(config, code),
    )
    path = config.project_dir / TEMPLATE_NAME
    document = render_template(spec)
    atomic_write_text(path, to_yaml(document))
    return WrittenTemplate(path, document)
