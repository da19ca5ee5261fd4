"""The aws target where moto cannot go, with botocore's Stubber answering as AWS documents it: stack outputs
after a CREATE change set, change sets and stack operations that fail, invoke's log tail, CloudWatch
percentiles and log events. S3 (the artifact bucket) is moto's."""

from __future__ import annotations

import base64
import io
import json

import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from click.testing import CliRunner
from moto import mock_aws

from sls_deploy.commands import main
from sls_deploy.core.errors import TargetError
from sls_deploy.targets.aws import target as target_module
from sls_deploy.targets.aws.functions import FunctionRef, Functions
from sls_deploy.targets.aws.telemetry import Telemetry
from tests.support.aws_helpers import (
    ACCOUNT,
    NOW,
    REGION,
    STACK,
    STACK_ID,
    event,
    events_response,
    make_project,
    not_found,
    offline_context,
    stack_response,
    target,
    template_response,
)

CHANGE_SET_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/sls-deploy-1/abc"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-digits"
URL = "https://abcdefghij.lambda-url.eu-west-1.on.aws/"
OUTPUTS = {"DigitsFunctionArn": FUNCTION_ARN, "DigitsAliasArn": f"{FUNCTION_ARN}:live", "DigitsUrl": URL}
REF = FunctionRef("digits", "demo-digits", "/aws/lambda/demo-digits", "digits", "SlsDeploy")


@pytest.fixture
def project(tmp_path):
    with mock_aws():
        yield make_project(tmp_path / "project", {"digits": "digits v1"})


@pytest.fixture
def stubbed():
    """A context whose CloudFormation and Lambda clients answer from Stubbers (S3 stays moto's)."""
    aws = offline_context()
    with Stubber(aws.client("cloudformation")) as cfn, Stubber(aws.client("lambda")) as lam:
        yield aws, cfn, lam
        cfn.assert_no_pending_responses()
        lam.assert_no_pending_responses()


def project_template(config) -> dict:
    return yaml.safe_load((config.project_dir / "template.yaml").read_text())


def change_set(status: str, reason: str = "", changes: list[dict] | None = None) -> dict:
    data = {
        "ChangeSetId": CHANGE_SET_ID,
        "ChangeSetName": "sls-deploy-1",
        "StackId": STACK_ID,
        "StackName": STACK,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Status": status,
        "Changes": changes or [],
    }
    if reason:
        data["StatusReason"] = reason
    return data


def add(logical_id: str, kind: str) -> dict:
    return {
        "Type": "Resource",
        "ResourceChange": {"Action": "Add", "LogicalResourceId": logical_id, "ResourceType": kind},
    }


def expect_create_change_set(cfn: Stubber, status: str = "CREATE_COMPLETE", reason: str = "") -> None:
    not_found(cfn)  # no stack yet: a CREATE change set
    cfn.add_response(
        "create_change_set",
        {"Id": CHANGE_SET_ID, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Description": ANY,
            "Tags": [{"Key": "sls-deploy:project", "Value": "demo"}],
            "TemplateBody": ANY,
        },
    )
    changes = [
        add("DigitsFunction", "AWS::Lambda::Function"),
        add("DigitsFunctionAliaslive", "AWS::Lambda::Alias"),
    ]
    cfn.add_response(
        "describe_change_set",
        change_set(status, reason, changes if status == "CREATE_COMPLETE" else None),
        {"ChangeSetName": CHANGE_SET_ID},
    )


REVIEW = event("e0", STACK, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated")


def expect_execution(cfn: Stubber, final_status: str, events: list[dict]) -> None:
    cfn.add_response("describe_stack_events", events_response(REVIEW), {"StackName": STACK_ID})
    cfn.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})
    cfn.add_response("describe_stacks", stack_response("CREATE_IN_PROGRESS"), {"StackName": STACK_ID})
    cfn.add_response("describe_stack_events", events_response(REVIEW, *events[:1]), {"StackName": STACK_ID})
    cfn.add_response("describe_stacks", stack_response(final_status), {"StackName": STACK_ID})
    cfn.add_response("describe_stack_events", events_response(REVIEW, *events), {"StackName": STACK_ID})


def test_a_create_change_set_reports_events_and_the_deployment_from_the_stacks_outputs(project, stubbed):
    config, builds = project
    aws, cfn, lam = stubbed
    expect_create_change_set(cfn)
    expect_execution(
        cfn,
        "CREATE_COMPLETE",
        [
            event("e1", STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
            event("e2", "DigitsFunction", "AWS::Lambda::Function", "CREATE_COMPLETE"),
            event("e3", STACK, "AWS::CloudFormation::Stack", "CREATE_COMPLETE"),
        ],
    )
    cfn.add_response("describe_stacks", stack_response("CREATE_COMPLETE", OUTPUTS), {"StackName": STACK})
    cfn.add_response(
        "get_template",
        template_response(project_template(config)),
        {"StackName": STACK, "TemplateStage": "Original"},
    )
    lam.add_response(
        "get_alias",
        {"AliasArn": f"{FUNCTION_ARN}:live", "Name": "live", "FunctionVersion": "1"},
        {"FunctionName": "demo-digits", "Name": "live"},
    )
    # keep-last-N pruning: one version, the layers in use: nothing to delete
    lam.add_response(
        "list_aliases",
        {"Aliases": [{"Name": "live", "FunctionVersion": "1"}]},
        {"FunctionName": "demo-digits"},
    )
    lam.add_response(
        "list_versions_by_function",
        {"Versions": [{"Version": "$LATEST"}, {"Version": "1"}]},
        {"FunctionName": "demo-digits"},
    )
    lam.add_response("get_function_configuration", {"Version": "$LATEST"}, {"FunctionName": "demo-digits"})
    for layer in ("demo-runtime", "demo-digits-model"):
        lam.add_response("list_layer_versions", {"LayerVersions": []}, {"LayerName": layer})

    messages: list[str] = []
    deployment = target(config, messages, aws).deploy(builds["digits"])

    assert (deployment.version, deployment.changed, deployment.endpoint, deployment.function_id) == (
        "1",
        True,
        URL,
        FUNCTION_ARN,
    )
    assert f"{STACK}: DigitsFunction (AWS::Lambda::Function): CREATE_COMPLETE" in messages
    assert any("2 to add" in m for m in messages)
    assert not any(
        "REVIEW_IN_PROGRESS" in m for m in messages
    )  # events before the execution are not repeated


def test_a_failed_create_lists_the_failed_resources_with_their_reasons_and_writes_nothing_locally(
    project, stubbed
):
    config, builds = project
    aws, cfn, _ = stubbed
    before = sorted(p.relative_to(config.project_dir) for p in config.project_dir.rglob("*"))
    expect_create_change_set(cfn)
    expect_execution(
        cfn,
        "ROLLBACK_COMPLETE",
        [
            event("e1", STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
            event("e2", "DigitsRole", "AWS::IAM::Role", "CREATE_FAILED", "Resource creation cancelled"),
            event(
                "e3",
                "DigitsFunction",
                "AWS::Lambda::Function",
                "CREATE_FAILED",
                'Resource handler returned message: "Unzipped size must be smaller than 262144000 bytes"',
            ),
            event("e4", STACK, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
        ],
    )
    with pytest.raises(TargetError) as info:
        target(config, aws=aws).deploy(builds["digits"])
    message = info.value.message
    assert (
        "ROLLBACK_COMPLETE" in message and "DigitsFunction (AWS::Lambda::Function): CREATE_FAILED" in message
    )
    assert "Unzipped size must be smaller" in message
    assert "cancelled" not in message  # the cause, not the resources cancelled because of it
    assert "deleted before the next create" in info.value.hint
    assert sorted(p.relative_to(config.project_dir) for p in config.project_dir.rglob("*")) == before


def test_a_change_set_cloudformation_refuses_is_an_error_and_leaves_no_empty_stack(project, stubbed):
    config, builds = project
    aws, cfn, _ = stubbed
    reason = "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification"
    expect_create_change_set(cfn, status="FAILED", reason=reason)
    cfn.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})
    cfn.add_response("describe_stack_events", events_response(REVIEW), {"StackName": STACK_ID})
    cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})
    cfn.add_response("describe_stacks", stack_response("DELETE_COMPLETE"), {"StackName": STACK_ID})
    cfn.add_response("describe_stack_events", events_response(REVIEW), {"StackName": STACK_ID})
    with pytest.raises(TargetError) as info:
        target(config, aws=aws).deploy(builds["digits"])
    assert "refused the change set" in info.value.message and "Invalid Serverless" in info.value.message


def test_list_reads_each_models_url_arn_and_live_version_from_the_stack(project, stubbed):
    config, _ = project
    aws, cfn, lam = stubbed
    cfn.add_response("describe_stacks", stack_response("UPDATE_COMPLETE", OUTPUTS), {"StackName": STACK})
    cfn.add_response(
        "get_template",
        template_response(project_template(config)),
        {"StackName": STACK, "TemplateStage": "Original"},
    )
    lam.add_response(
        "get_alias",
        {
            "Name": "live",
            "FunctionVersion": "4",
            "RoutingConfig": {"AdditionalVersionWeights": {"5": 0.25}},
        },
        {"FunctionName": "demo-digits", "Name": "live"},
    )
    (deployment,) = target(config, aws=aws).list()
    assert (deployment.name, deployment.version, deployment.endpoint, deployment.function_id) == (
        "digits",
        "4",
        URL,
        FUNCTION_ARN,
    )
    assert (deployment.routing.extra_version, deployment.routing.extra_weight) == ("5", 0.25)


def test_the_cli_exits_1_with_the_reason_when_a_change_set_fails(project, stubbed, monkeypatch):
    config, _ = make_project(project[0].project_dir.parent / "two", {"digits": "d", "iris": "i"})
    aws, cfn, lam = stubbed
    monkeypatch.setattr(target_module, "connect", lambda _: aws)
    cfn.add_response("describe_stacks", stack_response("UPDATE_COMPLETE", OUTPUTS), {"StackName": STACK})
    cfn.add_response(
        "get_template",
        template_response(project_template(config)),
        {"StackName": STACK, "TemplateStage": "Original"},
    )
    lam.add_response(
        "list_versions_by_function", {"Versions": [{"Version": "1"}]}, {"FunctionName": "demo-iris"}
    )
    cfn.add_response("create_change_set", {"Id": CHANGE_SET_ID, "StackId": STACK_ID}, None)
    cfn.add_response(
        "describe_change_set",
        change_set("FAILED", "Template format error: Unresolved resource dependencies [IrisRole]"),
        {"ChangeSetName": CHANGE_SET_ID},
    )
    cfn.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ID})
    result = CliRunner().invoke(
        main,
        ["-C", str(config.project_dir), "remove", "iris", "--target", "aws", "--yes"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert "Unresolved resource dependencies" in result.stderr
    assert "Traceback" not in result.output
    assert (config.project_dir / ".sls-deploy" / "build" / "iris").is_dir()  # still part of the project


# --- invoke, logs, metrics ----------------------------------------------------------------------------------


def test_invoke_decodes_the_log_tail_and_reads_the_report_and_the_function_error():
    aws = offline_context()
    tail = (
        "START RequestId: 3f0c Version: 2\n"
        "[ERROR] ValueError: boom\n"
        "END RequestId: 3f0c\n"
        "REPORT RequestId: 3f0c\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\t"
        "Max Memory Used: 180 MB\tInit Duration: 410.20 ms\t\n"
    )
    payload = json.dumps({"errorMessage": "boom", "errorType": "ValueError"}).encode()
    with Stubber(aws.client("lambda")) as lam:
        lam.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "LogResult": base64.b64encode(tail.encode()).decode(),
                "ExecutedVersion": "2",
                "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
            },
            {
                "FunctionName": "demo-digits",
                "Qualifier": "live",
                "InvocationType": "RequestResponse",
                "LogType": "Tail",
                "Payload": b'{"instances": [[1]]}',
            },
        )
        result = Functions(aws).invoke(REF, b'{"instances": [[1]]}', "live")
    assert (result.version, result.status_code, result.function_error) == ("2", 200, "Unhandled")
    assert result.decoded_payload == {"errorMessage": "boom", "errorType": "ValueError"}
    report = result.report
    assert (report.request_id, report.duration_ms, report.billed_duration_ms, report.init_duration_ms) == (
        "3f0c",
        12.5,
        13,
        410.2,
    )
    assert "REPORT" not in result.log_tail and "[ERROR] ValueError: boom" in result.log_tail
    assert result.extra["cold_start"] is True


def test_metrics_read_percentiles_of_duration_and_inference_latency_and_init_durations_from_reports():
    aws = offline_context()
    requests: list[dict] = []
    aws.client("cloudwatch").meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData", lambda params, **_: requests.append(params)
    )

    def series(query_id: str, *values: float) -> dict:
        return {
            "Id": query_id,
            "Label": query_id,
            "Timestamps": [NOW] * len(values),
            "Values": list(values),
            "StatusCode": "Complete",
        }

    results = [
        series("invocations", 120.0),
        series("errors", 2.0),
        series("throttles", 1.0),
        series("concurrency", 3.0),
        series("cold_starts", 4.0),
        series("duration_samplecount", 120.0),
        series("duration_p50", 9.0),
        series("duration_p90", 15.0),
        series("duration_p99", 41.5),
        series("duration_average", 10.2),
        series("duration_maximum", 60.0),
        series("latency_samplecount", 118.0),
        series("latency_p50", 0.4),
        series("latency_p90", 0.9),
        series("latency_p99", 2.5),
        series("latency_average", 0.5),
        series("latency_maximum", 3.0),
    ]
    reports = [
        f"REPORT RequestId: r{i}\tDuration: 5.00 ms\tBilled Duration: 300 ms\tMemory Size: 1024 MB\t"
        f"Max Memory Used: 170 MB\tInit Duration: {init:.2f} ms\t"
        for i, init in enumerate((300.0, 320.0, 400.0))
    ]
    with Stubber(aws.client("cloudwatch")) as cw, Stubber(aws.client("logs")) as logs:
        cw.add_response("get_metric_data", {"MetricDataResults": results})
        logs.add_response(
            "filter_log_events",
            {
                "events": [
                    {"timestamp": 1_795_900_000_000 + i, "message": m, "eventId": str(i)}
                    for i, m in enumerate(reports)
                ]
            },
            {
                "logGroupName": "/aws/lambda/demo-digits",
                "startTime": ANY,
                "endTime": ANY,
                "filterPattern": '"Init Duration"',
            },
        )
        result = Telemetry(aws).metrics(REF, since=1_795_896_000.0, until=1_795_899_600.0)

    assert (
        result.invocations,
        result.errors,
        result.throttles,
        result.cold_starts,
        result.max_concurrency,
    ) == (120, 2, 1, 4, 3)
    assert (
        result.duration_ms.count,
        result.duration_ms.p50,
        result.duration_ms.p99,
        result.duration_ms.maximum,
    ) == (120, 9.0, 41.5, 60.0)
    assert (result.inference_latency_ms.count, result.inference_latency_ms.p99) == (118, 2.5)
    assert (result.init_duration_ms.count, result.init_duration_ms.p50, result.init_duration_ms.maximum) == (
        3,
        320.0,
        400.0,
    )
    queries = {q["Id"]: q["MetricStat"] for q in requests[0]["MetricDataQueries"]}
    assert queries["duration_p99"]["Stat"] == "p99"
    assert queries["duration_p99"]["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": "demo-digits"}
    ]
    latency = queries["latency_p99"]["Metric"]
    assert (latency["Namespace"], latency["MetricName"]) == ("SlsDeploy", "InferenceLatency")
    assert latency["Dimensions"] == [
        {"Name": "function_name", "Value": "demo-digits"},
        {"Name": "service", "Value": "digits"},
    ]
    assert queries["duration_p99"]["Period"] == 3600  # one period over the whole window


def test_metrics_without_data_points_are_zero_and_empty():
    aws = offline_context()
    with Stubber(aws.client("cloudwatch")) as cw, Stubber(aws.client("logs")) as logs:
        cw.add_response("get_metric_data", {"MetricDataResults": []})
        logs.add_client_error("filter_log_events", service_error_code="ResourceNotFoundException")
        result = Telemetry(aws).metrics(REF, since=1_795_896_000.0, until=1_795_899_600.0)
    assert (result.invocations, result.max_concurrency, result.duration_ms.count, result.duration_ms.p99) == (
        0,
        None,
        0,
        None,
    )


def test_logs_parse_request_ids_and_versions_and_following_skips_events_already_seen():
    aws = offline_context()
    stream = "2026/11/29/[3]0123456789abcdef"
    lines = [
        "START RequestId: 8d4c6e8a-1b2c-4d5e-8f90-123456789abc Version: 3\n",
        "2026-11-29T08:00:00.123Z\t8d4c6e8a-1b2c-4d5e-8f90-123456789abc\tINFO\tloaded\n",
        '{"level":"INFO","message":"answered","function_request_id":"8d4c6e8a-1b2c-4d5e-8f90-123456789abc"}\n',
        "END RequestId: 8d4c6e8a-1b2c-4d5e-8f90-123456789abc\n",
    ]
    events = [
        {"logStreamName": stream, "timestamp": 1_795_900_000_000 + i, "message": m, "eventId": f"id{i}"}
        for i, m in enumerate(lines)
    ]
    slept: list[float] = []
    telemetry = Telemetry(aws, poll_seconds=5, sleep=slept.append)
    with Stubber(aws.client("logs")) as logs:
        logs.add_response("filter_log_events", {"events": events[:2]})
        logs.add_response("filter_log_events", {"events": events[1:]})  # overlaps: id1 again
        followed = telemetry.logs(REF, since=1_795_899_000.0, follow=True)
        got = [next(followed) for _ in range(4)]
    assert [e.message for e in got] == [line.rstrip("\n") for line in lines]
    assert {e.request_id for e in got} == {"8d4c6e8a-1b2c-4d5e-8f90-123456789abc"}
    assert {e.version for e in got} == {"3"} and got[0].stream == stream
    assert slept == [5]


def test_a_filter_becomes_a_quoted_filter_pattern():
    aws = offline_context()
    with Stubber(aws.client("logs")) as logs:
        logs.add_response(
            "filter_log_events",
            {"events": []},
            {
                "logGroupName": "/aws/lambda/demo-digits",
                "startTime": 1_795_899_000_000,
                "filterPattern": '"say \\"hi\\""',
            },
        )
        assert list(Telemetry(aws).logs(REF, since=1_795_899_000.0, filter_text='say "hi"')) == []
