"""SAM template room: render a project's specs to a SAM template (sam.py) and check it offline (validate.py).

Importing this package imports PyYAML only; the validators (aws-sam-translator, cfn-lint) load on first use.
"""

from .sam import (
    ALIAS,
    DEFAULT_CODE_URI,
    DEFAULT_HANDLER,
    FunctionSpec,
    LayerRef,
    TemplateSpec,
    function_environment,
    function_name,
    log_group_name,
    logical_ids,
    render_template,
    rewrite_artifact_uris,
    to_yaml,
)
from .validate import translate_template, validate_template

__all__ = [
    "ALIAS",
    "DEFAULT_CODE_URI",
    "DEFAULT_HANDLER",
    "FunctionSpec",
    "function_environment",
    "LayerRef",
    "TemplateSpec",
    "function_name",
    "log_group_name",
    "logical_ids",
    "render_template",
    "rewrite_artifact_uris",
    "to_yaml",
    "translate_template",
    "validate_template",
]
