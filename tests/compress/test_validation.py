"""Validation rows are never calibration rows: the seeded split, the intervals the verdicts carry, and a
candidate overfit to its calibration rows that only the split catches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sls_deploy.compress import CompressionPolicy
from sls_deploy.compress.gate import Agreement, Latency, judge, measure_agreement
from sls_deploy.compress.validation import (
    MIN_SPLIT_ROWS,
    bootstrap_interval,
    rows_to_show,
    split_samples,
    wilson_interval,
)
from sls_deploy.model.samples import Samples
from sls_inference.signature import TensorSpec
from tests.support.compress_models import FEATURES, compress_file, embedder, feature_samples, save


def test_the_split_is_seeded_disjoint_and_covers_every_row():
    samples = feature_samples(rows=50)
    first, again = split_samples(samples, 0.3), split_samples(samples, 0.3)
    assert first.disjoint and (first.calibration.rows, first.validation.rows) == (35, 15)
    assert "35 calibration / 15 validation" in first.note
    for a, b in ((first.calibration, again.calibration), (first.validation, again.validation)):
        np.testing.assert_array_equal(a.arrays["input"], b.arrays["input"])
    rows = {r.tobytes() for part in (first.calibration, first.validation) for r in part.arrays["input"]}
    assert rows == {r.tobytes() for r in samples.arrays["input"]}  # every row once, none in both


def test_too_few_rows_or_no_row_axis_share_the_samples_and_say_so():
    few = split_samples(feature_samples(rows=2 * MIN_SPLIT_ROWS), 0.3)  # 6 held out < 10
    assert not few.disjoint and few.calibration is few.validation
    assert "only 20 sample rows" in few.note and "--validation FILE" in few.note
    state = Samples({"x": np.zeros((40, 3), np.float32), "h": np.zeros((2, 40, 8), np.float32)}, "s", 40)
    assert "no common row axis" in split_samples(state, 0.3).note


def test_held_out_inputs_validate_and_all_samples_calibrate():
    samples, held = feature_samples(rows=30), feature_samples(rows=12, seed=9)
    split = split_samples(samples, 0.3, held)
    assert split.calibration is samples and split.validation is held and split.disjoint
    assert "validated on 12 rows" in split.note


def test_wilson_intervals_match_the_textbook_values():
    low, high = wilson_interval(95, 100)
    assert (round(low, 4), round(high, 4)) == (0.8882, 0.9785)
    assert wilson_interval(10, 10) == pytest.approx((10 / (10 + 1.959963984540054**2), 1.0))
    assert wilson_interval(0, 10)[0] == 0.0


def test_rows_needed_to_show_a_top1_of_995_is_765_all_agreeing():
    assert rows_to_show(0.995) == 765
    assert wilson_interval(765, 765)[0] >= 0.995 > wilson_interval(764, 764)[0]
    assert rows_to_show(0.99) == 381


def test_the_bootstrap_interval_is_reproducible_and_brackets_the_mean():
    values = np.random.default_rng(3).uniform(0.9, 1.0, 40)
    low, high = bootstrap_interval(values)
    assert low < values.mean() < high and (low, high) == bootstrap_interval(values)
    assert bootstrap_interval(np.full(5, 0.99)) == pytest.approx((0.99, 0.99))


def test_agreement_carries_its_row_count_and_interval_and_a_pass_that_few_rows_cannot_show_says_so():
    label = TensorSpec("label", "int64", ("N",))
    ref, cand = np.arange(40) % 3, np.arange(40) % 3
    agreement = measure_agreement("top1", [label], [ref], [cand], rows=40)
    assert (agreement.value, agreement.rows) == (1.0, 40) and agreement.high == 1.0
    assert agreement.low == pytest.approx(40 / (40 + 1.959963984540054**2))
    passed, reason = judge(agreement, Latency(1.0, 1.0, 1.0), 0.995, 1.05)
    assert passed and "n=40" in reason and "too few rows to show 0.9950" in reason
    shown = Agreement("top1", 1.0, 0.0, 0.0, ("label",), 800, 0.9952, 1.0)
    assert "too few" not in judge(shown, Latency(1.0, 1.0, 1.0), 0.995, 1.05)[1]


def _overfit_samples() -> tuple[Samples, Samples]:
    """60 rows where the split's calibration rows are small (|x| ≤ 0.05) and its validation rows are not:
    int8-static calibrated on the former clips the latter. Also returns the calibration rows alone."""
    rng = np.random.default_rng(0)
    data = np.zeros((60, FEATURES), np.float32)
    probe = split_samples(Samples({"input": np.arange(60)[:, None]}, "probe", 60), 0.3)
    calibration_rows = probe.calibration.arrays["input"][:, 0]
    validation_rows = probe.validation.arrays["input"][:, 0]
    data[calibration_rows] = rng.uniform(-0.05, 0.05, (len(calibration_rows), FEATURES))
    data[validation_rows] = rng.uniform(-3, 3, (len(validation_rows), FEATURES))
    return Samples({"input": data}, "overfit.npz", 60), Samples(
        {"input": data[calibration_rows]}, "calibration-rows.npz", len(calibration_rows)
    )


def _int8_static(tmp_path, samples: Samples, held_out: Samples | None = None):
    tmp_path.mkdir(parents=True)
    path = save(embedder(), tmp_path / "model.onnx")
    policy = CompressionPolicy("int8-static", max_slowdown=100.0, force=True)
    return compress_file(path, samples, policy, tmp_path / "work", held_out).report


def test_a_candidate_overfit_to_its_calibration_rows_passes_on_them_and_is_caught_on_held_out_rows(tmp_path):
    samples, calibration_rows = _overfit_samples()
    judged_on_its_own = _int8_static(tmp_path / "a", calibration_rows, held_out=calibration_rows)
    (leaky,) = [c for c in judged_on_its_own.candidates if c.method.startswith("int8-static")]
    assert leaky.agreement is not None and leaky.agreement.value >= 0.995  # looks faithful on its own rows
    split = _int8_static(tmp_path / "b", samples)
    (honest,) = [c for c in split.candidates if c.method.startswith("int8-static")]
    assert split.rows == 18 and split.calibration_rows == 42
    assert honest.agreement is not None and honest.agreement.rows == 18
    assert honest.agreement.value < 0.995 and honest.verdict == "chosen" and split.forced  # --force kept it
    assert "< 0.9950" in honest.reason and "n=18" in honest.reason
    assert not split.warnings  # a candidate that fails outright is not "too few rows to show" it
    record = json.loads(json.dumps(split.to_manifest()))
    assert record["calibration_rows"] == 42 and "42 calibration / 18 validation" in record["split"]
