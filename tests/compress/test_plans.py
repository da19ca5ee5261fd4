"""The --compress language: none, auto, methods with options, prune+quantizer combinations."""

from __future__ import annotations

import pytest

from sls_deploy.compress import AUTO, CompressionPolicy
from sls_deploy.compress.plans import parse
from sls_deploy.core.errors import ConfigError


def labels(spec: str) -> list[str]:
    return [p.label for p in parse(spec)]


def test_none_is_no_plan_and_auto_is_every_quantizer():
    assert parse("none") == ()
    assert labels("auto") == list(AUTO)
    assert not CompressionPolicy("none").enabled and CompressionPolicy("auto").is_auto


def test_methods_get_their_default_granularity_and_combine_with_prune_first():
    assert labels("int8-weight") == ["int8-weight:channel"]
    assert labels("int8-dynamic") == ["int8-dynamic:tensor"]
    assert labels("prune:0.5+int4-weight:tensor") == ["prune:0.5+int4-weight:tensor"]
    assert labels("fp16, int8-weight") == ["fp16", "int8-weight:channel"]


@pytest.mark.parametrize(
    "spec,words",
    [
        ("int9-weight", "unknown compression method"),
        ("prune", "needs a sparsity"),
        ("int8-weight+prune:0.5", "at most one prune step, then at most one fused"),
        ("int8-weight+fp16", "at most one prune step, then at most one fused"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_the_problem(spec, words):
    with pytest.raises(ConfigError, match=words):
        CompressionPolicy(spec)


def test_an_unknown_metric_is_refused():
    with pytest.raises(ConfigError, match="agreement metric"):
        CompressionPolicy("auto", metric="f1")
