"""The gate: agreement metrics chosen by the outputs, verdicts with numbers, and the choice policy
(explicit methods refused unless forced, auto falls back to the original)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sls_deploy.compress import CompressionPolicy
from sls_deploy.compress.gate import Agreement, Latency, choose_metric, judge, measure_agreement
from sls_deploy.core.errors import CompressionError
from sls_inference.loader import load_model, read_manifest
from sls_inference.signature import TensorSpec
from tests.support.compress_models import (
    classifier,
    compress_file,
    embedder,
    feature_samples,
    if_model,
    loop_model,
    save,
)

LABEL = TensorSpec("label", "int64", ("N",))
PROBS = TensorSpec("probabilities", "float32", ("N", 3))
EMB = TensorSpec("embedding", "float32", ("N", 4))


def test_label_or_probability_outputs_make_a_classifier_and_other_floats_an_embedding():
    probs = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]], np.float32)
    assert choose_metric([LABEL], [np.array([1, 2])]) == "top1"
    assert choose_metric([PROBS], [probs]) == "top1"
    assert (
        choose_metric([EMB], [np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)])
        == "cosine"
    )


def test_top1_counts_rows_whose_label_or_argmax_is_unchanged():
    ref = [np.array([0, 1, 2, 2]), np.eye(3, dtype=np.float32)[[0, 1, 2, 2]]]
    cand = [np.array([0, 1, 2, 0]), np.eye(3, dtype=np.float32)[[0, 1, 1, 2]]]
    result = measure_agreement("top1", [LABEL, PROBS], ref, cand, rows=4)
    assert result.value == 0.75 and result.outputs == ("label", "probabilities")
    assert result.max_abs_error == 1.0


def test_cosine_and_errors_for_embeddings():
    ref = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]], np.float32)
    cand = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]], np.float32)
    result = measure_agreement("cosine", [EMB], [ref], [cand], rows=2)
    assert result.value == pytest.approx((np.sqrt(0.5) + 1.0) / 2)
    assert result.max_abs_error == pytest.approx(1.0) and result.max_rel_error == pytest.approx(0.5)


def test_a_candidate_below_the_agreement_threshold_is_refused_with_its_numbers():
    latency = Latency(1.0, 1.0, 1.0)
    passed, reason = judge(Agreement("top1", 0.97, 0.1, 0.1, ("label",)), latency, 0.995, 1.05)
    assert not passed and reason == "top-1 agreement 0.9700 < 0.9950"
    passed, reason = judge(
        Agreement("cosine", 0.999, 0.1, 0.1, ("e",)), Latency(2.0, 1.0, 2.0, 3.0, 1.0, 3.0, 8), 0.995, 1.05
    )
    assert not passed and "3.000× the fp32 p50 latency" in reason


def compress(tmp_path: Path, model, spec: str, **policy) -> object:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = save(model, tmp_path / "model.onnx")
    return compress_file(path, feature_samples(), CompressionPolicy(spec, **policy), tmp_path / "work")


def test_an_explicit_method_that_breaks_agreement_is_refused_with_the_numbers(tmp_path):
    with pytest.raises(CompressionError) as caught:
        compress(tmp_path, classifier(), "prune:0.95")
    assert "prune:0.95: top-1 agreement 0." in caught.value.message and "< 0.9950" in caught.value.message
    assert "--force" in caught.value.hint


def test_force_keeps_a_refused_method_and_says_so(tmp_path):
    result = compress(tmp_path, classifier(), "prune:0.95", force=True)
    assert result.method == "prune:0.95" and result.report.forced
    assert result.report.reason.startswith("forced although it fails the gate")


def test_auto_keeps_the_original_when_no_candidate_passes(tmp_path):
    # cosine similarity 1.0 exactly: no lossy candidate reaches it
    result = compress(tmp_path, embedder(), "auto", min_agreement=1.0)
    assert result.method == "none"
    assert result.path == tmp_path / "model.onnx" and dict(result.session_config) == {}
    assert result.report.reason.startswith("kept the original: no candidate passed the gate")
    verdicts = {c.method: c.verdict for c in result.report.candidates}
    assert verdicts["none"] == "baseline" and "chosen" not in verdicts.values()


def test_auto_chooses_the_smallest_passing_candidate_and_records_its_session_config(tmp_path):
    result = compress(tmp_path, classifier(), "auto", min_agreement=0.9, max_slowdown=3.0)
    chosen = result.report.chosen
    passing = [c for c in result.report.candidates if c.verdict in ("passed", "chosen")]
    assert chosen.zipped_bytes <= min(c.zipped_bytes for c in passing) * 1.02
    assert chosen.zipped_bytes < result.report.baseline.zipped_bytes
    record = result.manifest_extra()
    assert record["compression"]["method"] == result.method
    assert {row["method"] for row in record["compression"]["report"]} >= {
        "none",
        "int8-weight:channel",
        "fp16",
    }
    assert json.dumps(record)  # plain JSON for model.json


@pytest.mark.parametrize("model", [if_model, loop_model], ids=["If", "Loop"])
def test_a_control_flow_model_gets_a_verdict_for_every_candidate_and_weight_only_handles_it(tmp_path, model):
    result = compress(tmp_path, model(), "auto", min_agreement=0.99, max_slowdown=3.0)
    rows = {c.method: c for c in result.report.candidates}
    assert all(
        c.verdict in ("baseline", "chosen", "passed", "refused", "failed") and c.reason for c in rows.values()
    )
    assert rows["int8-weight:channel"].verdict in ("passed", "chosen")
    assert rows["int8-weight:channel"].zipped_bytes < rows["none"].zipped_bytes


def test_the_chosen_model_loads_with_the_recorded_session_config(tmp_path):
    result = compress(tmp_path, classifier(), "int8-weight", min_agreement=0.9)
    folder = result.path.parent / "model"
    assert read_manifest(folder)["session_config"] == {"session.disable_quant_qdq": "1"}
    assert load_model(folder).session.run(None, dict(feature_samples().arrays))[0].shape == (48,)


def test_the_metric_can_be_forced(tmp_path):
    result = compress(tmp_path, classifier(), "int8-weight", metric="cosine")
    assert result.report.metric == "cosine"
    assert result.report.chosen.agreement.outputs == ("probabilities",)


def test_the_model_json_record_is_the_same_on_every_run_so_an_unchanged_push_builds_the_same_layer(tmp_path):
    first = compress(tmp_path / "a", classifier(), "int8-weight,fp16", min_agreement=0.9, max_slowdown=9.0)
    second = compress(tmp_path / "b", classifier(), "int8-weight,fp16", min_agreement=0.9, max_slowdown=9.0)
    assert first.manifest_extra() == second.manifest_extra()
    assert "latency" not in json.dumps(first.manifest_extra())
    assert first.report.to_json()["report"][1]["latency"]["ratio_b1"] > 0  # timings: in the full report only
