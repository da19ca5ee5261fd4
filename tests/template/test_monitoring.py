"""The template's monitoring: alarms per model from the shared rules, the project dashboard, the canary's
CodeDeploy deployment preference, SnapStart and provisioned concurrency — translated by the SAM transform and
linted with cfn-lint as CloudFormation would see them."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from sls_deploy.core.alarm_rules import alarm_rules
from sls_deploy.core.config import ProjectConfig
from sls_deploy.template import (
    FunctionSpec,
    LayerRef,
    TemplateSpec,
    render_template,
    translate_template,
    validate_template,
)
from sls_deploy.template.monitoring import CanarySpec
from sls_deploy.template.rendered import without_function

RUNTIME = LayerRef(PurePosixPath(".sls-deploy/build/runtime.zip"), "a" * 64)
CONFIG = ProjectConfig(project="demo")


def model(name: str, **settings) -> FunctionSpec:
    values = {
        "memory": 1024,
        "timeout": 30,
        "arch": "x86_64",
        "runtime": "python3.12",
        "alarms": alarm_rules(CONFIG, 30),
    } | settings
    return FunctionSpec(name=name, model_layer=LayerRef(f"build/{name}/model.zip", "b" * 64), **values)


def spec(*functions: FunctionSpec) -> TemplateSpec:
    return TemplateSpec(project="demo", runtime_layer=RUNTIME, functions=functions)


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_each_model_gets_error_rate_p99_and_drift_alarms_on_its_live_alias():
    alarms = of_type(render_template(spec(model("digits"))), "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"DigitsErrorsAlarm", "DigitsLatencyAlarm", "DigitsDriftAlarm"}
    errors = alarms["DigitsErrorsAlarm"]["Properties"]
    assert errors["AlarmName"] == "demo-digits-errors" and errors["Threshold"] == 5.0
    (rate,) = [m for m in errors["Metrics"] if m.get("ReturnData")]
    assert "errors / invocations" in rate["Expression"]
    dims = {d["Name"]: d["Value"] for d in errors["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"]}
    assert dims == {"FunctionName": "demo-digits", "Resource": "demo-digits:live"}
    latency = alarms["DigitsLatencyAlarm"]["Properties"]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", 24000.0)  # 80 % of 30 s
    drift = alarms["DigitsDriftAlarm"]["Properties"]
    assert (drift["MetricName"], drift["Threshold"], drift["Namespace"]) == (
        "InputDriftPSI",
        0.25,
        "SlsDeploy",
    )
    assert {d["Name"]: d["Value"] for d in drift["Dimensions"]} == {
        "function_name": "demo-digits",
        "service": "digits",
    }
    assert all(a["Properties"]["TreatMissingData"] == "notBreaching" for a in alarms.values())


def test_alarm_thresholds_come_from_the_project_configuration():
    config = ProjectConfig(project="demo", alarm_error_rate=1.0, alarm_p99_ms=250, alarm_drift_psi=0.1)
    alarms = of_type(
        render_template(spec(model("digits", alarms=alarm_rules(config, 30)))), "AWS::CloudWatch::Alarm"
    )
    thresholds = {k: v["Properties"]["Threshold"] for k, v in alarms.items()}
    assert thresholds == {"DigitsErrorsAlarm": 1.0, "DigitsLatencyAlarm": 250.0, "DigitsDriftAlarm": 0.1}


def test_the_project_dashboard_has_a_row_per_model_with_traffic_duration_cold_starts_and_drift():
    dashboard = render_template(spec(model("digits"), model("iris")))["Resources"]["ProjectDashboard"]
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == [
        f"{m}: {panel}"
        for m in ("digits", "iris")
        for panel in ("invocations, errors, throttles", "duration (ms)", "cold starts", "drift (PSI)")
    ]
    metrics = [m[1] for w in body["widgets"] for m in w["properties"]["metrics"]]
    assert {"Invocations", "Errors", "Throttles", "Duration", "ColdStart", "InputDriftPSI"} <= set(metrics)


def test_taking_a_model_out_removes_its_alarms_and_its_dashboard_row():
    trimmed = without_function(render_template(spec(model("digits"), model("iris"))), "iris")
    assert set(of_type(trimmed, "AWS::CloudWatch::Alarm")) == {
        "DigitsErrorsAlarm",
        "DigitsLatencyAlarm",
        "DigitsDriftAlarm",
    }
    body = trimmed["Resources"]["ProjectDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert "iris" not in body and "digits" in body


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        (CanarySpec(10, 5), "Canary10Percent5Minutes"),
        (CanarySpec(10, 1, "linear"), "Linear10PercentEvery1Minute"),
        (CanarySpec(25, 7), None),
    ],
)
def test_a_canary_deploys_through_codedeploy_and_rolls_back_on_the_error_and_latency_alarms(canary, expected):
    template = render_template(spec(model("digits", canary=canary)))
    preference = template["Resources"]["DigitsFunction"]["Properties"]["DeploymentPreference"]
    assert preference["Alarms"] == [{"Ref": "DigitsErrorsAlarm"}, {"Ref": "DigitsLatencyAlarm"}]
    if expected is not None:
        assert preference["Type"] == expected
        assert not of_type(template, "AWS::CodeDeploy::DeploymentConfig")
    else:
        assert preference["Type"] == {"Ref": "DigitsDeploymentConfig"}
        config = template["Resources"]["DigitsDeploymentConfig"]["Properties"]
        assert config["TrafficRoutingConfig"] == {
            "Type": "TimeBasedCanary",
            "TimeBasedCanary": {"CanaryPercentage": 25, "CanaryInterval": 7},
        }
    translated = translate_template(template)
    assert of_type(translated, "AWS::CodeDeploy::DeploymentGroup")
    (alias,) = of_type(translated, "AWS::Lambda::Alias").values()
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_without_a_canary_there_is_no_codedeploy():
    translated = translate_template(render_template(spec(model("digits"))))
    assert not of_type(translated, "AWS::CodeDeploy::DeploymentGroup")


def test_snapstart_and_provisioned_concurrency_reach_the_published_version_and_alias():
    snap = translate_template(render_template(spec(model("digits", snapstart=True))))
    (function,) = of_type(snap, "AWS::Lambda::Function").values()
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    warm = translate_template(render_template(spec(model("digits", provisioned=2))))
    (alias,) = of_type(warm, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}


@pytest.mark.parametrize(
    "functions",
    [
        (model("digits", canary=CanarySpec(10, 5)),),
        (model("digits", canary=CanarySpec(20, 3, "linear"), snapstart=True), model("iris", provisioned=1)),
    ],
    ids=["predefined-canary", "custom-linear-snapstart-provisioned"],
)
def test_templates_with_monitoring_translate_and_lint_clean(functions):
    assert validate_template(render_template(spec(*functions)), "us-east-1") == []
