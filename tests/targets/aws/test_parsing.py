"""The aws target's pure parts: log lines, REPORT lines, statistics, stack names, failure reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import ConfigError, TargetError
from sls_deploy.core.records import Report
from sls_deploy.targets.aws.artifacts import template_zips
from sls_deploy.targets.aws.functions import _timestamp, routing
from sls_deploy.targets.aws.session import stack_name
from sls_deploy.targets.aws.stack import StackEvent, failures, needs_template_url
from sls_deploy.targets.aws.telemetry import filter_pattern, log_event, request_id, stream_version

RID = "8d4c6e8a-1b2c-4d5e-8f90-123456789abc"


@pytest.mark.parametrize(
    "line",
    [
        f"START RequestId: {RID} Version: 3",
        f"END RequestId: {RID}",
        f"REPORT RequestId: {RID}\tDuration: 1.00 ms",
        f"2026-11-29T08:00:00.123Z\t{RID}\tINFO\tloaded",
        f"[ERROR]\t2026-11-29T08:00:00.123Z\t{RID}\tboom",
        f'{{"level":"INFO","message":"answered","function_request_id":"{RID}"}}',
    ],
)
def test_the_request_id_is_found_in_every_kind_of_lambda_log_line(line):
    assert request_id(line) == RID


def test_lines_without_a_request_id_have_none():
    assert request_id("INIT_START Runtime Version: python:3.12.v40") is None
    assert request_id('{"level": "INFO", "message": "no id"}') is None
    assert request_id("{not json") is None


def test_the_version_comes_from_the_log_stream_name():
    assert stream_version("2026/11/29/[3]0123abcd") == "3"
    assert stream_version("2026/11/29/[$LATEST]0123abcd") == "$LATEST"
    assert stream_version("custom-stream") is None
    event = log_event(
        {"timestamp": 1_795_900_000_250, "message": "hi\n", "logStreamName": "2026/11/29/[7]ab"}
    )
    assert (event.timestamp, event.message, event.version) == (1_795_900_000.25, "hi", "7")


def test_filter_text_is_matched_literally_quotes_escaped():
    assert filter_pattern(None) is None
    assert filter_pattern("ERROR") == '"ERROR"'
    assert filter_pattern('say "hi"') == '"say \\"hi\\""'


def test_a_report_line_parses_back_into_the_report_it_came_from():
    cold = Report("r1", 12.345, 13, 1024, 181, init_duration_ms=410.25)
    warm = Report("r2", 1.5, 2, 128, 60)
    assert Report.parse(cold.line()) == Report("r1", 12.35, 13, 1024, 181, init_duration_ms=410.25)
    assert Report.parse(warm.line() + "\t\n") == Report("r2", 1.5, 2, 128, 60)
    assert Report.parse("END RequestId: r2") is None


def test_lambda_timestamps_become_utc_iso_seconds():
    assert _timestamp("2026-11-29T08:00:00.000+0000") == "2026-11-29T08:00:00Z"
    assert _timestamp("2026-11-29T10:30:00.000+0230") == "2026-11-29T08:00:00Z"
    assert _timestamp("not a time") == "not a time"


def test_alias_routing_reads_the_canary_weight():
    plain = routing({"Name": "live", "FunctionVersion": "3"})
    canary = routing(
        {"Name": "live", "FunctionVersion": "3", "RoutingConfig": {"AdditionalVersionWeights": {"4": 0.1}}}
    )
    assert (plain.version, plain.extra_version, plain.extra_weight) == ("3", None, 0.0)
    assert (canary.version, canary.extra_version, canary.extra_weight) == ("3", "4", 0.1)


def test_the_default_stack_name_derives_from_the_project_and_is_checked():
    assert stack_name(ProjectConfig(project="demo")) == "sls-deploy-demo"
    assert stack_name(ProjectConfig(project="demo", stack_name="Prod-Models")) == "Prod-Models"
    with pytest.raises(ConfigError):
        stack_name(ProjectConfig(project="demo", stack_name="x" * 129))
    with pytest.raises(ConfigError) as info:
        stack_name(ProjectConfig(project="démo"))  # a folder name CloudFormation cannot take
    assert "--stack-name" in info.value.hint


def test_failure_reasons_put_causes_before_the_resources_cancelled_because_of_them():
    events = [
        StackEvent("1", "Role", "AWS::IAM::Role", "CREATE_FAILED", "Resource creation cancelled"),
        StackEvent("2", "Fn", "AWS::Lambda::Function", "CREATE_FAILED", "Code too large"),
        StackEvent("3", "Fn", "AWS::Lambda::Function", "CREATE_IN_PROGRESS", ""),
    ]
    assert failures(events) == ("Fn (AWS::Lambda::Function): CREATE_FAILED: Code too large",)
    assert failures(events[:1]) == ("Role (AWS::IAM::Role): CREATE_FAILED: Resource creation cancelled",)


def test_big_templates_go_by_url_and_oversized_ones_are_refused():
    assert needs_template_url("x" * 51_200) is False
    assert needs_template_url("x" * 51_201) is True
    with pytest.raises(TargetError):
        needs_template_url("x" * 1_000_001)


def test_a_template_pointing_at_a_missing_zip_says_to_rebuild(tmp_path: Path):
    code_zip = tmp_path / "code.zip"
    code_zip.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    code = Artifact.from_zip("function-code", "sls_inference", code_zip)
    template = {
        "Resources": {
            "DigitsModelLayer": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"ContentUri": "gone.zip"},
            }
        }
    }
    with pytest.raises(TargetError) as info:
        template_zips(template, tmp_path, code)
    assert "gone.zip" in info.value.message and "build" in info.value.hint
