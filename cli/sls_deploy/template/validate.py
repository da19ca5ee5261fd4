"""Offline checks of a rendered SAM template: translate it with aws-sam-translator, lint it with cfn-lint.

No AWS access and no files: the translator gets a region and an empty managed-policy map instead of an IAM
client. aws-sam-translator and cfn-lint come from the optional `validate` extra and are imported on first use.
Side effect: samtranslator keeps the region in a class attribute; it is restored after each translation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.errors import TemplateError
from .render import to_yaml
from .rendered import rewrite_artifact_uris

PLACEHOLDER_BUCKET = "placeholder-bucket"
_EXTRA_HINT = "pip install 'sls-deploy[validate]'"
_BUG_HINT = "the rendered template is wrong: report it with the template.yaml it came from"


def _placeholder_uri(logical_id: str, uri: str) -> str:
    return uri if uri.startswith("s3://") else f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"


def packaged_for_validation(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose local CodeUri/ContentUri paths are s3:// placeholders (the translator refuses local paths)."""
    return rewrite_artifact_uris(template, _placeholder_uri)


def translate_template(template: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of `template` (local paths become placeholders)."""
    try:
        import boto3
        from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
        from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.arn_generator import ArnGenerator
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import (
            to_py27_compatible_template,
            undo_mark_unicode_str_in_template,
        )
    except ImportError as exc:
        raise TemplateError(f"aws-sam-translator is not installed ({exc})", _EXTRA_HINT) from exc

    # What samtranslator.translator.transform.transform() does, with an explicit region (transform() takes it
    # from the ambient boto3 session, i.e. AWS_DEFAULT_REGION / ~/.aws/config) and no managed-policy lookup
    # (the rendered template names no managed policies, so the map is empty and IAM is never asked).
    fragment = packaged_for_validation(template)
    # Translator stores the region in this class attribute; it is put back afterwards.
    previous_region = ArnGenerator.BOTO_SESSION_REGION_NAME
    # Translator records timing metrics in a process-wide singleton and logs "There are unpublished metrics"
    # when the next Translator replaces it; publishing to the dummy publisher empties it.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    try:
        to_py27_compatible_template(fragment, {})
        translator = Translator(
            None, Parser(), boto_session=boto3.session.Session(region_name=region), metrics=metrics
        )
        translated = translator.translate(fragment, parameter_values={}, get_managed_policy_map=dict)
        return undo_mark_unicode_str_in_template(translated)
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"the SAM transform rejects the template: {causes}", _BUG_HINT) from exc
    except ExceptionWithMessage as exc:
        raise TemplateError(f"the SAM transform rejects the template: {exc.message}", _BUG_HINT) from exc
    finally:
        metrics.publish()
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous_region


def lint_template(
    template: Mapping[str, Any], region: str = "us-east-1", label: str = "template"
) -> list[str]:
    """cfn-lint's errors (E) and warnings (W) for `template`, one line each; informational (I) rules are off.

    Warnings count as problems: none fire on the rendered templates, so a new one is a change worth a look.
    Line numbers refer to `to_yaml(template)`, which is what template.yaml holds.
    """
    try:
        from cfnlint.api import ManualArgs, lint
    except ImportError as exc:
        raise TemplateError(f"cfn-lint is not installed ({exc})", _EXTRA_HINT) from exc

    matches = lint(to_yaml(template), config=ManualArgs(regions=[region]))
    return [
        f"{label}:{m.linenumber}: {m.rule.id} {m.message}" for m in matches if not m.rule.id.startswith("I")
    ]


def _require_validators() -> None:
    for module, package in (("samtranslator", "aws-sam-translator"), ("cfnlint", "cfn-lint")):
        try:
            __import__(module)
        except ImportError as exc:
            raise TemplateError(f"{package} is not installed ({exc})", _EXTRA_HINT) from exc


def validate_template(template: Mapping[str, Any], region: str = "us-east-1") -> list[str]:
    """Every problem found offline: SAM transform errors, then cfn-lint on the SAM and the translated template.

    An empty list means the template translates and lints clean. Raises TemplateError only when the validators
    are not installed.
    """
    _require_validators()
    packaged = packaged_for_validation(template)
    try:
        translated = translate_template(packaged, region)
    except TemplateError as exc:
        return [exc.message]
    return [
        *lint_template(packaged, region, "SAM template"),
        *lint_template(translated, region, "translated template"),
    ]
