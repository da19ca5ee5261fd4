"""Choosing among measured candidates: smallest passing, ties by speed, and a pass the validation rows show
beats one they cannot show."""

from __future__ import annotations

from sls_deploy.compress import CompressionPolicy
from sls_deploy.compress.choice import choose
from sls_deploy.compress.gate import Agreement, Latency
from sls_deploy.compress.report import CandidateReport


def _candidate(method, zipped, value, low, ratio=0.9, verdict="passed"):
    agreement = Agreement("top1", value, 0.0, 0.0, ("label",), rows=997, low=low, high=1.0)
    return CandidateReport(
        method, verdict, "measured", 1000, zipped, agreement, Latency(1.0, 1.0, ratio), 1.0
    )


BASELINE = _candidate("none", 4000, 1.0, 0.996, 1.0, "baseline")


def test_the_smallest_passing_candidate_wins_and_ties_go_to_the_faster():
    small = _candidate("a", 1000, 0.999, 0.996, ratio=0.95)
    tied_faster = _candidate("b", 1010, 0.999, 0.996, ratio=0.6)
    larger = _candidate("c", 1200, 1.0, 0.997, ratio=0.3)
    chosen, reason = choose([BASELINE, small, tied_faster, larger], BASELINE, CompressionPolicy("auto"))
    assert chosen is tied_faster and reason.startswith("smallest candidate that passes")


def test_a_pass_the_rows_show_beats_a_smaller_one_they_cannot_show():
    unshown = _candidate("int8-static:tensor", 1000, 0.997, 0.9912, ratio=0.76)
    shown = _candidate("int8-dynamic:tensor", 1050, 1.0, 0.9962, ratio=0.81)
    chosen, _ = choose([BASELINE, unshown, shown], BASELINE, CompressionPolicy("auto"))
    assert chosen is shown
    alone, _ = choose([BASELINE, unshown], BASELINE, CompressionPolicy("auto"))
    assert alone is unshown  # still chosen when no candidate can show the threshold
