"""SAM template rendering: frozen specs of a project → a plain dict (the SAM template) → YAML text.

Pure functions, no side effects: nothing here reads or writes files or talks to AWS. Intrinsic functions are
plain `{"Ref": ...}` / `{"Fn::GetAtt": [...]}` dicts, so the YAML needs no custom tags and aws-sam-translator
takes the dict as it is.

What one template holds:
- one runtime layer (`RuntimeLayer`) shared by every function, and one model layer per model;
- per model: an `AWS::Serverless::Function` published behind the alias `live` with a function URL
  (AWS_IAM unless the spec says public), its own log group with a retention period, and its own IAM role
  whose only permission is writing to that log group; its CloudWatch alarms (errors, p99 Duration, input
  drift: monitoring.py), SnapStart or provisioned concurrency when configured, and for a canary push a
  CodeDeploy DeploymentPreference wired to the alarms;
- one CloudWatch dashboard for the project.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import yaml

from .. import __version__
from ..core import limits
from ..core.alarm_rules import AlarmRule, alarm_rules
from ..core.errors import TemplateError
from ..core.names import (
    ALIAS,
    DEFAULT_HANDLER,
    MAX_LAYER_NAME_CHARS,
    METRICS_NAMESPACE,
    MODEL_TAG,
    PROJECT_TAG,
    bounded_name,
    check_name,
    function_environment,
    function_name,
    logical_ids,
    version_description,
)
from .monitoring import DASHBOARD_ID, CanarySpec, alarm_resources, dashboard_resource, deployment_preference

if TYPE_CHECKING:
    from ..core.config import ProjectConfig

DEFAULT_CODE_URI = "functions/inference/"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"

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


# --- rendering ----------------------------------------------------------------------------------------------


def render_template(spec: TemplateSpec) -> dict[str, Any]:
    """The SAM template of `spec` as a plain dict (ordered: same spec → same dict → same YAML)."""
    project = _check_spec(spec)
    functions = sorted(spec.functions, key=lambda f: f.name)  # the caller's order must not reorder the YAML
    runtime, arch = functions[0].runtime, functions[0].arch

    resources: dict[str, Any] = {
        "RuntimeLayer": {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "LayerName": bounded_name(f"{project}-runtime", MAX_LAYER_NAME_CHARS),
                "Description": f"sls-deploy runtime: onnxruntime, numpy, powertools "
                f"(sha256 {spec.runtime_layer.sha256[:12]})",
                "ContentUri": spec.runtime_layer.uri,
                "CompatibleRuntimes": [runtime],
                "CompatibleArchitectures": [arch],
                # Retain: an old function version (a rollback target of the alias) keeps working either way,
                # but re-pointing a function at the old layer version (redeploying the previous template) needs
                # that layer version to still exist. Old versions are pruned explicitly, not by CloudFormation.
                "RetentionPolicy": "Retain",
                "PublishLambdaVersion": True,  # see AutoPublishAliasAllProperties below
            },
        },
    }
    outputs: dict[str, Any] = {}
    layer_shas = {"RuntimeLayer": spec.runtime_layer.sha256}
    expected = len(resources)
    for function in functions:
        ids = logical_ids(function.name)
        rendered = _function_resources(spec, project, function, ids)
        expected += len(rendered)
        resources.update(rendered)
        outputs.update(_function_outputs(function, ids))
        layer_shas[ids["model_layer"]] = function.model_layer.sha256
    resources[DASHBOARD_ID] = _dashboard(project, resources)
    _check_unique_ids(resources, expected + 1, project, functions)

    metadata: dict[str, Any] = {"version": __version__, "project": project}
    if spec.code_sha256:
        metadata["code_sha256"] = spec.code_sha256
    metadata["layers_sha256"] = layer_shas
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": SAM_TRANSFORM,
        "Description": f"sls-deploy project {project}: ONNX inference endpoints on AWS Lambda",
        "Metadata": {"sls-deploy": metadata},
        "Resources": resources,
        "Outputs": outputs,
    }


def _function_resources(
    spec: TemplateSpec, project: str, function: FunctionSpec, ids: dict[str, str]
) -> dict[str, Any]:
    name = function.name
    fn_name = function_name(project, name)
    environment = function_environment(name, function.environment)
    properties: dict[str, Any] = {
        "FunctionName": fn_name,
        "Description": f"sls-deploy inference endpoint for model {name}",
        "CodeUri": spec.code_uri.as_posix() if isinstance(spec.code_uri, PurePath) else spec.code_uri,
        "Handler": spec.handler,
        "Runtime": function.runtime,
        "Architectures": [function.arch],
        "MemorySize": function.memory,
        "Timeout": function.timeout,
        "Role": {"Fn::GetAtt": [ids["role"], "Arn"]},
        "Layers": [{"Ref": "RuntimeLayer"}, {"Ref": ids["model_layer"]}],  # mount order: model layer last
        "AutoPublishAlias": ALIAS,
        # SAM names the published version after a hash of CodeUri alone unless told otherwise, so a new model
        # layer (same code) would leave `live` on the old version. With all properties hashed, and the layers
        # marked PublishLambdaVersion (their content joins the hash), any change publishes a new version.
        "AutoPublishAliasAllProperties": True,
        "Environment": {"Variables": environment},
        # The explicit log group (with its retention) instead of the one Lambda would create on first write.
        "LoggingConfig": {"LogGroup": {"Ref": ids["log_group"]}},
        "FunctionUrlConfig": {"AuthType": "NONE" if function.public else "AWS_IAM"},
        "Tags": {PROJECT_TAG: project, MODEL_TAG: name},
    }
    if function.reserved_concurrency is not None:
        properties["ReservedConcurrentExecutions"] = function.reserved_concurrency
    if function.model_sha256:
        properties["VersionDescription"] = version_description(name, function.model_sha256)
    if function.snapstart:
        properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    if function.provisioned:
        properties["ProvisionedConcurrencyConfig"] = {"ProvisionedConcurrentExecutions": function.provisioned}
    monitoring = alarm_resources(
        ids, name, fn_name, environment["POWERTOOLS_METRICS_NAMESPACE"], function.alarms
    )
    if function.canary is not None:
        properties["DeploymentPreference"], extra = deployment_preference(
            ids, function.canary, function.alarms
        )
        monitoring.update(extra)
    return {
        ids["model_layer"]: {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "LayerName": bounded_name(f"{project}-{name}-model", MAX_LAYER_NAME_CHARS),
                "Description": f"sls-deploy model {name} (sha256 {function.model_layer.sha256[:12]})",
                "ContentUri": function.model_layer.uri,
                # Data only (model.onnx + model.json): usable from every supported runtime and architecture.
                "CompatibleRuntimes": list(limits.SUPPORTED_RUNTIMES),
                "CompatibleArchitectures": list(limits.SUPPORTED_ARCHITECTURES),
                "RetentionPolicy": "Retain",
                "PublishLambdaVersion": True,
            },
        },
        ids["log_group"]: {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{fn_name}",
                "RetentionInDays": spec.log_retention_days,
            },
        },
        ids["role"]: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": f"Execution role of {fn_name}: writes its own log group, nothing else",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "write-own-log-group",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                    # The log group's Arn attribute ends in ":*": the group and its streams.
                                    "Resource": {"Fn::GetAtt": [ids["log_group"], "Arn"]},
                                }
                            ],
                        },
                    }
                ],
            },
        },
        ids["function"]: {"Type": "AWS::Serverless::Function", "Properties": properties},
        **monitoring,
    }


def _dashboard(project: str, resources: Mapping[str, Any]) -> dict[str, Any]:
    """The project's dashboard over every function among `resources` (a rendered template's)."""
    models = []
    namespace = METRICS_NAMESPACE
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        model = properties.get("Tags", {}).get(MODEL_TAG)
        if isinstance(model, str):
            models.append((model, str(properties.get("FunctionName", model))))
            variables = properties.get("Environment", {}).get("Variables", {})
            namespace = variables.get("POWERTOOLS_METRICS_NAMESPACE", namespace)
    return dashboard_resource(project, namespace, sorted(models))


def _function_outputs(function: FunctionSpec, ids: dict[str, str]) -> dict[str, Any]:
    logical = ids["function"]
    return {
        ids["output_function_arn"]: {
            "Description": f"ARN of the function of model {function.name}",
            "Value": {"Fn::GetAtt": [logical, "Arn"]},
        },
        ids["output_alias_arn"]: {
            "Description": f"ARN of the alias {ALIAS} of model {function.name}",
            "Value": {"Ref": f"{logical}.Alias"},
        },
        ids["output_url"]: {
            "Description": f"Function URL of model {function.name} (alias {ALIAS})",
            "Value": {"Fn::GetAtt": [ids["url"], "FunctionUrl"]},
        },
    }


# --- checks -------------------------------------------------------------------------------------------------


def _check_spec(spec: TemplateSpec) -> str:
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


def _check_unique_ids(
    resources: dict[str, Any], expected: int, project: str, functions: list[FunctionSpec]
) -> None:
    """Guard: two models never share a logical ID or a function name (one would silently replace the other).
    `expected`: how many resources were rendered in all."""
    names = {function_name(project, f.name) for f in functions}
    if len(resources) != expected or len(names) != len(functions):
        raise TemplateError(
            f"models {', '.join(f.name for f in functions)} map to colliding resource names",
            "rename one of the models",
        )


# --- artifacts and YAML -------------------------------------------------------------------------------------

_RESOURCE_ID_KEYS = (
    "function",
    "model_layer",
    "log_group",
    "role",
    "errors_alarm",
    "latency_alarm",
    "drift_alarm",
    "deployment_config",
)
_URI_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def rewrite_artifact_uris(template: Mapping[str, Any], uri_for: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of `template` whose CodeUri/ContentUri values are `uri_for(logical_id, current_uri)`.

    What packaging does before a deploy (local paths → s3:// URIs of the uploaded zips); the validator uses it
    with placeholder URIs because the SAM translator refuses local paths.
    """
    packaged = copy.deepcopy(dict(template))
    for logical_id, resource in packaged.get("Resources", {}).items():
        key = _URI_PROPERTIES.get(resource.get("Type", ""))
        properties = resource.get("Properties", {})
        if key and isinstance(properties.get(key), str):
            properties[key] = uri_for(logical_id, properties[key])
    return packaged


def without_function(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A copy of a rendered (or packaged) template without model `name`: its function, model layer, log group,
    role and outputs go; the shared runtime layer and the other models stay exactly as they were."""
    ids = logical_ids(name)
    trimmed = copy.deepcopy(dict(template))
    for key in _RESOURCE_ID_KEYS:
        trimmed.get("Resources", {}).pop(ids[key], None)
    resources = trimmed.get("Resources", {})
    if DASHBOARD_ID in resources:
        project = trimmed.get("Metadata", {}).get("sls-deploy", {}).get("project", "")
        resources[DASHBOARD_ID] = _dashboard(project, resources)
    for key in ("output_function_arn", "output_alias_arn", "output_url"):
        trimmed.get("Outputs", {}).pop(ids[key], None)
    trimmed.get("Metadata", {}).get("sls-deploy", {}).get("layers_sha256", {}).pop(ids["model_layer"], None)
    return trimmed


def template_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """Model name → logical ID of its function, for every model a rendered (or packaged) template holds."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            model = resource.get("Properties", {}).get("Tags", {}).get(MODEL_TAG)
            if isinstance(model, str):
                found[model] = logical_id
    return dict(sorted(found.items()))


def to_yaml(template: Mapping[str, Any]) -> str:
    """The template as YAML text, keys in the order rendered (PyYAML safe_dump, no custom tags)."""
    body = yaml.safe_dump(
        dict(template), sort_keys=False, default_flow_style=False, allow_unicode=True, width=120
    )
    return "# Rendered by sls-deploy; edits are overwritten on the next build.\n" + body
