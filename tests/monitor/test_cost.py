"""Cost arithmetic against cases worked by hand (us-east-1 prices of monitor/prices.py), and the price table's
overrides from the config file."""

from __future__ import annotations

import json

import pytest

from sls_deploy.core.config import load_config
from sls_deploy.core.errors import ConfigError
from sls_deploy.core.prices import US_EAST_1, prices_for
from sls_deploy.monitor.cost import (
    HANDLER_DIMENSION_SETS,
    HANDLER_METRICS,
    billed_gb_seconds,
    break_even,
    cost_per_million,
    monthly_cost,
)
from tests.support.inference_support import DIGITS_REQUEST, FakeContext, digits_dir, make_app

P = US_EAST_1


def test_a_gb_second_is_memory_over_1024_times_billed_seconds():
    assert billed_gb_seconds(1024, 100) == pytest.approx(0.1)
    assert billed_gb_seconds(512, 1000) == pytest.approx(0.5)


def test_one_x86_invocation_of_100_ms_at_1024_mb():
    # 1 GB × 0.1 s = 0.1 GB-s × $0.0000166667 = $0.00000166667; + $0.20 / 1e6 = $0.0000002
    cost = cost_per_million(P, arch="x86_64", memory_mb=1024, billed_ms=100).total / 1e6
    assert cost == pytest.approx(0.00000186667)


def test_a_million_x86_invocations_of_100_ms_at_1024_mb():
    # compute 1e6 × 0.1 GB-s × 0.0000166667 = $1.66667; requests $0.20; no cold starts → total $1.86667
    breakdown = cost_per_million(P, arch="x86_64", memory_mb=1024, billed_ms=100)
    assert breakdown.compute == pytest.approx(1.66667)
    assert breakdown.requests == pytest.approx(0.20)
    assert breakdown.init == 0.0
    assert breakdown.total == pytest.approx(1.86667)


def test_arm64_compute_costs_20_percent_less_than_x86_64():
    # 1e6 × 0.1 GB-s × 0.0000133334 = $1.33334 = 0.8 × $1.66667; the request price is the same
    x86 = cost_per_million(P, arch="x86_64", memory_mb=1024, billed_ms=100)
    arm = cost_per_million(P, arch="arm64", memory_mb=1024, billed_ms=100)
    assert arm.compute == pytest.approx(1.33334)
    assert arm.compute / x86.compute == pytest.approx(0.8, rel=1e-4)
    assert arm.requests == x86.requests


def test_the_init_phase_of_cold_starts_is_billed_as_duration():
    # 10 % of 1e6 = 100,000 cold starts × (1 GB × 0.4 s) = 40,000 GB-s × 0.0000166667 = $0.666668
    breakdown = cost_per_million(
        P, arch="x86_64", memory_mb=1024, billed_ms=100, cold_start_rate=0.1, init_ms=400
    )
    assert breakdown.init == pytest.approx(0.666668)
    assert breakdown.total == pytest.approx(1.66667 + 0.20 + 0.666668)


def test_a_price_table_without_init_billing_leaves_the_init_phase_free():
    unbilled = prices_for("us-east-1", {"init_billed": False})
    breakdown = cost_per_million(
        unbilled, arch="x86_64", memory_mb=1024, billed_ms=100, cold_start_rate=0.1, init_ms=400
    )
    assert breakdown.init == 0.0


def test_a_month_of_on_demand_requests_splits_into_compute_requests_init_and_metrics():
    # 10M × 0.5 GB × 0.05 s = 250,000 GB-s × 0.0000166667 = $4.166675
    # requests 10 × $0.20 = $2.00
    # init: 1 % = 100,000 cold starts × 0.5 GB × 0.3 s = 15,000 GB-s × 0.0000166667 = $0.2500005
    # metrics: 6 custom metrics × $0.30 = $1.80 (fixed)
    month = monthly_cost(
        P,
        arch="x86_64",
        memory_mb=512,
        billed_ms=50,
        requests_per_month=10_000_000,
        cold_start_rate=0.01,
        init_ms=300,
        custom_metrics=6,
    )
    assert month.compute == pytest.approx(4.166675)
    assert month.requests == pytest.approx(2.0)
    assert month.init == pytest.approx(0.2500005)
    assert month.metrics == pytest.approx(1.80)
    assert month.total == pytest.approx(8.2166755)
    assert month.fixed == pytest.approx(1.80)
    assert month.per_million == pytest.approx(8.2166755 / 10)
    assert month.per_request == pytest.approx((8.2166755 - 1.80) / 10_000_000)


def test_the_handler_metrics_are_counted_once_per_name_and_dimension_set():
    month = monthly_cost(P, arch="x86_64", memory_mb=128, billed_ms=1, requests_per_month=0)
    assert month.metrics == pytest.approx(len(HANDLER_METRICS) * len(HANDLER_DIMENSION_SETS) * 0.30)
    assert month.per_million == 0.0


def test_provisioned_concurrency_bills_idle_capacity_and_a_lower_duration_price():
    # idle: 2 × 1 GB × 730 h × 3600 s = 5,256,000 GB-s × 0.0000041667 = $21.9001752
    # 10M requests × 0.1 s need 0.38 concurrent on average < 2: all served at the provisioned duration price,
    # 1,000,000 GB-s × 0.0000097222 = $9.7222; no on-demand compute, no INIT billed
    month = monthly_cost(
        P,
        arch="x86_64",
        memory_mb=1024,
        billed_ms=100,
        requests_per_month=10_000_000,
        cold_start_rate=0.1,
        init_ms=400,
        custom_metrics=0,
        provisioned=2,
    )
    assert month.provisioned == pytest.approx(21.9001752 + 9.7222)
    assert month.compute == 0.0 and month.init == 0.0
    assert month.requests == pytest.approx(2.0)
    assert month.fixed == pytest.approx(21.9001752)


def test_requests_beyond_provisioned_capacity_run_on_demand():
    # one environment busy all month serves 2,628,000 s / 0.1 s = 26,280,000 requests; the other
    # 73,720,000 × 0.1 GB-s = 7,372,000 GB-s × 0.0000166667 = $122.86691 on demand
    month = monthly_cost(
        P,
        arch="x86_64",
        memory_mb=1024,
        billed_ms=100,
        requests_per_month=100_000_000,
        custom_metrics=0,
        provisioned=1,
    )
    assert month.compute == pytest.approx(122.86691)
    assert month.provisioned == pytest.approx(2_628_000 * 0.0000041667 + 2_628_000 * 0.0000097222)
    assert any("run on demand" in note for note in month.notes)


def test_snapstart_bills_cached_versions_and_restores_instead_of_init():
    # cache: 2 versions × 2 GB × 2,628,000 s = 10,512,000 GB-s × 0.0000015046 = $15.8163552
    # restores: 5 % of 1M = 50,000 × 2 GB × $0.0001397998 = $13.97998; the 2 s INIT is not billed
    # compute: 1M × 2 GB × 0.1 s = 200,000 GB-s × 0.0000166667 = $3.33334
    month = monthly_cost(
        P,
        arch="x86_64",
        memory_mb=2048,
        billed_ms=100,
        requests_per_month=1_000_000,
        cold_start_rate=0.05,
        init_ms=2000,
        custom_metrics=0,
        snapstart=True,
        snapstart_versions=2,
    )
    assert month.snapstart == pytest.approx(15.8163552 + 13.97998)
    assert month.init == 0.0
    assert month.compute == pytest.approx(3.33334)
    assert month.fixed == pytest.approx(15.8163552)


def test_alarms_cost_per_month_and_dashboards_beyond_three_are_billed():
    # 4 alarms × $0.10 + (5 − 3 free) dashboards × $3 = $6.40
    month = monthly_cost(
        P,
        arch="x86_64",
        memory_mb=128,
        billed_ms=1,
        requests_per_month=0,
        custom_metrics=0,
        alarms=4,
        dashboards=5,
    )
    assert month.alarms == pytest.approx(6.40)


def test_break_even_against_an_always_on_server():
    # server: $0.0416/h × 730 h = $30.368; (30.368 − 1.80) / $0.00000186667 = 15,304,258 req/month
    # = 15,304,258 / 2,628,000 s = 5.8235 req/s
    point = break_even(0.00000186667, 1.80, 0.0416)
    assert point.server_monthly == pytest.approx(30.368)
    assert point.requests_per_month == pytest.approx(15_304_258, rel=1e-6)
    assert point.requests_per_second == pytest.approx(5.8235, rel=1e-4)
    assert point.summary().startswith("Lambda is cheaper below 15,304,2")


def test_break_even_is_zero_when_fixed_costs_alone_exceed_the_server():
    point = break_even(0.000001, 40.0, 0.05)  # server $36.50 < $40 fixed
    assert point.requests_per_month == 0.0
    assert "cheaper at any volume" in point.summary()


def test_a_region_with_a_premium_has_its_own_compute_price():
    table = prices_for("af-south-1")
    assert (table.gb_second("x86_64"), table.gb_second("arm64")) == (0.0000221, 0.00001768)
    assert table.request_per_million == P.request_per_million
    assert prices_for("eu-west-1").gb_second("x86_64") == P.gb_second("x86_64")


def test_prices_from_the_config_file_replace_the_table(tmp_path):
    (tmp_path / "sls-deploy.toml").write_text("[prices]\nmultiplier = 0.5\ngb-second-arm64 = 0.00001\n")
    config = load_config(tmp_path, environ={})
    table = prices_for(config.emulated_region, config.prices)
    # the multiplier halves every price; the named price then replaces its own
    assert table.gb_second("x86_64") == pytest.approx(0.0000166667 / 2)
    assert table.gb_second("arm64") == 0.00001
    assert table.request_per_million == pytest.approx(0.10)
    assert "config overrides" in table.note


def test_prices_in_pyproject_are_a_sub_table_of_the_tool_table(tmp_path):
    toml = "[tool.sls-deploy]\nmemory = 512\n[tool.sls-deploy.prices]\nrequest_per_million = 0.25\n"
    (tmp_path / "pyproject.toml").write_text(toml)
    config = load_config(tmp_path, environ={})
    assert prices_for("us-east-1", config.prices).request_per_million == 0.25


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("gb_second_sparc = 0.1", "unknown price 'gb_second_sparc'"),
        ('request_per_million = "cheap"', "is not a number"),
        ("request_per_million = -1", "is not a positive number"),
        ("init_billed = 1", "is not true or false"),
    ],
)
def test_a_bad_price_in_the_config_file_is_a_config_error_naming_it(tmp_path, line, words):
    (tmp_path / "sls-deploy.toml").write_text(f"[prices]\n{line}\n")
    with pytest.raises(ConfigError, match="prices") as info:
        load_config(tmp_path, environ={})
    assert words in info.value.message and "sls-deploy.toml" in info.value.message


def test_prices_must_be_a_table(tmp_path):
    (tmp_path / "sls-deploy.toml").write_text("prices = 3\n")
    with pytest.raises(ConfigError, match="is not a table"):
        load_config(tmp_path, environ={})


def test_every_metric_the_handler_emits_is_counted(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    app = make_app(digits_dir(tmp_path), function_name="digits-fn")
    for _ in range(2):
        app.handle(DIGITS_REQUEST, FakeContext())
    emitted = set()
    for text in capsys.readouterr().out.splitlines():
        line = json.loads(text) if text.startswith("{") else {}
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimensions in directive["Dimensions"]:
                emitted |= {(m["Name"], frozenset(dimensions)) for m in directive["Metrics"]}
    counted = {(name, frozenset(dims)) for name in HANDLER_METRICS for dims in HANDLER_DIMENSION_SETS}
    assert {name for name, _ in emitted} >= {"InferenceLatency", "ColdStart"}
    assert emitted <= counted
