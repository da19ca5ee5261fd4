"""`sls-deploy drift` on the aws target: the function's "drift window" lines read from its CloudWatch log
group (moto) through the same Target protocol as locally, the live version's windows summed."""

from __future__ import annotations

import json
import time

import boto3
import numpy as np
import pytest
from moto import mock_aws

from sls_deploy.monitor.drift import drift_report
from sls_inference.drift import DriftMonitor
from sls_inference.loader import load_model
from tests.support.aws_emulator import cloudformation_with_sam
from tests.support.aws_helpers import REGION, make_project, target
from tests.support.drift_support import DIGITS_SAMPLES, digits_model_dir

SHIFTED = [19, 27]


def window_lines(layer, shift: bool, count: int) -> list[str]:
    """The log lines a function serving `layer` prints for `count` windows of 100 rows."""
    rng = np.random.default_rng(3)
    model = load_model(layer)
    monitor = DriftMonitor.from_model_dir(layer, model.manifest)
    assert monitor is not None
    lines = []
    for _ in range(count):
        rows = DIGITS_SAMPLES[rng.integers(0, 64, 100)] + rng.uniform(-0.1, 0.1, (100, 64)).astype(np.float32)
        if shift:
            rows[:, SHIFTED] = 16.0
        names = ["label", "probabilities"]
        window = monitor.observe({"input": rows}, names, model.session.run(names, {"input": rows}))
        assert window is not None
        lines.append(json.dumps({"level": "INFO", "message": "drift window", **window.log_fields()}))
    return lines


@pytest.fixture
def deployed(tmp_path):
    with mock_aws(), cloudformation_with_sam():
        config, builds = make_project(tmp_path / "project", {"digits": "v1"})
        aws = target(config)
        aws.deploy(builds["digits"])
        yield aws


def test_drift_on_aws_sums_the_live_versions_windows_from_cloudwatch_logs(deployed, tmp_path):
    layer = digits_model_dir(tmp_path / "layer")
    lines = window_lines(layer, shift=False, count=2) + window_lines(layer, shift=True, count=2)
    logs = boto3.client("logs", region_name=REGION)
    group, stream = "/aws/lambda/demo-digits", "2026/11/29/[1]0123456789abcdef"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now - 1000 + i, "message": line} for i, line in enumerate(lines)],
    )
    report = drift_report(deployed, "digits", time.time() - 3600)
    assert (report.windows, report.rows, report.version) == (4, 400, "1")
    assert report.verdict == "significant"
    assert {feature for feature, _, _ in report.features[: len(SHIFTED)]} == {f"input[{i}]" for i in SHIFTED}
