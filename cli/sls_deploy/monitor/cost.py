"""What serving a model on Lambda costs: per invocation, per million, per month, and the break-even point
against an always-on server. Pure arithmetic on a PriceTable; no I/O.

Billing rules applied (see prices.py for the figures and their sources):
- duration is billed per 1 ms at memory/1024 GB × the architecture's GB-second price; every request adds
  request_per_million / 1e6;
- the INIT phase of a cold start is billed as duration at the same price (prices.INIT_BILLING);
- provisioned concurrency: configured concurrency × memory for every second of the month, plus a lower
  GB-second price for the invocations it serves; requests beyond its capacity run on demand;
- SnapStart: a cached snapshot per active version (memory × seconds) and a restore per cold start (memory),
  which replaces the INIT phase;
- CloudWatch: every custom metric the handler emits (name × dimension set) per month, alarms, dashboards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..core.prices import MB_PER_GB, SECONDS_PER_MONTH, PriceTable

# The custom metrics the inference handler writes as EMF (one per name × dimension set, per function).
HANDLER_METRICS = (
    "InferenceLatency",
    "BatchSize",
    "ModelLoadTime",
    "ColdStart",
    "InputDriftPSI",
    "PredictionDriftPSI",
)
HANDLER_DIMENSION_SETS = (("function_name", "service"),)
HANDLER_CUSTOM_METRICS = len(HANDLER_METRICS) * len(HANDLER_DIMENSION_SETS)


def billed_gb_seconds(memory_mb: float, billed_ms: float) -> float:
    """GB-seconds of one invocation: memory in GB (MB / 1024) × billed seconds."""
    return memory_mb / MB_PER_GB * billed_ms / 1000.0


@dataclass(frozen=True)
class CostBreakdown:
    """USD per million invocations."""

    compute: float
    requests: float
    init: float = 0.0

    @property
    def total(self) -> float:
        return self.compute + self.requests + self.init

    def to_json(self) -> dict[str, Any]:
        return {
            "compute": _usd(self.compute),
            "requests": _usd(self.requests),
            "init": _usd(self.init),
            "total": _usd(self.total),
        }


def cost_per_million(
    prices: PriceTable,
    *,
    arch: str,
    memory_mb: float,
    billed_ms: float,
    cold_start_rate: float = 0.0,
    init_ms: float = 0.0,
) -> CostBreakdown:
    """USD per million on-demand invocations of `billed_ms` each, of which `cold_start_rate` (0..1) are cold
    starts whose INIT phase of `init_ms` is billed as duration too."""
    _check_rate(cold_start_rate)
    gb_second = prices.gb_second(arch)
    init = 0.0
    if prices.init_billed:
        init = 1e6 * cold_start_rate * billed_gb_seconds(memory_mb, init_ms) * gb_second
    return CostBreakdown(
        compute=1e6 * billed_gb_seconds(memory_mb, billed_ms) * gb_second,
        requests=prices.request_per_million,
        init=init,
    )


@dataclass(frozen=True)
class CostEstimate:
    """USD per month for `requests_per_month` invocations, split by what is billed."""

    requests_per_month: float
    compute: float  # on-demand duration
    requests: float
    init: float  # INIT phases of on-demand cold starts
    metrics: float  # CloudWatch custom metrics
    alarms: float = 0.0  # CloudWatch alarms and dashboards
    provisioned: float = 0.0  # provisioned concurrency: idle capacity + the duration of what it serves
    snapstart: float = 0.0  # snapshot cache + restores
    fixed: float = 0.0  # the part that does not depend on the number of requests
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return (
            self.compute
            + self.requests
            + self.init
            + self.metrics
            + self.alarms
            + self.provisioned
            + self.snapstart
        )

    @property
    def per_million(self) -> float:
        """The month's total per million requests (fixed costs included); 0.0 without requests."""
        return self.total / self.requests_per_month * 1e6 if self.requests_per_month else 0.0

    @property
    def per_request(self) -> float:
        """What one more request adds: the total without its fixed part, per request; 0.0 without requests."""
        return (self.total - self.fixed) / self.requests_per_month if self.requests_per_month else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_per_month": self.requests_per_month,
            "compute": _usd(self.compute),
            "requests": _usd(self.requests),
            "init": _usd(self.init),
            "metrics": _usd(self.metrics),
            "alarms": _usd(self.alarms),
            "provisioned": _usd(self.provisioned),
            "snapstart": _usd(self.snapstart),
            "fixed": _usd(self.fixed),
            "total": _usd(self.total),
            "per_million": _usd(self.per_million),
            "notes": list(self.notes),
        }


def monthly_cost(
    prices: PriceTable,
    *,
    arch: str,
    memory_mb: float,
    billed_ms: float,
    requests_per_month: float,
    cold_start_rate: float = 0.0,
    init_ms: float = 0.0,
    custom_metrics: int = HANDLER_CUSTOM_METRICS,
    alarms: int = 0,  # alarm metrics (a metric-math alarm counts each metric it reads)
    dashboards: int = 0,
    provisioned: int = 0,
    snapstart: bool = False,
    snapstart_versions: int = 1,
) -> CostEstimate:
    """USD per month of one function serving `requests_per_month` invocations of `billed_ms` each.

    `provisioned`: concurrency configured on the alias; it serves the share of requests its capacity covers
    at the month's average rate (uniform traffic), the rest runs on demand with `cold_start_rate`.
    `snapstart`: `snapstart_versions` versions keep a cached snapshot all month (Lambda deactivates a version's
    snapshot after 14 days without invocations); each cold start is a restore instead of an INIT.
    """
    _check_rate(cold_start_rate)
    if requests_per_month < 0:
        raise ValueError(f"requests per month must not be negative, not {requests_per_month}")
    if provisioned and snapstart:
        raise ValueError("a function version has either provisioned concurrency or SnapStart, not both")
    memory_gb = memory_mb / MB_PER_GB
    invocation_gb_s = billed_gb_seconds(memory_mb, billed_ms)
    notes: list[str] = []

    served = 0.0  # requests served by provisioned concurrency
    provisioned_usd = 0.0
    fixed = 0.0
    if provisioned:
        idle = provisioned * memory_gb * SECONDS_PER_MONTH * prices.provisioned_gb_second(arch)
        busy = requests_per_month / SECONDS_PER_MONTH * billed_ms / 1000.0  # average concurrency needed
        served = requests_per_month if busy <= provisioned else requests_per_month * provisioned / busy
        provisioned_usd = idle + served * invocation_gb_s * prices.provisioned_duration_gb_second(arch)
        fixed += idle
        if served < requests_per_month:
            notes.append(
                f"average concurrency {busy:.1f} exceeds the provisioned {provisioned}: "
                f"{requests_per_month - served:,.0f} requests run on demand"
            )
    on_demand = requests_per_month - served
    cold_starts = on_demand * cold_start_rate

    init = 0.0
    snapstart_usd = 0.0
    if snapstart:
        cache = snapstart_versions * memory_gb * SECONDS_PER_MONTH * prices.snapstart_cache_gb_second
        snapstart_usd = cache + cold_starts * memory_gb * prices.snapstart_restore_gb
        fixed += cache
        notes.append("SnapStart: each cold start is billed as a restore instead of its INIT phase")
    elif prices.init_billed:
        init = cold_starts * billed_gb_seconds(memory_mb, init_ms) * prices.gb_second(arch)

    metrics = custom_metrics * prices.cloudwatch_metric_month
    alarms_usd = (
        alarms * prices.cloudwatch_alarm_month
        + max(0, dashboards - prices.free_dashboards) * prices.cloudwatch_dashboard_month
    )
    fixed += metrics + alarms_usd
    return CostEstimate(
        requests_per_month=requests_per_month,
        compute=on_demand * invocation_gb_s * prices.gb_second(arch),
        requests=requests_per_month * prices.request_per_million / 1e6,
        init=init,
        metrics=metrics,
        alarms=alarms_usd,
        provisioned=provisioned_usd,
        snapstart=snapstart_usd,
        fixed=fixed,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class BreakEven:
    """Where Lambda and an always-on server at `vs_hourly` USD/h cost the same. Below `requests_per_month`
    Lambda is cheaper (0: never — its fixed costs alone exceed the server's)."""

    vs_hourly: float
    server_monthly: float
    requests_per_month: float
    requests_per_second: float

    def summary(self) -> str:
        if self.requests_per_month <= 0:
            return (
                f"a server at ${self.vs_hourly:g}/h (${self.server_monthly:,.2f}/month) is cheaper at any "
                "volume: Lambda's fixed monthly costs alone exceed it"
            )
        return (
            f"Lambda is cheaper below {self.requests_per_month:,.0f} req/month "
            f"({self.requests_per_second:,.2f} req/s on average) than a server at ${self.vs_hourly:g}/h "
            f"(${self.server_monthly:,.2f}/month)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "vs_hourly": self.vs_hourly,
            "server_monthly": _usd(self.server_monthly),
            "requests_per_month": round(self.requests_per_month),
            "requests_per_second": self.requests_per_second,
            "summary": self.summary(),
        }


def break_even(per_request_usd: float, fixed_monthly: float, vs_hourly: float) -> BreakEven:
    """The monthly request volume at which `fixed_monthly + per_request_usd × N` equals a server running
    all month (730 h) at `vs_hourly` — assuming that one server can carry that load."""
    if per_request_usd <= 0:
        raise ValueError(f"cost per request must be positive, not {per_request_usd}")
    if vs_hourly <= 0:
        raise ValueError(f"server price per hour must be positive, not {vs_hourly}")
    server = vs_hourly * SECONDS_PER_MONTH / 3600
    requests = max(0.0, (server - fixed_monthly) / per_request_usd)
    return BreakEven(
        vs_hourly=vs_hourly,
        server_monthly=server,
        requests_per_month=requests,
        requests_per_second=requests / SECONDS_PER_MONTH,
    )


def _usd(value: float) -> float:
    """A dollar amount for JSON: to 1e-8 USD, without float noise such as 1.7999999999999998."""
    return round(value, 8)


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0 or math.isnan(rate):
        raise ValueError(f"cold-start rate must be between 0 and 1, not {rate}")
