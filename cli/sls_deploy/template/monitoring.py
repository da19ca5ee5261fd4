"""The monitoring part of the SAM template: CloudWatch alarms per model, one dashboard per project, and the
CodeDeploy deployment preference of a canary push.

Alarms are rendered from monitor.alarms' rules (the same rules the local target evaluates): error rate and
p99 Duration of the alias `live` (Lambda's metrics with the dimensions FunctionName + Resource
"<function>:live", which count exactly the alias's traffic), and the average of the handler's InputDriftPSI
(EMF, namespace and dimensions function_name + service as powertools emits them). Missing data is not breaching, so an idle
function (scaled to zero) stays OK.

A canary push (`push --canary PCT --target aws`) adds SAM's DeploymentPreference to the function: CodeDeploy
shifts `live` to the new version in the predefined steps (Canary10Percent5Minutes, …) or, for other
percentages and intervals, a custom AWS::CodeDeploy::DeploymentConfig, and rolls back when a canary-gating
alarm fires. Pure functions returning template fragments; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.alarm_rules import DRIFT, ERRORS, LATENCY, AlarmRule, alarm_name
from ..core.jsonable import Jsonable

ALARM_ID_KEYS = {ERRORS: "errors_alarm", LATENCY: "latency_alarm", DRIFT: "drift_alarm"}
DASHBOARD_ID = "ProjectDashboard"
# CodeDeploy's predefined Lambda deployment configurations (percent, minutes) → name.
_PREDEFINED = {
    ("canary", 10, 5): "Canary10Percent5Minutes",
    ("canary", 10, 10): "Canary10Percent10Minutes",
    ("canary", 10, 15): "Canary10Percent15Minutes",
    ("canary", 10, 30): "Canary10Percent30Minutes",
    ("linear", 10, 1): "Linear10PercentEvery1Minute",
    ("linear", 10, 2): "Linear10PercentEvery2Minutes",
    ("linear", 10, 3): "Linear10PercentEvery3Minutes",
    ("linear", 10, 10): "Linear10PercentEvery10Minutes",
}


@dataclass(frozen=True)
class CanarySpec(Jsonable):
    """A canary push: `percent` of `live` to the new version for `minutes` (canary), or +`percent` every
    `minutes` (linear), then all of it."""

    percent: int
    minutes: int
    mode: str = "canary"

    @property
    def predefined(self) -> str | None:
        """CodeDeploy's own configuration name for this canary, None when it needs a custom one."""
        return _PREDEFINED.get((self.mode, self.percent, self.minutes))


def alarm_resources(
    ids: Mapping[str, str],
    model: str,
    function_name: str,
    namespace: str,
    rules: Sequence[AlarmRule],
) -> dict[str, Any]:
    """One AWS::CloudWatch::Alarm per rule, keyed by logical ID."""
    alias_dims = [
        {"Name": "FunctionName", "Value": function_name},
        {"Name": "Resource", "Value": f"{function_name}:live"},
    ]
    resources: dict[str, Any] = {}
    for rule in rules:
        properties: dict[str, Any] = {
            "AlarmName": alarm_name(function_name, rule),
            "AlarmDescription": f"sls-deploy model {model}: {rule.description}",
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": rule.threshold,
            "EvaluationPeriods": rule.evaluation_periods,
            "DatapointsToAlarm": rule.datapoints_to_alarm,
            "TreatMissingData": "notBreaching",
        }
        if rule.key == ERRORS:
            properties["Metrics"] = [
                {
                    "Id": "rate",
                    "Label": "error rate (%)",
                    "Expression": "IF(invocations > 0, 100 * errors / invocations, 0)",
                    "ReturnData": True,
                },
                *(
                    {
                        "Id": metric_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/Lambda",
                                "MetricName": metric,
                                "Dimensions": alias_dims,
                            },
                            "Period": rule.period_s,
                            "Stat": "Sum",
                        },
                        "ReturnData": False,
                    }
                    for metric_id, metric in (("errors", "Errors"), ("invocations", "Invocations"))
                ),
            ]
        elif rule.key == LATENCY:
            properties.update(
                Namespace="AWS/Lambda",
                MetricName="Duration",
                Dimensions=alias_dims,
                ExtendedStatistic="p99",
                Period=rule.period_s,
                Unit="Milliseconds",
            )
        else:
            properties.update(
                Namespace=namespace,
                MetricName="InputDriftPSI",
                Dimensions=[
                    {"Name": "function_name", "Value": function_name},
                    {"Name": "service", "Value": model},
                ],
                Statistic="Average",
                Period=rule.period_s,
            )
        resources[ids[ALARM_ID_KEYS[rule.key]]] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
    return resources


def deployment_preference(
    ids: Mapping[str, str], canary: CanarySpec, rules: Sequence[AlarmRule]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the function's DeploymentPreference, extra resources: a custom deployment config if one is needed)."""
    extra: dict[str, Any] = {}
    kind: Any = canary.predefined
    if kind is None:
        step = "TimeBasedCanary" if canary.mode == "canary" else "TimeBasedLinear"
        prefix = "Canary" if canary.mode == "canary" else "Linear"
        routing = {
            "Type": step,
            step: {f"{prefix}Percentage": canary.percent, f"{prefix}Interval": canary.minutes},
        }
        extra[ids["deployment_config"]] = {
            "Type": "AWS::CodeDeploy::DeploymentConfig",
            "Properties": {"ComputePlatform": "Lambda", "TrafficRoutingConfig": routing},
        }
        kind = {"Ref": ids["deployment_config"]}
    preference = {
        "Type": kind,
        "Alarms": [{"Ref": ids[ALARM_ID_KEYS[rule.key]]} for rule in rules if rule.gates_canary],
    }
    return preference, extra


def dashboard_resource(project: str, namespace: str, models: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The project's dashboard: per model (name, function name) a row of invocations/errors/throttles,
    duration p50/p99, cold starts and drift."""
    widgets: list[dict[str, Any]] = []
    for row, (model, function_name) in enumerate(models):
        lambda_metric = ["AWS/Lambda", "", "FunctionName", function_name]
        emf_metric = [namespace, "", "function_name", function_name, "service", model]

        def metric(base: list[str], name: str, **options: Any) -> list[Any]:
            return [*base[:1], name, *base[2:], *([options] if options else [])]

        panels: list[tuple[str, list[list[Any]], dict[str, Any]]] = [
            (
                f"{model}: invocations, errors, throttles",
                [metric(lambda_metric, m) for m in ("Invocations", "Errors", "Throttles")],
                {"stat": "Sum"},
            ),
            (
                f"{model}: duration (ms)",
                [metric(lambda_metric, "Duration", stat=s, label=s) for s in ("p50", "p99")],
                {},
            ),
            (f"{model}: cold starts", [metric(emf_metric, "ColdStart")], {"stat": "Sum"}),
            (
                f"{model}: drift (PSI)",
                [metric(emf_metric, m) for m in ("InputDriftPSI", "PredictionDriftPSI")],
                {
                    "stat": "Average",
                    "annotations": {
                        "horizontal": [
                            {"value": 0.1, "label": "moderate"},
                            {"value": 0.25, "label": "significant"},
                        ]
                    },
                },
            ),
        ]
        for column, (title, metrics, options) in enumerate(panels):
            widgets.append(
                {
                    "type": "metric",
                    "x": column * 6,
                    "y": row * 6,
                    "width": 6,
                    "height": 6,
                    "properties": {
                        "title": title,
                        "region": "${AWS::Region}",
                        "period": 60,
                        "view": "timeSeries",
                        "metrics": metrics,
                        **options,
                    },
                }
            )
    body = json.dumps({"widgets": widgets}, separators=(",", ":"), sort_keys=False)
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        # Dashboards are global to the account: the region keeps one project's stacks in two regions apart.
        "Properties": {
            "DashboardName": {"Fn::Sub": f"{project}-${{AWS::Region}}"},
            "DashboardBody": {"Fn::Sub": body},
        },
    }
