"""Reading and rewriting a rendered (or packaged) SAM template: which models it holds, the project dashboard
over its functions, a copy without one model, a copy with its artifacts pointed elsewhere.

Pure functions over the template dict render.py makes (or its packaged copy, or one read back from a stack);
they return copies and never change the template they are given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from ..core.names import METRICS_NAMESPACE, MODEL_TAG, logical_ids
from .monitoring import DASHBOARD_ID, dashboard_resource

_RESOURCE_ID_KEYS = (
    "function",
    "model_layer",
    "processing_layer",
    "log_group",
    "role",
    "errors_alarm",
    "latency_alarm",
    "drift_alarm",
    "deployment_config",
)
_URI_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def template_functions(template: Mapping[str, Any]) -> dict[str, str]:
    """Model name → logical ID of its function, for every model a rendered (or packaged) template holds."""
    found = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            model = resource.get("Properties", {}).get("Tags", {}).get(MODEL_TAG)
            if isinstance(model, str):
                found[model] = logical_id
    return dict(sorted(found.items()))


def project_dashboard(project: str, resources: Mapping[str, Any]) -> dict[str, Any]:
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
        resources[DASHBOARD_ID] = project_dashboard(project, resources)
    for key in ("output_function_arn", "output_alias_arn", "output_url"):
        trimmed.get("Outputs", {}).pop(ids[key], None)
    shas = trimmed.get("Metadata", {}).get("sls-deploy", {}).get("layers_sha256", {})
    for key in ("model_layer", "processing_layer"):
        shas.pop(ids[key], None)
    return trimmed


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
