"""Power tuning: which memory size and architecture serve a function cheapest, fastest, or balanced — the
method of AWS Lambda Power Tuning (github.com/alexcasalboni/aws-lambda-power-tuning), run by sls-deploy.

For each memory size a runner (TuneRunner) provides the deployed `live` version at that MemorySize in a fresh
execution environment: one cold invocation gives the INIT duration, then `count` warm invocations give
durations and billed durations from their REPORT lines (measure.py). The fastest and slowest 20 % are
discarded and the rest averaged (Power Tuning's discardTopBottom); the cost per million invocations is
monitor.cost's at that memory and architecture for that average billed duration, plus the measured INIT
duration billed for `cold_start_rate` of the invocations (Lambda bills INIT of zip functions since Aug 2025;
a small model at 128 MB can spend seconds there). A strategy picks one setting:
- cost: the cheapest (ties: the faster);
- speed: the fastest (ties: the cheaper);
- balanced: the smallest weight × cost / max cost + (1 − weight) × duration / max duration, weight 0.5 —
  Power Tuning's analyzer.js formula.

Figures that were not measured say so in their `source`:
- estimated: the runner cannot hold a worker to a memory size's CPU share here (no writable cgroup). The
  function ran once without a quota at REFERENCE_MEMORY_MB (one vCPU's worth of memory: it has a full core),
  and each memory size's durations are that run's scaled by 1 / its CPU share below one vCPU, unchanged
  above (a single request gains little from more cores); memory sizes below the reference run's peak
  memory are marked failed (they would run out of memory).
- projected: an architecture the runner cannot run (arm64 on an x86_64 machine; on aws any architecture
  but the deployed one, which would need layers built for it) — the run architecture's figures with
  durations × ARCH_DURATION_FACTOR, priced at the projected architecture's price.

The result (TuneResult, one TuneRow per setting) and its JSON are in tune_result.py.

Side effects: invocations through the runner, which creates (and removes) what it needs to run them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Protocol

from ..core import limits
from ..core.errors import ConfigError, InvocationError
from ..core.prices import PriceTable
from ..core.progress import Progress
from ..core.stats import percentile
from .cost import cost_per_million
from .estimate import ASSUMED_COLD_START_RATE, scaled_ms
from .measure import TRIM_FRACTION, Invoker, Measurement, measure_invocations
from .tune_result import TuneResult, TuneRow

STRATEGIES = ("cost", "speed", "balanced")
BALANCED_WEIGHT = 0.5  # Power Tuning's default balancedWeight: cost and duration count alike
DEFAULT_MEMORIES = (128, 256, 512, 1024, 1769, 3008)
DEFAULT_COUNT = 20
REFERENCE_MEMORY_MB = limits.MEMORY_MB_PER_VCPU  # estimates: one full vCPU, what an unthrottled worker gets
# Duration on the projected architecture ÷ duration on the measured one. 1.0: the same duration is assumed,
# so a projected arm64 setting differs only by arm64's lower GB-second price. No published measurement of
# onnxruntime on Lambda's Graviton2 against its x86_64 was found; the nearest ones point both ways (a numpy
# benchmark measured x86_64 ~16 % faster at 512 MB and above, 36–99 % faster below:
# https://www.amanox.ch/de/awslambda/; AWS advertises up to 19 % better performance on arm64:
# https://aws.amazon.com/blogs/apn/comparing-aws-lambda-arm-vs-x86-performance-cost-and-analysis-2/).
# Measure on the architecture itself (an arm64 build on the aws target) before relying on a projection.
ARCH_DURATION_FACTOR = 1.0


class Trial(Invoker, Protocol):
    """One setting ready to be invoked: `invoke(name, payload, qualifier)` with its `qualifier` runs it."""

    qualifier: str


class TuneRunner(Protocol):
    """Runs a deployed function at other memory sizes without changing what serves its traffic."""

    target: str  # "local" | "aws"
    arch: str  # the architecture it runs the function on
    cpu_scaled: bool  # True: each memory size runs with its own CPU share (else the engine estimates)
    cpu: str  # how the CPU share is given, or why it is not

    def setting(self, memory_mb: int) -> AbstractContextManager[Trial]:
        """A fresh execution environment of the function at `memory_mb` (its first invocation is cold)."""
        ...

    def close(self) -> None:
        """Remove everything the runner created and restore what it changed (always called)."""
        ...


@dataclass(frozen=True)
class _Run:
    """What one setting produced: its warm invocations and its cold start's INIT duration."""

    warm: Measurement
    init_ms: float | None
    max_memory_mb: int


def check_request(memories: Sequence[int], archs: Sequence[str], count: int, strategy: str) -> None:
    """ConfigError for settings Lambda (or the tuner) does not take."""
    if not memories:
        raise ConfigError("no memory sizes to try", "give some, e.g. --memory 128,512,1024,1769")
    for memory in memories:
        if not limits.MIN_MEMORY_MB <= memory <= limits.MAX_MEMORY_MB:
            raise ConfigError(
                f"memory {memory} MB is outside Lambda's range",
                f"choose sizes of {limits.MIN_MEMORY_MB}–{limits.MAX_MEMORY_MB} MB",
            )
    if not archs:
        raise ConfigError("no architecture to try", "give x86_64, arm64 or both: --arch x86_64,arm64")
    for arch in archs:
        if arch not in limits.SUPPORTED_ARCHITECTURES:
            raise ConfigError(
                f"unknown architecture {arch!r}", f"use {', '.join(limits.SUPPORTED_ARCHITECTURES)}"
            )
    if count < 1:
        raise ConfigError(f"{count} invocations per setting are too few", "give -n 5 or more (default 20)")
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}", f"use one of {', '.join(STRATEGIES)}")


def tune(
    runner: TuneRunner,
    name: str,
    payload: bytes,
    *,
    prices: PriceTable,
    memories: Sequence[int] = DEFAULT_MEMORIES,
    archs: Sequence[str] = limits.SUPPORTED_ARCHITECTURES,
    count: int = DEFAULT_COUNT,
    strategy: str = "cost",
    weight: float = BALANCED_WEIGHT,
    progress: Progress | None = None,
    cold_start_rate: float = ASSUMED_COLD_START_RATE,
) -> TuneResult:
    """Measure (or estimate) every memory size on the runner's architecture, project the other
    architectures, price each setting — its warm invocations, and its measured INIT duration billed for
    `cold_start_rate` of them (Lambda bills INIT of zip functions) — and choose one. The runner is closed (its temporary resources
    removed) whatever happens, Ctrl-C included."""
    memories = sorted(set(memories))
    archs = list(dict.fromkeys(archs))
    step = progress or (lambda _: None)
    notes: list[str] = []
    try:
        check_request(memories, archs, count, strategy)
        if runner.cpu_scaled:
            base = [_measured_row(runner, name, payload, m, count, step) for m in memories]
        else:
            notes.append(f"durations are ESTIMATES: {runner.cpu}")
            base = _estimated_rows(runner, name, payload, memories, count, step)
    finally:
        runner.close()
    rows: list[TuneRow] = []
    for arch in archs:
        if arch == runner.arch:
            rows.extend(base)
        else:
            rows.extend(_projected(row, arch) for row in base)
            notes.append(
                f"{arch} is not run on the {runner.target} target here: its figures are projected from "
                f"{runner.arch} × {ARCH_DURATION_FACTOR:.2f} duration (monitor/tune.py ARCH_DURATION_FACTOR)"
            )
    rows = [_priced(row, prices, cold_start_rate) for row in rows]
    usable = [row for row in rows if row.ok]
    if not usable:
        reasons = "; ".join(f"{row.label}: {row.note}" for row in rows)
        raise InvocationError(
            f"{name} failed at every setting tried: {reasons}",
            "try larger memory sizes, or check the request with `sls-deploy invoke`",
        )
    chosen = choose(usable, strategy, weight)
    rows = _with_verdicts(rows, usable, chosen)
    chosen_row = next(row for row in rows if (row.memory_mb, row.arch) == (chosen.memory_mb, chosen.arch))
    if chosen_row.source != "measured":
        notes.append(
            f"the chosen setting ({chosen_row.label}) is {chosen_row.source}, not measured: confirm it by "
            "measuring there before relying on it"
        )
    return TuneResult(
        target=runner.target,
        name=name,
        strategy=strategy,
        balanced_weight=weight,
        count=count,
        payload_bytes=len(payload),
        rows=tuple(rows),
        chosen=chosen_row,
        run_arch=runner.arch,
        cpu=runner.cpu,
        prices=f"{prices.region} ({prices.taken}){'; ' + prices.note if prices.note else ''}",
        cold_start_rate=cold_start_rate,
        notes=tuple(notes),
    )


def choose(rows: Sequence[TuneRow], strategy: str, weight: float = BALANCED_WEIGHT) -> TuneRow:
    """The row a strategy picks (Power Tuning's findCheapest / findFastest / findBalanced)."""
    if strategy == "cost":
        return min(rows, key=lambda r: (r.cost_total, r.duration))
    if strategy == "speed":
        return min(rows, key=lambda r: (r.duration, r.cost_total))
    if strategy == "balanced":
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"balanced weight {weight} is not between 0 and 1", "give e.g. 0.5")
        max_cost = max(r.cost_total for r in rows) or 1.0
        max_duration = max(r.duration for r in rows) or 1.0
        return min(
            rows,
            key=lambda r: weight * r.cost_total / max_cost + (1.0 - weight) * r.duration / max_duration,
        )
    raise ConfigError(f"unknown strategy {strategy!r}", f"use one of {', '.join(STRATEGIES)}")


# -- measuring ---------------------------------------------------------------------------------------------


def _counting(step: Progress, label: str, count: int) -> Progress:
    """A progress callback for measure_invocations that says "<label>: i/count"."""
    calls = iter(range(1, count + 1))
    return lambda _text: step(f"{label}: {next(calls, count)}/{count}")


def _run(
    runner: TuneRunner, name: str, payload: bytes, memory_mb: int, count: int, label: str, step: Progress
) -> _Run:
    with runner.setting(memory_mb) as trial:
        step(f"{label}: cold start")
        cold = measure_invocations(trial, name, payload, 1, trial.qualifier)
        warm = measure_invocations(
            trial, name, payload, count, trial.qualifier, _counting(step, label, count)
        )
    return _Run(
        warm=warm,
        init_ms=cold.init_ms[0] if cold.init_ms else None,
        max_memory_mb=max(cold.max_memory_mb, warm.max_memory_mb),
    )


def _measured_row(
    runner: TuneRunner,
    name: str,
    payload: bytes,
    memory_mb: int,
    count: int,
    step: Progress,
) -> TuneRow:
    label = f"{memory_mb} MB {runner.arch}"
    try:
        run = _run(runner, name, payload, memory_mb, count, label, step)
    except InvocationError as exc:  # this setting fails (out of memory, timeout); the others may not
        return TuneRow(memory_mb, runner.arch, "failed", note=exc.message)
    return _row(memory_mb, runner.arch, "measured", run, "")


def _estimated_rows(
    runner: TuneRunner,
    name: str,
    payload: bytes,
    memories: Sequence[int],
    count: int,
    step: Progress,
) -> list[TuneRow]:
    reference = REFERENCE_MEMORY_MB
    label = f"{reference} MB {runner.arch} without a CPU quota (reference for estimates)"
    run = _run(runner, name, payload, reference, count, label, step)
    rows = []
    for memory in memories:
        if run.max_memory_mb > memory:
            rows.append(
                TuneRow(
                    memory,
                    runner.arch,
                    "failed",
                    max_memory_mb=run.max_memory_mb,
                    note=f"estimated out of memory: it used {run.max_memory_mb} MB at {reference} MB",
                )
            )
            continue
        factor = scaled_ms(1.0, reference, memory)  # 1769 / memory below one vCPU, 1.0 above
        note = (
            f"estimated: measured at {reference} MB without a CPU quota, durations × {factor:.2f} "
            f"(1 / the CPU share of {memory} MB)"
        )
        rows.append(_row(memory, runner.arch, "estimated", _scaled(run, factor), note))
    return rows


def _scaled(run: _Run, factor: float) -> _Run:
    """A run's figures with every duration × factor; billed durations rounded up to 1 ms as Lambda does."""
    durations = tuple(d * factor for d in run.warm.durations_ms)
    return replace(
        run,
        warm=replace(
            run.warm,
            durations_ms=durations,
            billed_ms=tuple(max(1, math.ceil(d)) for d in durations),
            init_ms=tuple(i * factor for i in run.warm.init_ms),
        ),
        init_ms=None if run.init_ms is None else run.init_ms * factor,
    )


def _row(memory_mb: int, arch: str, source: str, run: _Run, note: str) -> TuneRow:
    warm = run.warm
    trimmed = warm.trimmed(TRIM_FRACTION)
    return TuneRow(
        memory_mb=memory_mb,
        arch=arch,
        source=source,
        mean_ms=trimmed.mean_ms,
        p50_ms=warm.p50_ms,
        p90_ms=warm.p90_ms,
        billed_p50_ms=float(percentile(sorted(warm.billed_ms), 50)),
        billed_mean_ms=trimmed.mean_billed_ms,
        init_ms=run.init_ms,
        max_memory_mb=run.max_memory_mb,
        invocations=warm.count,
        cost=None,  # priced once every row is known (_priced)
        note=note,
    )


def _priced(row: TuneRow, prices: PriceTable, cold_start_rate: float) -> TuneRow:
    """`row` with its cost per million: warm billed duration, plus INIT for the share that starts cold."""
    if not row.ok or row.billed_mean_ms is None:
        return row
    cost = cost_per_million(
        prices,
        arch=row.arch,
        memory_mb=row.memory_mb,
        billed_ms=row.billed_mean_ms,
        cold_start_rate=cold_start_rate if row.init_ms is not None else 0.0,
        init_ms=row.init_ms or 0.0,
    )
    return replace(row, cost=cost)


def _projected(row: TuneRow, arch: str) -> TuneRow:
    """`row` on another architecture: durations × ARCH_DURATION_FACTOR, that architecture's price."""
    origin = f"{row.source} " if row.source != "measured" else ""
    note = f"projected from {origin}{row.arch} × {ARCH_DURATION_FACTOR:.2f} duration"
    if not row.ok:
        return replace(row, arch=arch, note=f"{note}; {row.note}")
    factor = ARCH_DURATION_FACTOR

    def times(value: float | None) -> float | None:
        return None if value is None else value * factor

    billed_mean = (row.billed_mean_ms or 0.0) * factor
    return replace(
        row,
        arch=arch,
        source="projected",
        mean_ms=times(row.mean_ms),
        p50_ms=times(row.p50_ms),
        p90_ms=times(row.p90_ms),
        billed_p50_ms=None if row.billed_p50_ms is None else float(math.ceil(row.billed_p50_ms * factor)),
        billed_mean_ms=billed_mean,
        init_ms=times(row.init_ms),
        cost=None,
        note=note,
    )


def _with_verdicts(rows: Iterable[TuneRow], usable: Sequence[TuneRow], chosen: TuneRow) -> list[TuneRow]:
    cheapest = choose(usable, "cost")
    fastest = choose(usable, "speed")
    marked = []
    for row in rows:
        key = (row.memory_mb, row.arch)
        verdicts = tuple(
            verdict
            for verdict, winner in (("cheapest", cheapest), ("fastest", fastest), ("chosen", chosen))
            if key == (winner.memory_mb, winner.arch)
        )
        marked.append(replace(row, verdicts=verdicts))
    return marked
