"""What a SAM template is rendered from: frozen specs of a project (TemplateSpec), one per model (FunctionSpec),
and the built zips they point at (LayerRef); and the checks that refuse a spec Lambda or CloudFormation would.

Pure data and checks, no side effects. The specs come from the project's config (`from_config`) and the build
records (project.py); render.py turns them into the template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

from ..core import limits
from ..core.alarm_rules import AlarmRule, alarm_rules
from ..core.errors import TemplateError
from ..core.names import DEFAULT_HANDLER, check_name
from .monitoring import CanarySpec

if TYPE_CHECKING:
    from ..core.config import ProjectConfig

DEFAULT_CODE_URI = "functions/inference/"

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy / AWS::Logs::LogGroup).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_ENV_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LayerRef:
    """A built zip (layer or code): where the template points at it, and its sha256.

    `path_or_uri` is a path relative to the project folder (what `sam build/package` resolves) or an s3:// URI.
    """

    path_or_uri: str | PurePath
    sha256: str

    @property
    def uri(self) -> str:
        value = self.path_or_uri
        return value.as_posix() if isinstance(value, PurePath) else str(value)


@dataclass(frozen=True)
class FunctionSpec:
    """One model's endpoint: its model layer and its function's settings."""

    name: str  # the model's name, e.g. "digits"
    model_layer: LayerRef
    memory: int
    timeout: int
    arch: str
    runtime: str
    public: bool = False  # True: the function URL takes unsigned requests (AuthType NONE)
    environment: Mapping[str, str] = field(default_factory=dict)  # added to (and overriding) the defaults
    reserved_concurrency: int | None = None
    model_sha256: str = ""  # the ONNX model's; written into each published version's description
    alarms: tuple[AlarmRule, ...] = ()  # CloudWatch alarms to render (monitor.alarms.alarm_rules)
    canary: CanarySpec | None = None  # this push shifts traffic through CodeDeploy (aws)
    snapstart: bool = False  # SnapStart on published versions
    provisioned: int = 0  # provisioned concurrency on the alias; 0: none
    # The model's processing layer (tokenizers, Pillow, a custom handler's requirements), mounted between the
    # runtime layer and the model layer; None: the model needs none.
    processing_layer: LayerRef | None = None

    @classmethod
    def from_config(
        cls,
        config: ProjectConfig,
        name: str,
        model_layer: LayerRef,
        environment: Mapping[str, str] | None = None,
        reserved_concurrency: int | None = None,
        model_sha256: str = "",
        canary: CanarySpec | None = None,
        processing_layer: LayerRef | None = None,
    ) -> FunctionSpec:
        return cls(
            name=name,
            model_layer=model_layer,
            memory=config.memory,
            timeout=config.timeout,
            arch=config.arch,
            runtime=config.runtime,
            public=config.public,
            environment=dict(environment or {}),
            reserved_concurrency=reserved_concurrency,
            model_sha256=model_sha256,
            alarms=alarm_rules(config, config.timeout),
            canary=canary,
            snapstart=config.snapstart,
            provisioned=config.provisioned,
            processing_layer=processing_layer,
        )


@dataclass(frozen=True)
class TemplateSpec:
    """A project: the shared runtime layer and function code, and one FunctionSpec per model."""

    project: str
    runtime_layer: LayerRef
    functions: tuple[FunctionSpec, ...]
    log_retention_days: int = 14
    code_uri: str | PurePath = DEFAULT_CODE_URI  # the sls_inference code: a folder or a zip
    code_sha256: str = ""  # recorded in the template's Metadata when given
    handler: str = DEFAULT_HANDLER

    @classmethod
    def from_config(
        cls,
        config: ProjectConfig,
        runtime_layer: LayerRef,
        functions: tuple[FunctionSpec, ...],
        code_uri: str | PurePath = DEFAULT_CODE_URI,
        code_sha256: str = "",
    ) -> TemplateSpec:
        return cls(
            project=config.project_name,
            runtime_layer=runtime_layer,
            functions=tuple(functions),
            log_retention_days=config.log_retention_days,
            code_uri=code_uri,
            code_sha256=code_sha256,
        )


def check_spec(spec: TemplateSpec) -> str:
    """Raise TemplateError for a spec Lambda or CloudFormation would refuse; return the sanitized project name."""
    project = re.sub(r"[^A-Za-z0-9_-]", "-", spec.project).strip("-_")
    if not project:
        raise TemplateError(
            f"project name {spec.project!r} has no letters or digits",
            'set project = "my-project" in sls-deploy.toml or pass --project',
        )
    if not spec.functions:
        raise TemplateError("the template has no functions", "build at least one model before rendering")
    if spec.log_retention_days not in LOG_RETENTION_DAYS:
        raise TemplateError(
            f"log retention of {spec.log_retention_days} days is not one CloudWatch Logs offers",
            f"choose one of {', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
    first = spec.functions[0]
    seen_names: set[str] = set()
    for function in spec.functions:
        check_name(function.name)
        if function.name in seen_names:
            raise TemplateError(
                f"model {function.name!r} appears twice in the template", "give each model its own --name"
            )
        seen_names.add(function.name)
        if (function.arch, function.runtime) != (first.arch, first.runtime):
            raise TemplateError(
                f"model {function.name!r} wants {function.runtime}/{function.arch} but {first.name!r} wants "
                f"{first.runtime}/{first.arch}; all functions share one runtime layer",
                "use the same --arch and --runtime for every model of a project",
            )
        _check_function(function)
    return project


def _check_function(function: FunctionSpec) -> None:
    where = f"model {function.name!r}"
    problem = limits.function_setting_problem(
        function.arch, function.runtime, function.memory, function.timeout
    )
    if problem is not None:
        raise TemplateError(f"{where}: {problem[0]}", problem[1])
    concurrency = function.reserved_concurrency
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0
    ):
        raise TemplateError(
            f"{where}: reserved concurrency {concurrency!r} is not a whole number ≥ 0",
            "leave it unset for the account's shared pool, or give e.g. 10",
        )
    for key, value in function.environment.items():
        if not _ENV_KEY_RE.match(key) or key in limits.RESERVED_ENV_VARS:
            raise TemplateError(
                f"{where}: environment variable {key!r} cannot be set on Lambda",
                "use letters, digits and '_', starting with a letter, and none of Lambda's "
                "reserved names (AWS_*, LAMBDA_*, _HANDLER)",
            )
        if not isinstance(value, str):
            raise TemplateError(
                f"{where}: environment variable {key} = {value!r} is not a string",
                "give environment values as strings",
            )
