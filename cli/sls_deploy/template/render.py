"""SAM template rendering: frozen specs of a project (spec.py) → a plain dict (the SAM template) → YAML text.

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
- one CloudWatch dashboard for the project, over the functions rendered (rendered.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import yaml

from .. import __version__
from ..core import limits
from ..core.errors import TemplateError
from ..core.names import (
    ALIAS,
    MAX_LAYER_NAME_CHARS,
    MODEL_TAG,
    PROJECT_TAG,
    bounded_name,
    function_environment,
    function_name,
    log_group_name,
    logical_ids,
    version_description,
)
from .monitoring import DASHBOARD_ID, alarm_resources, deployment_preference
from .rendered import project_dashboard
from .spec import FunctionSpec, TemplateSpec, check_spec

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def render_template(spec: TemplateSpec) -> dict[str, Any]:
    """The SAM template of `spec` as a plain dict (ordered: same spec → same dict → same YAML)."""
    project = check_spec(spec)
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
        if function.processing_layer is not None:
            layer_shas[ids["processing_layer"]] = function.processing_layer.sha256
        layer_shas[ids["model_layer"]] = function.model_layer.sha256
    resources[DASHBOARD_ID] = project_dashboard(project, resources)
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


def _layers(function: FunctionSpec, ids: dict[str, str]) -> list[dict[str, str]]:
    """Mount order: the runtime layer first, the model's processing layer, the model layer last."""
    middle = [] if function.processing_layer is None else [{"Ref": ids["processing_layer"]}]
    return [{"Ref": "RuntimeLayer"}, *middle, {"Ref": ids["model_layer"]}]


def _processing_layer(project: str, function: FunctionSpec, ids: dict[str, str]) -> dict[str, Any]:
    layer = function.processing_layer
    assert layer is not None
    return {
        ids["processing_layer"]: {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "LayerName": bounded_name(f"{project}-{function.name}-processing", MAX_LAYER_NAME_CHARS),
                "Description": f"sls-deploy processing for {function.name} (sha256 {layer.sha256[:12]})",
                "ContentUri": layer.uri,
                # Binary wheels built for one platform: this runtime and architecture only.
                "CompatibleRuntimes": [function.runtime],
                "CompatibleArchitectures": [function.arch],
                "RetentionPolicy": "Retain",
                "PublishLambdaVersion": True,
            },
        }
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
        "Layers": _layers(function, ids),
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
    resources = {} if function.processing_layer is None else _processing_layer(project, function, ids)
    return resources | {
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
                "LogGroupName": log_group_name(fn_name),
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


def to_yaml(template: Mapping[str, Any]) -> str:
    """The template as YAML text, keys in the order rendered (PyYAML safe_dump, no custom tags)."""
    body = yaml.safe_dump(
        dict(template), sort_keys=False, default_flow_style=False, allow_unicode=True, width=120
    )
    return "# Rendered by sls-deploy; edits are overwritten on the next build.\n" + body
