"""The deployment budget: function code + layers against Lambda's unzipped, layer-count and upload limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sls_deploy.core import limits
from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.errors import BudgetError
from sls_deploy.package.budget import BUDGET_HINT, budget_report, check_budget

MB = 1_000_000


def _artifact(kind: str, name: str, unzipped: int, zipped: int | None = None) -> Artifact:
    return Artifact(
        kind=kind,
        name=name,
        zip_path=Path(f"/build/{name}.zip"),
        sha256="0" * 64,
        zipped_bytes=zipped if zipped is not None else unzipped // 3,
        unzipped_bytes=unzipped,
    )


def _function(model_unzipped: int, model_zipped: int | None = None) -> list[Artifact]:
    return [
        _artifact("function-code", "sls_inference", 40_000),
        _artifact("runtime-layer", "runtime-x86_64-py312", 87 * MB, 29 * MB),
        _artifact("model-layer", "digits", model_unzipped, model_zipped),
    ]


def test_a_function_that_fits_reports_its_total_and_headroom():
    report = check_budget(_function(10 * MB))
    assert report.ok
    assert report.total_unzipped_bytes == 40_000 + 97 * MB
    assert report.headroom_bytes == limits.MAX_UNZIPPED_BYTES - report.total_unzipped_bytes
    assert report.layer_count == 2
    assert report.needs_s3 == ()


def test_exactly_the_unzipped_limit_fits_and_one_byte_more_does_not():
    exact = limits.MAX_UNZIPPED_BYTES - 40_000 - 87 * MB
    assert check_budget(_function(exact)).headroom_bytes == 0
    with pytest.raises(BudgetError):
        check_budget(_function(exact + 1))


def test_over_budget_names_every_artifact_with_its_sizes_and_hints_at_compression():
    with pytest.raises(BudgetError) as caught:
        check_budget(_function(200 * MB, 180 * MB))
    message = str(caught.value.message)
    assert "over Lambda's 250.0 MiB" in message
    for name in ("sls_inference", "runtime-x86_64-py312", "digits"):
        assert name in message
    assert "190.7 MiB" in message  # the model's unzipped size
    assert "171.7 MiB" in message  # and zipped
    assert caught.value.hint == BUDGET_HINT
    assert "--compress int8-weight" in caught.value.hint


def test_zips_above_the_direct_upload_limit_are_listed_as_needing_s3_but_still_fit():
    big_zip = limits.MAX_DIRECT_UPLOAD_ZIPPED_BYTES + 1
    report = check_budget(_function(120 * MB, big_zip))
    assert report.ok
    assert report.needs_s3 == ("digits",)
    assert "(via S3)" in report.breakdown()


def test_more_than_five_layers_is_refused_with_a_layer_hint():
    artifacts = [_artifact("function-code", "code", 1000)] + [
        _artifact("model-layer", f"m{i}", 1000) for i in range(limits.MAX_LAYERS + 1)
    ]
    report = budget_report(artifacts)
    assert not report.ok and report.fits_unzipped and report.layer_count == 6
    with pytest.raises(BudgetError) as caught:
        check_budget(artifacts)
    assert "6 layers" in caught.value.message
    assert f"at most {limits.MAX_LAYERS} layers" in caught.value.hint


def test_the_report_serialises_to_json_with_limits_and_per_artifact_rows():
    data = json.loads(json.dumps(budget_report(_function(300 * MB)).to_json()))
    assert data["ok"] is False
    assert data["max_unzipped_bytes"] == limits.MAX_UNZIPPED_BYTES
    assert data["headroom_bytes"] < 0
    assert [a["kind"] for a in data["artifacts"]] == ["function-code", "runtime-layer", "model-layer"]
    assert data["max_direct_upload_zipped_bytes"] == limits.MAX_DIRECT_UPLOAD_ZIPPED_BYTES
