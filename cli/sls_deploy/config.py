"""ProjectConfig: every setting resolved as flag > SLS_DEPLOY_* environment variable > config file > default.

Config files: `[tool.sls-deploy]` in the project's pyproject.toml, or a top-level table in sls-deploy.toml
(which wins when both exist). Reads files and the environment; writes nothing.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import limits
from .errors import ConfigError

ENV_PREFIX = "SLS_DEPLOY_"


@dataclass(frozen=True)
class ProjectConfig:
    """Settings of one project (a folder holding the state directory and the rendered template)."""

    project_dir: Path = field(default_factory=Path.cwd)
    project: str = ""  # stack/project name; default: the folder's name
    target: str = "local"
    arch: str = "x86_64"
    runtime: str = "python3.12"
    memory: int = 1024
    timeout: int = 30
    public: bool = False
    log_retention_days: int = 14
    state_dir: str = ".sls-deploy"
    cache_dir: str = ""  # default: $XDG_CACHE_HOME/sls-deploy or ~/.cache/sls-deploy
    python: str = ""  # interpreter for local workers; default: found from pyenv / PATH by runtime
    region: str = "us-east-1"

    @property
    def state_path(self) -> Path:
        path = Path(self.state_dir)
        return path if path.is_absolute() else self.project_dir / path

    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "sls-deploy"

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def project_name(self) -> str:
        return self.project or _sanitize(self.project_dir.resolve().name)

    def validated(self) -> ProjectConfig:
        if self.target not in ("local", "aws"):
            raise ConfigError(
                f"unknown target {self.target!r}", "use --target local (default) or --target aws"
            )
        problem = limits.function_setting_problem(self.arch, self.runtime, self.memory, self.timeout)
        if problem is not None:
            raise ConfigError(*problem)
        return self


def _sanitize(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return cleaned or "sls-deploy"


_KIND_WORDS = {"int": "a whole number", "bool": "true or false", "str": "text", "Path": "a path"}
_FIELD_TYPES = {f.name: f.type for f in fields(ProjectConfig)}


def _coerce(key: str, value: Any, source: str) -> Any:
    kind = str(_FIELD_TYPES[key])  # a string under `from __future__ import annotations`
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "Path":
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{source}: {key} = {value!r} is not {_KIND_WORDS.get(kind, kind)}",
            f"set {key} to {_KIND_WORDS.get(kind, kind)}",
        ) from exc


def _file_settings(project_dir: Path) -> tuple[dict[str, Any], str]:
    toml_path = project_dir / "sls-deploy.toml"
    pyproject = project_dir / "pyproject.toml"
    for path, pick in (
        (toml_path, lambda d: d),
        (pyproject, lambda d: d.get("tool", {}).get("sls-deploy", {})),
    ):
        if path.is_file():
            try:
                data = pick(tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{path} cannot be read: {exc}", "fix the TOML syntax") from exc
            if data:
                return dict(data), str(path)
    return {}, ""


def load_config(
    project_dir: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProjectConfig:
    """Resolve the configuration. `overrides` are CLI flags; None values mean "not given"."""
    project_dir = (project_dir or Path.cwd()).resolve()
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file_values, file_name = _file_settings(project_dir)
    for key, value in file_values.items():
        key = key.replace("-", "_")
        if key not in _FIELD_TYPES or key == "project_dir":
            raise ConfigError(
                f"{file_name}: unknown setting {key!r}",
                f"known settings: {', '.join(k for k in _FIELD_TYPES if k != 'project_dir')}",
            )
        values[key] = _coerce(key, value, file_name)
    for key in _FIELD_TYPES:
        env_key = ENV_PREFIX + key.upper()
        if key != "project_dir" and env_key in env:
            values[key] = _coerce(key, env[env_key], env_key)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return replace(ProjectConfig(project_dir=project_dir), **values).validated()
