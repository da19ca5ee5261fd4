"""SAM template room: render a project's specs to a SAM template (sam.py) and check it offline (validate.py).

Importing this package imports PyYAML only; the validators (aws-sam-translator, cfn-lint) load on first use.
"""

from .sam import (
    DEFAULT_CODE_URI,
    FunctionSpec,
    LayerRef,
    TemplateSpec,
    render_template,
    rewrite_artifact_uris,
    to_yaml,
)
from .validate import translate_template, validate_template

__all__ = [
    "DEFAULT_CODE_URI",
    "FunctionSpec",
    "LayerRef",
    "TemplateSpec",
    "render_template",
    "rewrite_artifact_uris",
    "to_yaml",
    "translate_template",
    "validate_template",
]
