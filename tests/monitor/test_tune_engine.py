"""The tuning engine on a scripted runner: Power Tuning's strategies, trimming, pricing, estimates without a
CPU quota, projections to an architecture not run, failed settings, and that the runner is always closed."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from sls_deploy.core.errors import ConfigError, InvocationError
from sls_deploy.core.prices import US_EAST_1
from sls_deploy.core.records import InvokeResult, Report
from sls_deploy.monitor.cost import cost_per_million
from sls_deploy.monitor.tune import ARCH_DURATION_FACTOR, _priced, choose, tune
from sls_deploy.monitor.tune_result import TuneRow

Durations = Callable[[int, int], float]  # (memory, invocation index in the setting) → ms


class ScriptedRunner:
    """A runner whose invocations report the durations a function gives them (no processes, no AWS)."""

    target = "local"

    def __init__(
        self,
        durations: Durations,
        cpu_scaled: bool = True,
        arch: str = "x86_64",
        failing: frozenset[int] = frozenset(),
        peak_mb: int = 90,
    ) -> None:
        self.durations, self.cpu_scaled, self.arch = durations, cpu_scaled, arch
        self.cpu = "scripted" if cpu_scaled else "CPU share not emulated: scripted"
        self.failing, self.peak_mb = failing, peak_mb
        self.memories: list[int] = []
        self.closed = False

    @contextmanager
    def setting(self, memory_mb: int) -> Iterator[object]:
        self.memories.append(memory_mb)
        calls = iter(range(10_000))
        runner = self

        class Invoker:
            qualifier = "1"

            def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult:
                index = next(calls)
                if memory_mb in runner.failing:
                    return InvokeResult(
                        name,
                        "1",
                        200,
                        b'{"errorType": "Runtime.OutOfMemory"}',
                        "Unhandled",
                        Report("r", 1.0, 1, memory_mb, memory_mb),
                    )
                duration = runner.durations(memory_mb, index)
                report = Report(
                    f"r{index}",
                    duration,
                    max(1, math.ceil(duration)),
                    memory_mb,
                    runner.peak_mb,
                    init_duration_ms=300.0 if index == 0 else None,
                )
                return InvokeResult(name, "1", 200, b"{}", None, report)

        yield Invoker()

    def close(self) -> None:
        self.closed = True


def cpu_bound(memory: int, index: int) -> float:
    """20 ms of work on one vCPU, slower in proportion below it (the first call is the cold one)."""
    return 20.0 * max(1.0, 1769 / memory)


def run(runner: ScriptedRunner, **options) -> object:
    settings = {"memories": [128, 512, 1769, 3008], "archs": ["x86_64"], "count": 5, "prices": US_EAST_1}
    return tune(runner, "digits", b"{}", **{**settings, **options})


def test_the_cost_strategy_picks_the_cheapest_and_marks_the_fastest() -> None:
    result = run(ScriptedRunner(cpu_bound))
    costs = {row.memory_mb: row.cost_total for row in result.rows}
    assert result.chosen.memory_mb == min(costs, key=costs.get)
    assert result.chosen.verdicts[:1] == ("cheapest",) and "chosen" in result.chosen.verdicts
    fastest = [row for row in result.rows if "fastest" in row.verdicts]
    assert [row.memory_mb for row in fastest] == [1769]  # as fast as 3008 and cheaper: the tie goes to cost


def test_the_speed_strategy_picks_the_fastest() -> None:
    result = run(ScriptedRunner(lambda memory, i: 100.0 - memory / 100), strategy="speed")
    assert result.chosen.memory_mb == 3008


def test_balanced_minimises_half_normalised_cost_plus_half_normalised_duration() -> None:
    rows = [
        TuneRow(
            128,
            "x86_64",
            "measured",
            mean_ms=100.0,
            cost=cost_per_million(US_EAST_1, arch="x86_64", memory_mb=128, billed_ms=100),
        ),
        TuneRow(
            512,
            "x86_64",
            "measured",
            mean_ms=30.0,
            cost=cost_per_million(US_EAST_1, arch="x86_64", memory_mb=512, billed_ms=30),
        ),
        TuneRow(
            3008,
            "x86_64",
            "measured",
            mean_ms=10.0,
            cost=cost_per_million(US_EAST_1, arch="x86_64", memory_mb=3008, billed_ms=10),
        ),
    ]
    max_cost = max(r.cost_total for r in rows)
    scores = {r.memory_mb: 0.5 * r.cost_total / max_cost + 0.5 * r.duration / 100.0 for r in rows}
    assert choose(rows, "balanced").memory_mb == min(scores, key=scores.get) == 512
    assert choose(rows, "balanced", weight=1.0).memory_mb == choose(rows, "cost").memory_mb
    assert choose(rows, "balanced", weight=0.0).memory_mb == choose(rows, "speed").memory_mb == 3008


def test_the_fastest_and_slowest_fifth_are_discarded_before_averaging_and_pricing() -> None:
    spiky = ScriptedRunner(lambda memory, i: {1: 500.0, 2: 1.0}.get(i, 10.0))  # index 0 is the cold start
    result = run(spiky, memories=[1024], count=10)
    row = result.rows[0]
    assert row.mean_ms == 10.0 and row.billed_mean_ms == 10.0 and row.p90_ms == 10.0
    assert row.cost == cost_per_million(
        US_EAST_1, arch="x86_64", memory_mb=1024, billed_ms=10.0, cold_start_rate=0.01, init_ms=300.0
    )
    assert row.init_ms == 300.0 and row.invocations == 10


def test_without_a_cpu_quota_one_unthrottled_run_is_scaled_and_labelled_estimated() -> None:
    runner = ScriptedRunner(lambda memory, i: 20.0, cpu_scaled=False, peak_mb=200)
    result = run(runner)
    assert runner.memories == [1769]  # measured once, at one vCPU's memory
    rows = {row.memory_mb: row for row in result.rows}
    assert rows[128].source == "failed" and "out of memory" in rows[128].note  # it used 200 MB
    assert rows[512].source == "estimated" and rows[512].p50_ms == pytest.approx(20.0 * 1769 / 512)
    assert rows[3008].p50_ms == 20.0 and rows[1769].p50_ms == 20.0
    assert "ESTIMATES" in result.notes[0]


def test_an_architecture_not_run_is_projected_at_its_own_price() -> None:
    result = run(ScriptedRunner(cpu_bound), archs=["x86_64", "arm64"])
    x86, arm = result.row(512, "x86_64"), result.row(512, "arm64")
    assert arm.source == "projected" and f"× {ARCH_DURATION_FACTOR:.2f}" in arm.note
    assert arm.mean_ms == x86.mean_ms * ARCH_DURATION_FACTOR
    assert arm.cost == cost_per_million(
        US_EAST_1,
        arch="arm64",
        memory_mb=512,
        billed_ms=arm.billed_mean_ms,
        cold_start_rate=0.01,
        init_ms=300.0,
    )
    assert result.chosen.arch == "arm64" and any("not measured" in note for note in result.notes)


def test_a_failing_setting_is_marked_and_the_others_still_compete() -> None:
    runner = ScriptedRunner(cpu_bound, failing=frozenset({128}))
    result = run(runner)
    failed = result.row(128, "x86_64")
    assert failed.source == "failed" and "Runtime.OutOfMemory" in failed.note and failed.cost is None
    assert result.chosen.memory_mb != 128 and runner.closed


def test_when_every_setting_fails_the_error_names_them_and_the_runner_is_closed() -> None:
    runner = ScriptedRunner(cpu_bound, failing=frozenset({128, 512}))
    with pytest.raises(InvocationError, match="failed at every setting") as info:
        run(runner, memories=[128, 512])
    assert "128 MB x86_64" in info.value.message and runner.closed


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"memories": [64]}, "outside Lambda's range"),
        ({"archs": ["sparc"]}, "unknown architecture"),
        ({"strategy": "cheap"}, "unknown strategy"),
        ({"count": 0}, "too few"),
    ],
)
def test_settings_lambda_refuses_are_config_errors_and_nothing_runs(options, match) -> None:
    runner = ScriptedRunner(cpu_bound)
    with pytest.raises(ConfigError, match=match):
        run(runner, **options)
    assert runner.memories == [] and runner.closed


def test_the_result_as_json_names_the_choice_and_every_row() -> None:
    data = run(ScriptedRunner(cpu_bound), archs=["x86_64", "arm64"]).to_json()
    assert data["chosen"] == {"memory_mb": data["chosen"]["memory_mb"], "arch": "arm64"}
    assert len(data["rows"]) == 8 and data["trimmed_fraction"] == 0.2
    assert set(data["rows"][0]) >= {
        "memory_mb",
        "arch",
        "source",
        "p50_ms",
        "p90_ms",
        "billed_mean_ms",
        "cost_per_million",
        "verdicts",
    }


def test_init_billed_for_the_cold_share_can_move_the_choice_to_a_larger_memory() -> None:
    """Warm work is tiny (1 ms everywhere) but INIT takes 5.3 s at 128 MB and 0.3 s at 1769 MB (CPU share):
    warm-only pricing picks 128 MB, a 5 % cold-start rate makes INIT dominate and picks the larger one."""
    warm_only = run(ScriptedRunner(lambda memory, i: 1.0), memories=[128, 1769], cold_start_rate=0.0)
    assert warm_only.chosen.memory_mb == 128
    init_ms = {128: 5300.0, 1769: 300.0}
    rows = [
        TuneRow(m, "x86_64", "measured", mean_ms=1.0, billed_mean_ms=1.0, init_ms=init_ms[m]) for m in init_ms
    ]
    priced = [_priced(row, US_EAST_1, 0.05) for row in rows]
    # 128 MB: 0.05 × 5.3 s × 0.125 GB = 0.033 GB-s per invocation; 1769 MB: 0.05 × 0.3 × 1.7275 = 0.026
    assert choose(priced, "cost").memory_mb == 1769
