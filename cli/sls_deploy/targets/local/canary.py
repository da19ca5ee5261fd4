"""Alarms of the local target: monitor's alarm rules (core.alarm_rules, the ones the template renders as
CloudWatch alarms) evaluated against the local metric store, and the canary guard.

During a canary, an invocation of the canary version re-evaluates the canary-gating rules over the canary's
invocations (on every failure, else at most every CANARY_CHECK_S); an alarm routes `live` back to the version
the canary started from, as CodeDeploy does on AWS.

Side effects: a rollback rewrites the function's aliases (state.py) and records a notice in its log.
"""

from __future__ import annotations

import time

from ...core.alarm_rules import AlarmRule, alarm_name, alarm_rules
from ...core.config import ProjectConfig
from ...core.names import ALIAS, function_name
from ...core.progress import Progress
from ...core.records import AlarmState, InvokeResult, MetricsResult
from .routing import Resolved, routing
from .state import LocalState
from .telemetry import Telemetry
from .versions import AliasRoute, VersionRecord

CANARY_CHECK_S = 1.0  # a healthy canary's alarms are evaluated at most this often (every failure at once)


class LocalAlarms:
    """The alarm rules of one project's functions, evaluated now; `progress` hears of a canary rolled back."""

    def __init__(
        self, config: ProjectConfig, state: LocalState, telemetry: Telemetry, progress: Progress
    ) -> None:
        self._config = config
        self._state = state
        self._telemetry = telemetry
        self._progress = progress
        self._checked: dict[tuple[str, int], float] = {}  # (function, version) → last evaluation

    def _name(self, function: str, rule: AlarmRule) -> str:
        return alarm_name(function_name(self._config.project_name, function), rule)

    def states(self, function: str, route: AliasRoute, record: VersionRecord) -> list[AlarmState]:
        """Every rule of `function` (whose `live` is `route`, serving `record`): over the rule's period for
        `live`; during a canary, the canary-gating rules over the canary version's life."""
        now = time.time()
        queried: dict[tuple[float, float, str | None], MetricsResult] = {}  # one query per window

        def window(start: float, end: float, version: str | None = None) -> MetricsResult:
            key = (start, end, version)
            if key not in queried:
                queried[key] = self._telemetry.metrics(function, start, end, version=version)
            return queried[key]

        states = []
        for rule in alarm_rules(self._config, record.timeout):
            version = ""
            if rule.gates_canary and route.extra_version is not None:
                version = str(route.extra_version)
                periods = [window(route.since or 0.0, now, version)]
            else:
                periods = [
                    window(now - (i + 1) * rule.period_s, now - i * rule.period_s)
                    for i in reversed(range(rule.evaluation_periods))
                ]
            states.append(rule.evaluate(periods, self._name(function, rule), version, now))
        return states

    def _canary_firing(self, record: VersionRecord, route: AliasRoute) -> list[AlarmState]:
        """The canary-gating rules in ALARM over the canary version's whole life (since the canary began)."""
        now = time.time()
        version = str(record.version)
        metrics = self._telemetry.metrics(record.name, route.since or 0.0, now, version=version)
        rules = [rule for rule in alarm_rules(self._config, record.timeout) if rule.gates_canary]
        states = [rule.evaluate(metrics, self._name(record.name, rule), version, now) for rule in rules]
        return [state for state in states if state.state == "ALARM"]

    def _due(self, resolved: Resolved, invoked: InvokeResult) -> bool:
        """Whether the canary's alarms are to be evaluated after this invocation (a failure: always)."""
        key = (resolved.record.name, resolved.record.version)
        now = time.monotonic()
        if invoked.function_error is None and now - self._checked.get(key, 0.0) < CANARY_CHECK_S:
            return False
        self._checked[key] = now
        return True

    def watch(self, resolved: Resolved, invoked: InvokeResult) -> None:
        """After an invocation of a canary version: on an alarm, route `live` back to the version the canary
        started from. Says so in the function's log, on the console and in the result's extra."""
        record, route = resolved.record, resolved.route
        if route is None or not resolved.canary or not self._due(resolved, invoked):
            return
        firing = self._canary_firing(record, route)
        if not firing:
            return
        change = self._state.abort_canary(record.name, record.version, ALIAS)
        if change is None:
            return  # another invocation (or a promote) ended the canary first
        before, after = change
        message = (
            f"canary version {record.version} rolled back, {ALIAS} now routes all traffic to "
            f"version {after.version}: alarm {firing[0].name}: {firing[0].reason}"
        )
        self._telemetry.record_notice(record.name, str(record.version), "sls-deploy: " + message)
        self._progress(message)
        invoked.extra["canary_rolled_back"] = {
            "alarm": firing[0].to_json(),
            "before": routing(ALIAS, before).to_json(),
            "after": routing(ALIAS, after).to_json(),
        }
        warnings = invoked.extra.setdefault("warnings", [])
        if isinstance(warnings, list):
            warnings.append(message)
