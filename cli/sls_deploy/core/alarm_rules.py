"""The alarm rules of a deployed model, in one place: the template renders them as CloudWatch alarms and the
local target evaluates the very same rules against its metric store.

Three rules per model:
- errors: the share of invocations of `live` that failed (function errors, timeouts, crashes — not 4xx
  answers) above `alarm_error_rate` % within one minute;
- p99-duration: p99 Duration of `live` above `alarm_p99_ms` (default 80 % of the timeout) within one minute;
- input-drift: the average of the handler's InputDriftPSI reports above `alarm_drift_psi` (0.25, a
  "significant" shift) in 2 of the last 3 five-minute periods. Average, not maximum: each report is the
  highest PSI over all features of a window of `drift_every` rows, and for unchanged traffic that maximum
  scatters (100-row windows over the example's 64 features: median 0.16, p90 0.23, measured) — with many
  windows per period their maximum would always cross 0.25, their average does not; 2 of 3 periods keeps one
  unlucky window of a quiet function from firing it.

A canary is judged by the rules marked `gates_canary` (errors and p99-duration): CodeDeploy rolls back on
them on AWS, the local target rolls `live` back on them. Input drift does not gate a canary: it describes
the traffic, not the new version, and a retrained model is often the answer to it — a drift alarm that
stopped every deploy would block the fix. Pure functions; no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .records import AlarmState, MetricsResult

if TYPE_CHECKING:
    from .config import ProjectConfig

ERRORS = "errors"
LATENCY = "p99-duration"
DRIFT = "input-drift"
P99_SHARE_OF_TIMEOUT = 0.8  # the default latency alarm: p99 Duration above 80 % of the function's timeout


@dataclass(frozen=True)
class AlarmRule:
    """One alarm: `value > threshold` over `period_s`, the value read from a MetricsResult."""

    key: str
    title: str
    threshold: float
    unit: str  # "%", "ms" or "PSI"
    period_s: int
    gates_canary: bool
    description: str
    evaluation_periods: int = 1  # the alarm looks at this many periods …
    datapoints_to_alarm: int = 1  # … and fires when this many of them breach

    @property
    def billed_metrics(self) -> int:
        """Alarm metrics CloudWatch bills for this alarm: the error rate is metric math over two metrics."""
        return 2 if self.key == ERRORS else 1

    def value(self, metrics: MetricsResult) -> float | None:
        """The figure this rule compares, from `metrics` of one period; None when there is no data."""
        if self.key == ERRORS:
            return None if metrics.invocations == 0 else 100.0 * metrics.errors / metrics.invocations
        if self.key == LATENCY:
            return metrics.duration_ms.p99
        return metrics.input_drift_psi

    def evaluate(
        self,
        periods: MetricsResult | Sequence[MetricsResult],
        alarm_name: str,
        version: str = "",
        at: float | None = None,
    ) -> AlarmState:
        """The alarm's state over `periods` (its last `evaluation_periods` periods, oldest first; or one
        MetricsResult: one period, or a canary's life). It fires when `datapoints_to_alarm` of them breach.
        Missing data is not breaching, as the rendered CloudWatch alarms say (TreatMissingData:
        notBreaching)."""
        periods = [periods] if isinstance(periods, MetricsResult) else list(periods)
        values = [self.value(metrics) for metrics in periods]
        present = [v for v in values if v is not None]
        breaching = sum(1 for v in present if v > self.threshold)
        value = present[-1] if present else None
        subject = f"version {version}" if version else "live"
        if value is None:
            state, reason = "OK", f"no data for {subject} in the period (missing data is not breaching)"
        else:
            state = "ALARM" if breaching >= self.datapoints_to_alarm else "OK"
            comparison = "above" if value > self.threshold else "within"
            reason = (
                f"{self.title} of {subject} is {value:.3g} {self.unit}, {comparison} the threshold "
                f"{self.threshold:g} {self.unit}"
            )
            if len(periods) > 1:
                reason += f"; {breaching} of the last {len(periods)} periods breached"
                reason += f" ({self.datapoints_to_alarm} fire it)"
            if self.key == ERRORS:
                latest = periods[-1]
                reason += f" ({latest.errors} of {latest.invocations} invocations failed)"
        return AlarmState(
            name=alarm_name,
            model=periods[-1].name,
            rule=self.key,
            state=state,
            reason=reason,
            threshold=self.threshold,
            value=value,
            version=version,
            updated_at=time.time() if at is None else at,
        )


def alarm_rules(config: ProjectConfig, timeout_s: int) -> tuple[AlarmRule, ...]:
    """The rules for a function with timeout `timeout_s`, thresholds from the project's configuration."""
    p99_ms = float(config.alarm_p99_ms or round(timeout_s * 1000 * P99_SHARE_OF_TIMEOUT))
    return (
        AlarmRule(
            key=ERRORS,
            title="error rate",
            threshold=float(config.alarm_error_rate),
            unit="%",
            period_s=60,
            gates_canary=True,
            description=f"more than {config.alarm_error_rate:g} % of invocations of live failed in a minute",
        ),
        AlarmRule(
            key=LATENCY,
            title="p99 duration",
            threshold=p99_ms,
            unit="ms",
            period_s=60,
            gates_canary=True,
            description=f"p99 Duration of live above {p99_ms:g} ms in a minute",
        ),
        AlarmRule(
            key=DRIFT,
            title="input drift (PSI)",
            threshold=float(config.alarm_drift_psi),
            unit="PSI",
            period_s=300,
            gates_canary=False,
            description=f"average InputDriftPSI above {config.alarm_drift_psi:g} (a significant shift of the "
            "inputs from the push-time samples) in 2 of the last 3 five-minute periods",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        ),
    )


def alarm_name(function_name: str, rule: AlarmRule) -> str:
    """The CloudWatch alarm's name: the Lambda function's name and the rule, e.g. "proj-digits-errors"."""
    return f"{function_name}-{rule.key}"
