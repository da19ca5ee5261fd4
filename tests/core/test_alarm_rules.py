"""The alarm rules the template renders and the local target evaluates: thresholds from the configuration,
values read from a MetricsResult, missing data not breaching."""

from __future__ import annotations

import pytest

from sls_deploy.core.alarm_rules import DRIFT, ERRORS, LATENCY, alarm_name, alarm_rules
from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import ConfigError
from sls_deploy.core.records import MetricsResult, Stats

RULES = {rule.key: rule for rule in alarm_rules(ProjectConfig(), timeout_s=10)}


def metrics(**values) -> MetricsResult:
    return MetricsResult(target="local", name="digits", start=0.0, end=60.0, **values)


def test_the_default_thresholds_are_5_percent_errors_80_percent_of_the_timeout_and_psi_0_25():
    assert (RULES[ERRORS].threshold, RULES[LATENCY].threshold, RULES[DRIFT].threshold) == (5.0, 8000.0, 0.25)
    assert [k for k, r in RULES.items() if r.gates_canary] == [ERRORS, LATENCY]


def test_an_error_rate_above_the_threshold_is_an_alarm_that_says_how_many_failed():
    state = RULES[ERRORS].evaluate(metrics(invocations=20, errors=2), "demo-digits-errors", version="3")
    assert (state.state, state.value, state.version) == ("ALARM", 10.0, "3")
    assert "2 of 20 invocations failed" in state.reason and "version 3" in state.reason
    assert RULES[ERRORS].evaluate(metrics(invocations=20, errors=1), "x").state == "OK"  # exactly 5 %


def test_no_invocations_or_no_drift_report_is_ok_because_missing_data_is_not_breaching():
    for rule in RULES.values():
        state = rule.evaluate(metrics(), alarm_name("demo-digits", rule))
        assert (state.state, state.value) == ("OK", None) and "no data" in state.reason


def test_latency_compares_the_p99_duration_of_one_period():
    slow = metrics(invocations=5, duration_ms=Stats(count=5, p50=10.0, p90=9000.0, p99=9500.0))
    assert RULES[LATENCY].evaluate(slow, "x").state == "ALARM"
    assert RULES[LATENCY].evaluate(metrics(invocations=5, duration_ms=Stats(p99=100.0)), "x").state == "OK"


def test_drift_fires_when_the_average_psi_breaches_in_2_of_the_last_3_periods():
    drifted, calm = metrics(input_drift_psi=0.31), metrics(input_drift_psi=0.12)
    rule = RULES[DRIFT]
    assert (rule.evaluation_periods, rule.datapoints_to_alarm) == (3, 2)
    one_unlucky = rule.evaluate([calm, drifted, calm], "x")
    assert one_unlucky.state == "OK" and "1 of the last 3 periods breached" in one_unlucky.reason
    assert rule.evaluate([drifted, calm, drifted], "x").state == "ALARM"
    assert rule.evaluate([metrics(), drifted, drifted], "x").state == "ALARM"  # a quiet period in between


def test_thresholds_follow_the_configuration_and_bad_ones_are_refused():
    config = ProjectConfig(alarm_error_rate=1.5, alarm_p99_ms=300, alarm_drift_psi=0.1)
    rules = {rule.key: rule.threshold for rule in alarm_rules(config, timeout_s=10)}
    assert rules == {ERRORS: 1.5, LATENCY: 300.0, DRIFT: 0.1}
    with pytest.raises(ConfigError, match="alarm_error_rate = 101"):
        ProjectConfig(alarm_error_rate=101.0).validated()
    with pytest.raises(ConfigError, match="alarm_drift_psi = -0.1"):
        ProjectConfig(alarm_drift_psi=-0.1).validated()


def test_alarm_names_are_the_function_name_and_the_rule():
    assert alarm_name("demo-digits", RULES[LATENCY]) == "demo-digits-p99-duration"
