"""`sls-deploy cost`: what a deployed model costs to serve, from its metrics or a fresh measurement.

Reads the function's durations, cold-start rate and INIT duration from the target's metrics over a period;
when it has none, invokes it `count` times (measure.py). Prices them with cost.py at the deployed memory and
architecture — or at another memory/architecture, scaled and said so. Side effects: reads metrics, and
invokes the function when there are no metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core import limits
from ..core.alarm_rules import alarm_rules
from ..core.errors import ConfigError, NotDeployedError
from ..core.prices import INIT_BILLING, PriceTable, prices_for
from ..core.progress import Progress
from ..core.records import MetricsResult, VersionInfo
from ..targets.base import Target
from .cost import BreakEven, CostBreakdown, CostEstimate, break_even, cost_per_million, monthly_cost
from .measure import Measurement, measure_invocations

if TYPE_CHECKING:
    from ..core.config import ProjectConfig

# Without metrics a short burst of invocations says nothing about how often traffic finds no warm
# environment; AWS reports cold starts in under 1 % of invocations of production workloads.
ASSUMED_COLD_START_RATE = 0.01


@dataclass(frozen=True)
class CostReport:
    """The cost of serving one function, with where each figure came from."""

    target: str
    name: str
    arch: str  # the architecture priced (deployed unless asked otherwise)
    memory_mb: int
    deployed_arch: str
    deployed_memory_mb: int
    source: str  # "metrics" or "measured"
    basis: str  # e.g. "metrics over 24 h: 1,234 invocations, 3 cold starts"
    billed_ms: float  # per invocation, as priced
    cold_start_rate: float
    init_ms: float
    prices: PriceTable
    per_million: CostBreakdown
    month: CostEstimate
    break_even: BreakEven | None
    notes: tuple[str, ...] = ()
    measurement: Measurement | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "arch": self.arch,
            "memory_mb": self.memory_mb,
            "deployed_arch": self.deployed_arch,
            "deployed_memory_mb": self.deployed_memory_mb,
            "source": self.source,
            "basis": self.basis,
            "billed_ms": round(self.billed_ms, 3),
            "cold_start_rate": self.cold_start_rate,
            "init_ms": round(self.init_ms, 3),
            "prices": {
                "region": self.prices.region,
                "taken": self.prices.taken,
                "source": self.prices.source,
            },
            "per_million": self.per_million.to_json(),
            "month": self.month.to_json(),
            "break_even": None if self.break_even is None else self.break_even.to_json(),
            "notes": list(self.notes),
            "measurement": None if self.measurement is None else self.measurement.to_json(),
        }


def live_version(target: Target, name: str) -> tuple[VersionInfo, int]:
    """The version `live` sends (most of) its traffic to, and how many versions it routes to (2 in a canary)."""
    listing = target.versions(name)
    live = listing.alias("live")
    if live is None:
        raise NotDeployedError(f"{name} has no alias live", f"deploy it with `sls-deploy push --name {name}`")
    info = next((v for v in listing.versions if v.version == live.version), None)
    if info is None:
        raise NotDeployedError(
            f"{name}: live points at version {live.version}, which is not listed",
            "redeploy it with `sls-deploy push`",
        )
    return info, 1 if live.extra_version is None else 2


def target_region(config: ProjectConfig, target: Target) -> str:
    """The region a target's functions run in: the aws target's connection's (it may come from the AWS
    configuration rather than the project's), else the configured or emulated region."""
    region = getattr(getattr(target, "aws", None), "region", "")
    return region if isinstance(region, str) and region else config.emulated_region


def scaled_ms(ms: float, from_mb: float, to_mb: float) -> float:
    """A single-threaded duration at `to_mb`, measured at `from_mb`: it scales with the CPU share up to one
    vCPU (1,769 MB); more vCPUs do not speed up one thread."""

    def speed(memory_mb: float) -> float:
        return min(1.0, limits.lambda_vcpus(memory_mb))

    return ms * speed(from_mb) / speed(to_mb)


@dataclass(frozen=True)
class _Observed:
    """The function's durations at its deployed setting, where they came from, and notes on them."""

    source: str  # "metrics" or "measured"
    basis: str
    billed_ms: float  # per invocation
    init_ms: float
    cold_start_rate: float | None  # the metrics' (a burst of invocations says nothing about it)
    notes: tuple[str, ...]
    measurement: Measurement | None = None


def _from_metrics(metrics: MetricsResult) -> _Observed:
    average = metrics.duration_ms.average or 0.0
    rate = metrics.cold_starts / metrics.invocations
    init = metrics.init_duration_ms.average or 0.0
    hours = (metrics.end - metrics.start) / 3600
    basis = (
        f"metrics of the last {hours:.3g} h: invocations {metrics.invocations:,}, "
        f"cold starts {metrics.cold_starts:,}, average duration {average:.2f} ms"
    )
    notes = ["billed duration: the average duration + 0.5 ms (each invocation is rounded up to the next ms)"]
    if rate > 0 and init == 0.0:
        notes.append("no INIT durations were recorded: the INIT phase is not included")
    return _Observed("metrics", basis, average + 0.5, init, rate, tuple(notes))


def _from_measurement(measurement: Measurement) -> _Observed:
    trimmed = measurement.trimmed()
    basis = (
        f"measured now: {measurement.count} invocations of {measurement.name}:{measurement.qualifier}, "
        f"billed {trimmed.mean_billed_ms:.1f} ms on average without the fastest and slowest 20 % "
        f"(p50 {measurement.p50_ms:.1f} ms, p90 {measurement.p90_ms:.1f} ms)"
    )
    notes = []
    if measurement.cold_starts:
        init = measurement.mean_init_ms
    else:
        init = 0.0
        notes.append(
            "no cold start was measured (warm environments were ready): the INIT phase is not included"
        )
    return _Observed("measured", basis, trimmed.mean_billed_ms, init, None, tuple(notes), measurement)


def _observe(
    target: Target,
    name: str,
    since: float,
    payload: Callable[[], bytes],
    count: int,
    progress: Progress | None,
) -> _Observed:
    """The metrics since `since` when they hold invocations with durations, else `count` invocations now."""
    if progress is not None:
        progress(f"reading {name}'s metrics")
    metrics = target.metrics(name, since)
    if metrics.invocations and metrics.duration_ms.count:
        return _from_metrics(metrics)
    return _from_measurement(measure_invocations(target, name, payload(), count, progress=progress))


def _cold_start_rate(given: float | None, observed: _Observed, target: str) -> tuple[float, list[str]]:
    """The given rate, else the metrics', else ASSUMED_COLD_START_RATE; with the note saying which."""
    if given is not None:
        return given, [f"cold-start rate: {given:.2%} as given"]
    if observed.cold_start_rate is not None:
        if target != "local":
            return observed.cold_start_rate, []
        return observed.cold_start_rate, [
            "local target: every new process (each `sls-deploy invoke`) starts its own workers, so cold "
            "starts are more frequent than behind `sls-deploy serve` or on Lambda; --cold-start-rate sets it"
        ]
    rate = ASSUMED_COLD_START_RATE
    return rate, [
        f"cold-start rate: {rate:.0%} assumed (a burst of invocations is not a traffic pattern; AWS "
        "reports under 1 % in production); --cold-start-rate sets it"
    ]


def _at_setting(
    observed: _Observed, deployed: VersionInfo, memory: int, arch: str, target: str, name: str
) -> tuple[float, float, list[str]]:
    """Billed and INIT durations at `memory` MB on `arch` from the deployed setting's, with how they were
    obtained: scaled to another memory, assumed equal on another architecture."""
    billed, init = observed.billed_ms, observed.init_ms
    notes = []
    if memory != deployed.memory:
        billed = scaled_ms(billed, deployed.memory, memory)
        init = scaled_ms(init, deployed.memory, memory)
        notes.append(
            f"{memory} MB: durations scaled from the deployed {deployed.memory} MB (CPU ∝ memory up to "
            f"{limits.MEMORY_MB_PER_VCPU:,} MB, single-threaded) — not measured; `sls-deploy tune {name}` "
            "measures each memory size"
        )
    if arch != deployed.arch:
        notes.append(
            f"{arch}: durations assumed equal to {deployed.arch}'s — not measured; "
            f"`sls-deploy tune {name}` measures them"
        )
    if target == "local":
        notes.append("local target: durations come from this machine's CPU, not Lambda's")
    return billed, init, notes


def _costs(
    config: ProjectConfig,
    prices: PriceTable,
    deployed: VersionInfo,
    routed_versions: int,
    *,
    arch: str,
    memory_mb: int,
    billed_ms: float,
    requests: float,
    cold_start_rate: float,
    init_ms: float,
) -> tuple[CostBreakdown, CostEstimate]:
    """The cost per million invocations and the month's cost at these figures."""
    # With SnapStart a cold start is a restore (in the month's SnapStart line), not a billed INIT phase.
    per_million = cost_per_million(
        prices,
        arch=arch,
        memory_mb=memory_mb,
        billed_ms=billed_ms,
        cold_start_rate=0.0 if config.snapstart else cold_start_rate,
        init_ms=init_ms,
    )
    month = monthly_cost(
        prices,
        arch=arch,
        memory_mb=memory_mb,
        billed_ms=billed_ms,
        requests_per_month=requests,
        cold_start_rate=cold_start_rate,
        init_ms=init_ms,
        alarms=sum(rule.billed_metrics for rule in alarm_rules(config, deployed.timeout)),
        dashboards=1,  # the project's dashboard (free while the account has at most prices.free_dashboards)
        provisioned=config.provisioned,
        snapstart=config.snapstart,
        snapstart_versions=routed_versions,
    )
    return per_million, month


def estimate_cost(
    config: ProjectConfig,
    target: Target,
    name: str,
    *,
    since: float,
    requests: float,
    memory_mb: int | None = None,
    arch: str | None = None,
    vs_hourly: float | None = None,
    cold_start_rate: float | None = None,
    payload: Callable[[], bytes],
    count: int,
    progress: Progress | None = None,
    prices: PriceTable | None = None,
) -> CostReport:
    """The cost of serving `name` on `target`. `payload` is called only when a measurement is needed.
    Cold-start rate: `cold_start_rate`, else the metrics', else ASSUMED_COLD_START_RATE.
    Prices: `prices`, else the target's region's with the config file's `[prices]` applied."""
    prices = prices or prices_for(target_region(config, target), config.prices)
    deployed, routed_versions = live_version(target, name)
    memory = memory_mb or deployed.memory
    chosen_arch = arch or deployed.arch
    problem = limits.function_setting_problem(chosen_arch, deployed.runtime, memory, deployed.timeout)
    if problem is not None:
        raise ConfigError(*problem)

    observed = _observe(target, name, since, payload, count, progress)
    rate, rate_notes = _cold_start_rate(cold_start_rate, observed, target.name)
    billed, init, setting_notes = _at_setting(observed, deployed, memory, chosen_arch, target.name, name)
    notes = [*observed.notes, *rate_notes, *setting_notes]
    if prices.init_billed and init:
        notes.append(INIT_BILLING)
    per_million, month = _costs(
        config,
        prices,
        deployed,
        routed_versions,
        arch=chosen_arch,
        memory_mb=memory,
        billed_ms=billed,
        requests=requests,
        cold_start_rate=rate,
        init_ms=init,
    )
    point = None
    if vs_hourly is not None:
        per_request = month.per_request or per_million.total / 1e6
        point = break_even(per_request, month.fixed, vs_hourly)
    return CostReport(
        target=target.name,
        name=name,
        arch=chosen_arch,
        memory_mb=memory,
        deployed_arch=deployed.arch,
        deployed_memory_mb=deployed.memory,
        source=observed.source,
        basis=observed.basis,
        billed_ms=billed,
        cold_start_rate=rate,
        init_ms=init,
        prices=prices,
        per_million=per_million,
        month=month,
        break_even=point,
        notes=(*notes, *month.notes) + ((prices.note,) if prices.note else ()),
        measurement=observed.measurement,
    )
