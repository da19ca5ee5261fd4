"""Drift accounting in the function: PSI, binning, the monitor's windows, and the handler that must never fail a
request because of it."""

from __future__ import annotations

import bisect
import json
import math

import numpy as np
import pytest

from sls_inference.drift import (
    BASELINE_NAME,
    Bins,
    DriftMonitor,
    PredictionValues,
    psi,
    psi_verdict,
)
from sls_inference.loader import load_model
from tests.support.drift_support import (
    DIGITS_SAMPLES,
    digits_model_dir,
    image_model,
    image_samples,
    model_dir,
)
from tests.support.inference_support import FakeContext, logs, make_app, sqs_event


def rows(start: int, count: int) -> dict:
    return {"instances": DIGITS_SAMPLES[start : start + count].tolist()}


def emf_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return digits_model_dir(tmp_path_factory.mktemp("digits"), every=20, seconds=60)


def monitor_of(layer, **kwargs) -> DriftMonitor:
    baseline = json.loads((layer / BASELINE_NAME).read_text())
    return DriftMonitor(baseline, **kwargs)


# ---------------------------------------------------------------------------------------------- PSI


def test_psi_matches_the_hand_computed_value_with_half_a_row_added_to_each_bin():
    # p = (50.5, 50.5)/101, q = (25.5, 75.5)/101: Σ (q − p)·ln(q/p) = 0.26868
    assert float(psi([50, 50], [25, 75])) == pytest.approx(0.2686768, abs=1e-6)


def test_psi_of_bins_empty_on_either_side_stays_finite():
    # p = (10.5, 0.5)/11, q = (0.5, 10.5)/11: 2 · (10/11) · ln 21
    assert float(psi([10, 0], [0, 10])) == pytest.approx(2 * (10 / 11) * math.log(21), abs=1e-9)


def test_bins_empty_on_both_sides_add_nothing():
    assert float(psi([0, 64, 0], [0, 100_000, 0])) == 0.0
    assert float(psi([0, 64, 0], [0, 99_999, 1])) > 0.0


def test_psi_of_identical_proportions_is_zero_and_of_no_live_rows_is_nan():
    assert float(psi([10, 20, 30], [20, 40, 60])) == pytest.approx(0.0, abs=1e-3)
    assert math.isnan(float(psi([10, 20], [0, 0])))


def test_psi_of_padded_count_matrices_ignores_the_padding():
    padded = psi([[3, 7, 0, 0], [5, 5, 5, 5]], [[7, 3, 0, 0], [2, 8, 5, 5]], sizes=[2, 4])
    assert padded[0] == pytest.approx(float(psi([3, 7], [7, 3])))
    assert padded[1] == pytest.approx(float(psi([5, 5, 5, 5], [2, 8, 5, 5])))


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.25, "moderate"), (0.2501, "significant")],
)
def test_psi_bands(value, band):
    assert psi_verdict(value) == band


def test_no_psi_has_no_verdict():
    assert psi_verdict(None) == "no data" and psi_verdict(float("nan")) == "no data"


# ---------------------------------------------------------------------------------------------- binning


def test_bin_counts_equal_a_row_by_row_reference():
    rng = np.random.default_rng(3)
    edges = [[-1.0, 0.0, 1.0], [0.5], [], [-2.0, -1.0, 0.0, 1.0, 2.0]]
    values = rng.normal(size=(257, 4))
    values[[3, 9], 1] = 0.5  # on an edge: counts in the bin above
    values[5, 0] = np.nan  # NaN counts in the lowest bin
    bins = Bins(edges)
    expected = np.zeros((4, bins.bins), dtype=np.int64)
    for row in values:
        for feature, value in enumerate(row):
            index = 0 if math.isnan(value) else bisect.bisect_right(edges[feature], value)
            expected[feature, index] += 1
    assert np.array_equal(bins.counts(values), expected)
    assert bins.trim(expected) == [expected[f, : len(e) + 1].tolist() for f, e in enumerate(edges)]


def test_a_window_counted_request_by_request_equals_a_row_by_row_reference(digits):
    monitor = monitor_of(digits, every=64)
    baseline = json.loads((digits / BASELINE_NAME).read_text())
    rows = DIGITS_SAMPLES[::-1] + np.random.default_rng(4).choice([0.0, 4.0], DIGITS_SAMPLES.shape)
    for start, stop in ((0, 1), (1, 9), (9, 40), (40, 64)):  # requests of 1, 8, 31 and 24 rows
        window = monitor.observe({"input": rows[start:stop]})
    expected = [[0] * len(f["counts"]) for f in baseline["features"]]
    for row in rows:
        for feature, value in enumerate(row):
            expected[feature][bisect.bisect_right(baseline["features"][feature]["edges"], value)] += 1
    assert window is not None and window.rows == 64 and window.counts == expected


def test_labels_the_baseline_did_not_have_count_in_the_last_bin():
    values = PredictionValues("label", "labels", (2, 5, 9))(np.array([5, 2, 7, 9, 100, 5]))
    assert values[:, 0].tolist() == [1, 0, 3, 2, 3, 1]


# ---------------------------------------------------------------------------------------------- monitor


def test_the_monitor_reports_a_window_once_every_rows_have_been_seen(digits):
    monitor = monitor_of(digits, every=20, seconds=3600)
    feeds = {"input": DIGITS_SAMPLES[:7]}
    assert monitor.observe(feeds, now=1.0) is None
    assert monitor.observe(feeds, now=2.0) is None
    window = monitor.observe(feeds, now=3.0)
    assert window is not None and window.rows == 21 and window.metric
    assert all(sum(counts) == 21 for counts in window.counts)
    assert monitor.observe(feeds, now=4.0) is None  # a new window started


def test_the_monitor_reports_at_the_first_request_seconds_after_the_last_report(digits):
    monitor = monitor_of(digits, every=100, seconds=60, clock=lambda: 0.0)
    feeds = {"input": DIGITS_SAMPLES[:10]}
    assert monitor.observe(feeds, now=30.0) is None
    timed = monitor.observe(feeds, now=61.0)
    assert timed is not None and timed.rows == 20
    assert not timed.metric  # 20 rows are too few for the metric: they count toward the next one
    for moment in range(62, 69):
        assert monitor.observe(feeds, now=float(moment)) is None
    counted = monitor.observe(feeds, now=69.0)
    assert counted is not None and counted.rows == 80 and counted.psi_rows == 100 and counted.metric


def test_only_the_first_window_carries_the_baseline_counts(digits):
    monitor = monitor_of(digits, every=5)
    first = monitor.observe({"input": DIGITS_SAMPLES[:5]})
    second = monitor.observe({"input": DIGITS_SAMPLES[5:10]})
    assert first is not None and second is not None
    reference = first.log_fields()["reference"]
    assert reference["features"][12] == "input[12]" and len(reference["counts"]) == 64
    assert "reference" not in second.log_fields()


def test_rows_like_the_samples_are_stable_and_shifted_features_lead_the_window(digits):
    rng = np.random.default_rng(0)
    monitor = monitor_of(digits, every=400)
    like = DIGITS_SAMPLES[rng.integers(0, 64, 400)] + rng.uniform(-0.3, 0.3, (400, 64)).astype(np.float32)
    stable = monitor.observe({"input": like})
    shifted = like.copy()
    shifted[:, [10, 20, 30]] = 16.0
    moved = monitor.observe({"input": shifted})
    assert stable is not None and moved is not None
    assert stable.input_psi is not None and stable.input_psi < 0.1
    assert moved.input_psi is not None and moved.input_psi > 0.25
    assert {name for name, _ in moved.top[:3]} == {"input[10]", "input[20]", "input[30]"}


def test_predictions_are_counted_by_the_argmax_class_of_the_probabilities(digits):
    model = load_model(digits)
    monitor = monitor_of(digits, every=64)
    labels, probabilities = model.session.run(["label", "probabilities"], {"input": DIGITS_SAMPLES})
    window = monitor.observe({"input": DIGITS_SAMPLES}, ["label", "probabilities"], [labels, probabilities])
    assert window is not None and window.prediction_rows == 64
    assert window.prediction_counts == np.bincount(labels, minlength=10).tolist()
    assert window.prediction_psi == pytest.approx(0.0, abs=1e-9)  # the baseline's own rows


def test_a_run_without_the_watched_output_counts_inputs_only(digits):
    monitor = monitor_of(digits, every=3)
    window = monitor.observe({"input": DIGITS_SAMPLES[:3]}, ["label"], [np.zeros(3, dtype=np.int64)])
    assert window is not None and window.rows == 3 and window.prediction_rows == 0
    assert window.prediction_psi is None


def test_wide_inputs_are_counted_by_their_per_row_summaries(tmp_path):
    layer = model_dir(tmp_path, image_model(), {"pixels": image_samples()}, name="image")
    monitor = monitor_of(layer, every=8)
    window = monitor.observe({"pixels": image_samples(rows=8, seed=1)})
    assert window is not None
    assert [name for name, _ in window.top] and all(name.startswith("pixels.") for name, _ in window.top)
    assert [sum(counts) for counts in window.counts] == [8] * 5  # mean, std, min, max, zeros


def test_without_a_drift_entry_or_baseline_file_there_is_no_monitor(tmp_path, digits):
    manifest = json.loads((digits / "model.json").read_text())
    assert DriftMonitor.from_model_dir(digits, manifest) is not None
    assert DriftMonitor.from_model_dir(digits, {k: v for k, v in manifest.items() if k != "drift"}) is None
    assert DriftMonitor.from_model_dir(tmp_path, manifest) is None  # no baseline.json there


# ---------------------------------------------------------------------------------------------- handler


@pytest.fixture
def quiet_env(monkeypatch):
    for name in ("AWS_LAMBDA_INITIALIZATION_TYPE", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_a_window_prints_the_psi_metrics_and_one_drift_window_line(digits, capsys, quiet_env):
    app = make_app(digits, function_name="digits-fn")
    app.handle(rows(0, 12), FakeContext())
    app.handle(rows(12, 12), FakeContext())
    drift = [line for line in emf_lines(capsys.readouterr().out) if "InputDriftPSI" in line]
    assert len(drift) == 1
    directive = drift[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SlsDeploy" and drift[0]["function_name"] == "digits-fn"
    assert {m["Name"] for m in directive["Metrics"]} == {"InputDriftPSI", "PredictionDriftPSI"}
    (window,) = [line for line in logs(app) if line["message"] == "drift window"]
    assert window["rows"] == 24 and len(window["counts"]) == 64 and len(window["psi"]) == 64
    assert window["input_psi"] == pytest.approx(drift[0]["InputDriftPSI"][0], abs=1e-4)
    assert len(window["top"]) == 5 and window["model_version"] == app.model.version


def test_a_batched_sqs_run_is_counted_once(digits, quiet_env):
    app = make_app(digits)
    app.handle(sqs_event({f"m{i}": rows(i, 10) for i in range(2)}), FakeContext())
    (window,) = [line for line in logs(app) if line["message"] == "drift window"]
    assert window["rows"] == 20


def test_a_failing_drift_monitor_never_fails_a_request_and_turns_itself_off(tmp_path, quiet_env):
    layer = digits_model_dir(tmp_path, every=5)
    baseline = json.loads((layer / BASELINE_NAME).read_text())
    baseline["inputs"][0]["name"] = "not-an-input"  # loads, then fails on every request
    (layer / BASELINE_NAME).write_text(json.dumps(baseline))
    app = make_app(layer)
    answers = [app.handle(rows(i, 1), FakeContext()) for i in range(3)]
    assert all("outputs" in answer or "predictions" in answer for answer in answers)
    failures = [line for line in logs(app) if line["message"].startswith("drift accounting failed")]
    assert len(failures) == 1 and "not-an-input" in failures[0]["exception"]


def test_an_unusable_baseline_leaves_drift_off_and_the_model_serving(tmp_path, quiet_env):
    layer = digits_model_dir(tmp_path)
    (layer / BASELINE_NAME).write_text("{not json")
    app = make_app(layer)
    answer = app.handle(rows(0, 1), FakeContext())
    assert "predictions" in answer or "outputs" in answer
    assert any(line["message"].startswith("drift baseline unusable") for line in logs(app))
