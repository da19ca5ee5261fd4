"""SAM template room: a project's specs (spec.py) rendered to a SAM template (render.py), read and rewritten once
rendered (rendered.py), and checked offline (validate.py).

Importing this package imports PyYAML only; the validators (aws-sam-translator, cfn-lint) load on first use.
"""

from .render import render_template, to_yaml
from .rendered import rewrite_artifact_uris
from .spec import DEFAULT_CODE_URI, FunctionSpec, LayerRef, TemplateSpec
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
