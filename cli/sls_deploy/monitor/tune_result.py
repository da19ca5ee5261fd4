"""The result of power tuning (monitor/tune.py): one row per memory size × architecture with its figures,
where they came from and its cost, and every row with the one the strategy chose. Their JSON is what
`sls-deploy tune --json` prints and the chart's data file (monitor/chart.py) holds. Pure records: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .cost import CostBreakdown
from .measure import TRIM_FRACTION


@dataclass(frozen=True)
class TuneRow:
    """One memory size × architecture. Durations in ms; cost in USD per million invocations (warm billed
    duration, plus INIT for the tune's cold-start rate)."""

    memory_mb: int
    arch: str
    source: str  # measured | estimated | projected | failed
    mean_ms: float | None = None  # the trimmed average duration: what the strategies compare
    p50_ms: float | None = None
    p90_ms: float | None = None
    billed_p50_ms: float | None = None
    billed_mean_ms: float | None = None  # the trimmed average billed duration: what the cost is of
    init_ms: float | None = None  # the cold start's INIT duration
    max_memory_mb: int = 0
    invocations: int = 0  # warm invocations behind the figures (of the measured setting they come from)
    cost: CostBreakdown | None = None
    note: str = ""  # how an estimate or projection was made, or why the setting failed
    verdicts: tuple[str, ...] = ()  # "cheapest", "fastest", "chosen"

    @property
    def ok(self) -> bool:
        return self.source != "failed"

    @property
    def cost_total(self) -> float:
        return self.cost.total if self.cost is not None else math.inf

    @property
    def duration(self) -> float:
        return self.mean_ms if self.mean_ms is not None else math.inf

    @property
    def label(self) -> str:
        return f"{self.memory_mb} MB {self.arch}"

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "memory_mb": self.memory_mb,
            "arch": self.arch,
            "source": self.source,
            "mean_ms": rounded(self.mean_ms),
            "p50_ms": rounded(self.p50_ms),
            "p90_ms": rounded(self.p90_ms),
            "billed_p50_ms": rounded(self.billed_p50_ms),
            "billed_mean_ms": rounded(self.billed_mean_ms),
            "init_ms": rounded(self.init_ms),
            "max_memory_mb": self.max_memory_mb,
            "invocations": self.invocations,
            "cost_per_million": None if self.cost is None else self.cost.to_json(),
            "note": self.note,
            "verdicts": list(self.verdicts),
        }


@dataclass(frozen=True)
class TuneResult:
    """Every setting tried and the one the strategy chose."""

    target: str
    name: str
    strategy: str
    balanced_weight: float
    count: int  # warm invocations per measured setting
    payload_bytes: int
    rows: tuple[TuneRow, ...]
    chosen: TuneRow
    run_arch: str  # the architecture the runner ran
    cpu: str  # how each setting got its CPU share (or why it did not)
    prices: str  # which price table
    cold_start_rate: float = 0.0  # the share of invocations whose INIT the costs include
    notes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # charts and data written for it
    applied: str = ""  # the config file the choice was written to (--apply)

    def row(self, memory_mb: int, arch: str) -> TuneRow | None:
        return next((r for r in self.rows if (r.memory_mb, r.arch) == (memory_mb, arch)), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "name": self.name,
            "strategy": self.strategy,
            "balanced_weight": self.balanced_weight,
            "count": self.count,
            "trimmed_fraction": TRIM_FRACTION,
            "payload_bytes": self.payload_bytes,
            "run_arch": self.run_arch,
            "cpu": self.cpu,
            "prices": self.prices,
            "cold_start_rate": self.cold_start_rate,
            "chosen": {"memory_mb": self.chosen.memory_mb, "arch": self.chosen.arch},
            "rows": [row.to_json() for row in self.rows],
            "notes": list(self.notes),
            "files": list(self.files),
            "applied": self.applied,
        }
