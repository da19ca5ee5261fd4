"""Choosing among measured candidates: the smallest (zipped) that passes, ties within TIE decided by
speed — among the passing candidates whose 95 % interval shows the threshold, if any does (a pass the rows
cannot show loses to one they can); the original when none passes under `auto`; a named method that fails refused unless forced. And the
plain sentence for a pass its validation rows cannot show. Pure functions over reports."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.errors import CompressionError
from . import validation
from .policy import CompressionPolicy
from .report import CandidateReport

TIE = 0.02  # zipped sizes within 2 % of the smallest count as a tie, decided by latency


def _order_key(candidate: CandidateReport, smallest: int) -> tuple[int, float]:
    assert candidate.zipped_bytes is not None
    tied = candidate.zipped_bytes <= smallest * (1 + TIE)
    speed = candidate.latency.worst_ratio if candidate.latency else 1.0
    return (0, speed) if tied else (1, float(candidate.zipped_bytes))


def _pick(candidates: Sequence[CandidateReport]) -> CandidateReport | None:
    if not candidates:
        return None
    smallest = min(c.zipped_bytes or 0 for c in candidates)
    return min(candidates, key=lambda c: _order_key(c, smallest))


def _refusal(measured: Sequence[CandidateReport]) -> str:
    return "; ".join(f"{c.method}: {c.reason}" for c in measured)


def unshown_threshold(chosen: CandidateReport, threshold: float) -> str:
    """A plain sentence when the chosen candidate's agreement interval reaches below the threshold."""
    agreement = chosen.agreement
    if agreement is None or agreement.value is None or agreement.low is None:
        return ""
    if agreement.value < threshold or agreement.shows(threshold):  # failed outright, or shown
        return ""
    needed = (
        f" ({validation.rows_to_show(threshold)} rows that all agree would)"
        if agreement.metric == "top1" and threshold < 1
        else ""
    )
    return (
        f"{chosen.method}: {agreement.metric} {agreement.value:.4f} rests on {agreement.rows} validation rows "
        f"and its 95 % interval reaches down to {agreement.low:.4f}, below {threshold:.4f}: these rows cannot "
        f"show the threshold{needed}; give more --sample rows or --validation FILE"
    )


def choose(
    reports: Sequence[CandidateReport], baseline: CandidateReport, policy: CompressionPolicy
) -> tuple[CandidateReport, str]:
    candidates = [c for c in reports if c is not baseline]
    passed = [c for c in candidates if c.verdict == "passed"]
    shown = [c for c in passed if c.agreement and c.agreement.shows(policy.threshold(c.agreement.metric))]
    measured = [c for c in candidates if c.verdict in ("passed", "refused")]
    best = _pick(shown or passed)
    if best is not None:
        if (best.zipped_bytes or 0) >= (baseline.zipped_bytes or 0):
            return baseline, f"kept the original: no passing candidate is smaller ({best.method} is not)"
        return best, f"smallest candidate that passes the gate: {best.reason}"
    if policy.is_auto:
        why = _refusal(candidates) or "no candidate"
        return baseline, f"kept the original: no candidate passed the gate ({why})"
    forced = _pick(measured)
    if policy.force and forced is not None:
        return forced, f"forced although it fails the gate: {forced.reason}"
    details = _refusal(candidates)
    raise CompressionError(
        f"--compress {policy.spec}: no candidate passes the gate ({details})",
        "lower --min-agreement or raise --max-slowdown, try --compress auto to measure every method, "
        "or pass --force to deploy it anyway",
    )
