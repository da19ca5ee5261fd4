"""What Lambda and CloudWatch charge: one PriceTable (us-east-1), per-region compute prices, and overrides.

Figures: US East (N. Virginia), on-demand, first duration tier (up to 6 billion GB-seconds a month per
architecture; larger accounts pay less per GB-second above that), without the free tier. Checked 2026-11
(https://aws.amazon.com/lambda/pricing/ renders its rate tables client-side, so figures were matched against
the page's worked examples and transcriptions of it):
- requests $0.20/M, GB-second x86_64: the pricing page's worked examples; arm64 (20 % less): a transcription.
- INIT billing: the AWS Compute Blog, "AWS Lambda standardizes billing for INIT Phase" (1 Aug 2025).
- SnapStart for Python: two transcriptions of the pricing page agree on the cache and restore figures; the
  Lambda developer guide confirms what is billed (cache while a version is active, each restore, after-restore
  hooks as duration) but states no figures. The 3-hour cache minimum is not verified.
- provisioned concurrency (idle and duration): not found in any text available when checking — unverified.
- CloudWatch custom metric $0.30 (first 10,000): third-party guides; alarm $0.10 and dashboard $3 (3 free):
  unverified.
A table whose figures a user has checked for their own account or region goes in the project's config file
(`[prices]` in sls-deploy.toml, `[tool.sls-deploy.prices]` in pyproject.toml). Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import ConfigError

PRICES_SOURCE = "https://aws.amazon.com/lambda/pricing/"
HOURS_PER_MONTH = 730  # AWS's pricing examples bill a month as 730 hours
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
MB_PER_GB = 1024  # Lambda's GB-seconds: memory in MB / 1024

INIT_BILLING = (
    "since 1 Aug 2025 Lambda bills the INIT phase (cold start) of zip functions on managed runtimes as "
    "duration, at the same GB-second price as the invocation"
)

_MONEY_FIELDS = (
    "request_per_million",
    "gb_second_x86_64",
    "gb_second_arm64",
    "provisioned_gb_second_x86_64",
    "provisioned_gb_second_arm64",
    "provisioned_duration_gb_second_x86_64",
    "provisioned_duration_gb_second_arm64",
    "snapstart_cache_gb_second",
    "snapstart_restore_gb",
    "cloudwatch_metric_month",
    "cloudwatch_alarm_month",
    "cloudwatch_dashboard_month",
)


@dataclass(frozen=True)
class PriceTable:
    """USD prices of one region. Field names are the keys of the config file's `[prices]` table."""

    region: str = "us-east-1"
    taken: str = "2026-11"  # when the figures were checked
    source: str = PRICES_SOURCE
    request_per_million: float = 0.20
    gb_second_x86_64: float = 0.0000166667
    gb_second_arm64: float = 0.0000133334  # 20 % less than x86_64
    init_billed: bool = True  # see INIT_BILLING
    # Provisioned concurrency: configured concurrency × memory, all the time it is enabled …
    provisioned_gb_second_x86_64: float = 0.0000041667
    provisioned_gb_second_arm64: float = 0.0000033334
    # … plus a lower duration price for the invocations it serves.
    provisioned_duration_gb_second_x86_64: float = 0.0000097222
    provisioned_duration_gb_second_arm64: float = 0.0000077778
    # SnapStart (Python, .NET): a cached snapshot per active version, and each restore instead of an INIT.
    snapstart_cache_gb_second: float = 0.0000015046  # memory × the time a version is active
    snapstart_restore_gb: float = 0.0001397998  # memory of each restored execution environment
    # CloudWatch: each metric name × dimension combination is one custom metric.
    cloudwatch_metric_month: float = 0.30
    cloudwatch_alarm_month: float = 0.10  # a standard-resolution alarm on one metric
    cloudwatch_dashboard_month: float = 3.00
    free_dashboards: int = 3
    note: str = ""  # where the figures differ from AWS's published us-east-1 table, and why

    def gb_second(self, arch: str) -> float:
        return float(getattr(self, f"gb_second_{_arch(arch)}"))

    def provisioned_gb_second(self, arch: str) -> float:
        return float(getattr(self, f"provisioned_gb_second_{_arch(arch)}"))

    def provisioned_duration_gb_second(self, arch: str) -> float:
        return float(getattr(self, f"provisioned_duration_gb_second_{_arch(arch)}"))

    def scaled(self, factor: float) -> PriceTable:
        """Every price times `factor` (a region's premium over us-east-1, a negotiated discount)."""
        return replace(self, **{name: getattr(self, name) * factor for name in _MONEY_FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _arch(arch: str) -> str:
    if arch not in ("x86_64", "arm64"):
        raise ValueError(f"unknown architecture {arch!r}")
    return arch


US_EAST_1 = PriceTable()

# Regions whose Lambda compute prices differ from us-east-1's (x86_64, arm64 per GB-second); every other
# commercial region charges us-east-1's. Third-party transcription of the pricing page (not verified
# against AWS's text); provisioned concurrency and SnapStart there are scaled by the same ratio, an estimate.
REGION_GB_SECOND: Mapping[str, tuple[float, float]] = {
    "af-south-1": (0.0000221000, 0.0000176800),
    "ap-east-1": (0.0000229200, 0.0000183000),
    "eu-south-1": (0.0000195172, 0.0000156138),
    "me-south-1": (0.0000206667, 0.0000165334),
    "me-central-1": (0.0000206667, 0.0000165334),
}

# Settings of the `[prices]` table that are not PriceTable fields.
MULTIPLIER_KEY = "multiplier"  # scales every price of the region's table (e.g. 0.83 for a savings plan)


def region_prices(region: str) -> PriceTable:
    """The price table of `region`: us-east-1's, with the region's compute premium where it has one."""
    region = region or US_EAST_1.region
    if region not in REGION_GB_SECOND:
        return replace(US_EAST_1, region=region)
    x86, arm = REGION_GB_SECOND[region]
    ratio = x86 / US_EAST_1.gb_second_x86_64
    return replace(
        US_EAST_1.scaled(ratio),
        region=region,
        gb_second_x86_64=x86,
        gb_second_arm64=arm,
        request_per_million=US_EAST_1.request_per_million,
        cloudwatch_metric_month=US_EAST_1.cloudwatch_metric_month,
        cloudwatch_alarm_month=US_EAST_1.cloudwatch_alarm_month,
        cloudwatch_dashboard_month=US_EAST_1.cloudwatch_dashboard_month,
        note=f"{region}: compute {ratio:.3f}× us-east-1; provisioned concurrency and SnapStart scaled alike",
    )


_FIELD_KINDS = {f.name: str(f.type) for f in fields(PriceTable)}
_OVERRIDABLE = tuple(name for name in _FIELD_KINDS if name not in ("region", "source", "note"))


def override_problem(key: str, value: Any) -> str | None:
    """Why `key = value` cannot be a `[prices]` setting, else None."""
    if key == MULTIPLIER_KEY:
        kind = "float"
    elif key in _OVERRIDABLE:
        kind = _FIELD_KINDS[key]
    else:
        return f"unknown price {key!r} (known: {', '.join((*_OVERRIDABLE, MULTIPLIER_KEY))})"
    if kind == "bool":
        return None if isinstance(value, bool) else f"{key} = {value!r} is not true or false"
    if kind == "str":
        return None if isinstance(value, str) else f"{key} = {value!r} is not text"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key} = {value!r} is not a number"
    if value < 0 or (key == MULTIPLIER_KEY and value == 0):
        return f"{key} = {value!r} is not a positive number"
    if kind == "int" and not float(value).is_integer():
        return f"{key} = {value!r} is not a whole number"
    return None


def prices_for(region: str, overrides: Mapping[str, Any] | None = None) -> PriceTable:
    """The price table of `region` with the config file's `[prices]` settings applied: `multiplier` scales
    every price first, then each named price replaces the table's. Raises ConfigError on a bad setting."""
    table = region_prices(region)
    if not overrides:
        return table
    for key, value in overrides.items():
        problem = override_problem(key, value)
        if problem is not None:
            raise ConfigError(
                f"prices: {problem}", "fix or remove the setting in the config file's prices table"
            )
    multiplier = overrides.get(MULTIPLIER_KEY)
    if multiplier is not None:
        table = table.scaled(float(multiplier))
    coerced: dict[str, Any] = {}
    for key, value in overrides.items():
        kind = _FIELD_KINDS.get(key)
        coerced[key] = int(value) if kind == "int" else float(value) if kind == "float" else value
    coerced.pop(MULTIPLIER_KEY, None)
    changed = ", ".join(sorted(overrides))
    return replace(
        table, **coerced, note="; ".join(filter(None, (table.note, f"config overrides: {changed}")))
    )
