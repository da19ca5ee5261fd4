"""The cost of a function on the aws target: deployed through moto, its CloudWatch metrics and REPORT lines
answered by botocore's Stubber as AWS documents them."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from sls_deploy.monitor.estimate import estimate_cost
from tests.support.aws_emulator import cloudformation_with_sam
from tests.support.aws_helpers import (
    NOW,
    REGION,
    make_project,
    offline_context,
    stack_name,
    target,
)


def series(query_id: str, value: float) -> dict:
    return {
        "Id": query_id,
        "Label": query_id,
        "Timestamps": [NOW],
        "Values": [value],
        "StatusCode": "Complete",
    }


def never_measure() -> bytes:
    raise AssertionError("a function with metrics is not invoked")


@pytest.fixture
def deployed(tmp_path):
    with mock_aws(), cloudformation_with_sam():
        config, builds = make_project(tmp_path / "project", {"digits": "digits v1"})
        aws = offline_context(stack_name(config))
        deployed_target = target(config, aws=aws)
        deployed_target.deploy(builds["digits"])
        yield config, deployed_target, aws


def test_cost_on_aws_prices_cloudwatch_durations_cold_starts_and_init_durations(deployed):
    config, aws_target, aws = deployed
    results = [
        series("invocations", 120.0),
        series("cold_starts", 4.0),
        series("duration_samplecount", 120.0),
        series("duration_average", 10.2),
    ]
    reports = [
        f"REPORT RequestId: r{i}\tDuration: 10.00 ms\tBilled Duration: 311 ms\tMemory Size: 1024 MB\t"
        f"Max Memory Used: 170 MB\tInit Duration: {init:.2f} ms\t"
        for i, init in enumerate((300.0, 320.0, 400.0))
    ]
    events = [
        {"timestamp": 1_795_900_000_000 + i, "message": m, "eventId": str(i)} for i, m in enumerate(reports)
    ]
    with Stubber(aws.client("cloudwatch")) as cw, Stubber(aws.client("logs")) as logs:
        cw.add_response("get_metric_data", {"MetricDataResults": results})
        logs.add_response("filter_log_events", {"events": events})
        report = estimate_cost(
            config,
            aws_target,
            "digits",
            since=1_795_896_000.0,
            requests=10_000_000,
            payload=never_measure,
            count=20,
        )
    assert (report.target, report.source, report.prices.region) == ("aws", "metrics", REGION)
    assert (report.arch, report.memory_mb) == ("x86_64", 1024)
    # billed: 10.2 ms average + 0.5 ms rounding; 4 of 120 cold, INIT (300 + 320 + 400) / 3 = 340 ms
    assert report.billed_ms == pytest.approx(10.7)
    assert report.cold_start_rate == pytest.approx(4 / 120) and report.init_ms == pytest.approx(340.0)
    # per million: 1e6 × 1 GB × 0.0107 s = 10,700 GB-s × 0.0000166667 = $0.178334
    # INIT: 33,333.3 cold starts × 0.34 GB-s = 11,333.3 GB-s × 0.0000166667 = $0.188889
    assert report.per_million.compute == pytest.approx(0.178334, rel=1e-5)
    assert report.per_million.init == pytest.approx(0.188889, rel=1e-5)
    assert report.month.total == pytest.approx(
        10 * report.per_million.total + 6 * 0.30 + 4 * 0.10
    )  # 4 alarm metrics
    assert not any("local target" in note for note in report.notes)
