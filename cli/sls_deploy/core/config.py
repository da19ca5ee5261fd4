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
from types import MappingProxyType
from typing import Any

from . import limits
from .errors import ConfigError
from .prices import override_problem

ENV_PREFIX = "SLS_DEPLOY_"
DEFAULT_EMULATED_REGION = "us-east-1"


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
    region: str = ""  # AWS region; default: the AWS configuration's (aws target), us-east-1 (local target)
    # local target
    idle_seconds: int = 300  # a warm worker idle this long exits (scale to zero)
    reserved_concurrency: int = 0  # Lambda's ReservedConcurrentExecutions; 0: not reserved
    keep_versions: int = 5  # versions kept per function (an alias's versions are always kept)
    port: int = 3001  # `sls-deploy serve`
    # Hold workers to Lambda's CPU share of their MemorySize (a cgroup CPU quota: 1 vCPU per 1,769 MB). Off by
    # default: faithful, but it slows local serving on a small machine; `tune` always turns it on.
    emulate_cpu: bool = False
    # aws target
    stack_name: str = ""  # default: derived from the project name
    profile: str = ""  # AWS profile; default: boto3's credential chain
    # compression
    compress: str = "none"  # none | auto | a method list, see `sls-deploy compress --help`
    min_agreement: float = 0.0  # 0: the default of the agreement metric chosen for the model's outputs
    max_slowdown: float = 1.05  # p50 latency allowed relative to the fp32 model
    validation_fraction: float = 0.3  # share of the samples the compression gate judges on (never calibrates)
    # monitoring
    drift_every: int = 100  # a warm container reports input/prediction drift every this many rows …
    drift_seconds: int = 60  # … or at most this many seconds after the last report
    alarm_error_rate: float = 5.0  # % of invocations that fail, above which the errors alarm fires
    alarm_p99_ms: int = 0  # p99 Duration above which the latency alarm fires; 0: 80 % of the timeout
    alarm_drift_psi: float = 0.25  # InputDriftPSI above which the drift alarm fires ("significant" shift)
    canary_minutes: int = 5  # how long a canary runs before all traffic moves (aws: CodeDeploy's interval)
    canary_mode: str = "canary"  # canary: one step after canary_minutes; linear: +PCT every canary_minutes
    # cold-start options (aws; their cost is shown by `sls-deploy cost`)
    snapstart: bool = False  # SnapStart on published versions (python3.12+)
    provisioned: int = 0  # provisioned concurrency on the alias `live`; 0: none
    # the `[prices]` table: prices replacing the built-in ones (names: PriceTable in monitor/prices.py)
    prices: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)

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
    def emulated_region(self) -> str:
        """The region the local target and offline template checks act in: `region`, else us-east-1."""
        return self.region or DEFAULT_EMULATED_REGION

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
        for key, low, high in (
            ("idle_seconds", 1, 24 * 3600),
            ("reserved_concurrency", 0, limits.MAX_RESERVED_CONCURRENCY),
            ("keep_versions", 1, 1000),
            ("port", 0, 65535),
            ("drift_every", 1, 1_000_000),
            ("drift_seconds", 1, 24 * 3600),
            ("canary_minutes", 1, 24 * 60),
            ("provisioned", 0, limits.MAX_RESERVED_CONCURRENCY),
            ("alarm_p99_ms", 0, limits.MAX_TIMEOUT_S * 1000),
            ("alarm_error_rate", 0, 100),  # %: 0 fires on any failed invocation
            ("alarm_drift_psi", 0, 10),
        ):
            value = getattr(self, key)
            if not low <= value <= high:
                raise ConfigError(f"{key} = {value} is out of range", f"set {key} between {low} and {high}")
        if self.canary_mode not in ("canary", "linear"):
            raise ConfigError(
                f"canary_mode = {self.canary_mode!r} is not a canary mode",
                "use canary (one step after canary_minutes) or linear (+PCT every canary_minutes)",
            )
        if self.snapstart and self.provisioned:
            raise ConfigError(
                "snapstart and provisioned concurrency are both set",
                "Lambda allows one of them per function version: drop --snapstart or --provisioned",
            )
        if self.max_slowdown < 1.0:
            raise ConfigError(
                f"max_slowdown = {self.max_slowdown} is below 1", "give a factor such as 1.05 (5 % slower)"
            )
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(
                f"validation_fraction = {self.validation_fraction} is not between 0 and 1",
                "give the share of the samples held out for the compression gate, e.g. 0.3",
            )
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(
                f"min_agreement = {self.min_agreement} is not between 0 and 1",
                "give a fraction such as 0.995 (0 chooses the default of the agreement metric)",
            )
        return self


def _sanitize(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-")
    return cleaned or "sls-deploy"


_KIND_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "Path": "a path",
}
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
        if kind == "float":
            return float(value)
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


def _price_settings(value: Any, source: str) -> Mapping[str, Any]:
    """The config file's `[prices]` table, each name and value checked against the price table's."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source}: prices = {value!r} is not a table",
            "write prices as a table: [prices] in sls-deploy.toml, [tool.sls-deploy.prices] in pyproject.toml",
        )
    table = {str(key).replace("-", "_"): item for key, item in value.items()}
    for key, item in table.items():
        problem = override_problem(key, item)
        if problem is not None:
            raise ConfigError(f"{source}: [prices] {problem}", "fix or remove it in the [prices] table")
    return MappingProxyType(table)


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
        values[key] = _price_settings(value, file_name) if key == "prices" else _coerce(key, value, file_name)
    for key in _FIELD_TYPES:
        env_key = ENV_PREFIX + key.upper()
        if key not in ("project_dir", "prices") and env_key in env:
            values[key] = _coerce(key, env[env_key], env_key)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return replace(ProjectConfig(project_dir=project_dir), **values).validated()
