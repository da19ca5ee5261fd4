"""Mixed precision by sensitivity and blockwise 4-bit MatMulNBits: the sensitive node is found, kept fp32, and
the verdict still rests on the validation rows; MatMulNBits is onnxruntime's own 4-bit kernel."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sls_deploy.compress import CompressionPolicy, plans
from sls_deploy.compress.base import MethodContext, MethodError, quant_options
from sls_deploy.compress.blockwise import apply as int4_block
from sls_deploy.compress.sensitivity import mixed_precision, rank, with_producers
from tests.support.compress_models import (
    classifier,
    compress_file,
    embedder,
    feature_samples,
    outlier_mlp,
    save,
)


def _compress(tmp_path, model, spec, rows=60):
    path = save(model, tmp_path / "model.onnx")
    policy = CompressionPolicy(spec, max_slowdown=100.0, force=True)
    report = compress_file(path, feature_samples(rows), policy, tmp_path / "work").report
    return report, {c.method: c for c in report.candidates}


def test_the_options_parse_granularity_and_mixed():
    assert quant_options(None) == (False, False)
    assert quant_options("channel") == (True, False)
    assert quant_options("mixed") == (False, True)
    assert quant_options("channel-mixed") == (True, True)
    with pytest.raises(MethodError, match="channel-mixed"):
        quant_options("mixed-channel")
    assert plans.parse("int8-dynamic:channel-mixed")[0].label == "int8-dynamic:channel-mixed"


def test_the_node_reading_outlier_activations_ranks_most_sensitive():
    ranked = rank(outlier_mlp(), feature_samples(), per_channel=False, static=False)
    names = [name for name, _ in ranked]
    assert names[0] == "mid"
    assert ranked[0][1] > 10 * ranked[1][1]  # its int8 output error dwarfs the others'
    assert sorted(names) == ["first", "last", "mid"]


def test_static_exclusion_keeps_the_producer_of_the_kept_nodes_input():
    assert with_producers(outlier_mlp(), ["mid"]) == ["mid", "scale"]


def test_dynamic_mixed_keeps_the_sensitive_node_fp32_and_passes_where_all_int8_fails(tmp_path):
    report, by_method = _compress(tmp_path, outlier_mlp(), "int8-dynamic,int8-dynamic:mixed")
    plain, mixed = by_method["int8-dynamic:tensor"], by_method["int8-dynamic:mixed"]
    assert plain.verdict == "refused" and plain.agreement.value < 0.9
    assert mixed.verdict == "chosen" and mixed.agreement.value >= 0.995
    assert mixed.agreement.rows == report.rows == 18  # judged on the 18 validation rows of 60
    notes = " ".join(mixed.notes)
    assert "1 of 3 MatMul/Gemm/Conv kept fp32" in notes and notes.endswith("against all int8")
    assert ": mid" in notes and "calibration rows (42)" in notes
    kept = onnx.load(str(tmp_path / "work" / "int8-dynamic_mixed" / "model.onnx"))
    assert {n.op_type for n in kept.graph.node if n.name == "mid"} == {"MatMul"}  # fp32 MatMul
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in kept.graph.node) == 2


def test_static_mixed_is_found_on_the_same_model(tmp_path):
    _, by_method = _compress(tmp_path, outlier_mlp(), "int8-static,int8-static:mixed")
    assert by_method["int8-static:tensor"].agreement.value < 0.9
    mixed = by_method["int8-static:mixed"]
    assert mixed.verdict == "chosen" and mixed.agreement.value >= 0.995
    assert not mixed.session_config  # QDQ fusions stay on


def test_a_model_that_needs_no_fp32_node_says_so(tmp_path):
    _, by_method = _compress(tmp_path, embedder(), "int8-dynamic:channel-mixed")
    mixed = by_method["int8-dynamic:channel-mixed"]
    assert mixed.verdict == "chosen"
    assert any("0 of 2 MatMul/Gemm/Conv kept fp32 (none needed)" in n for n in mixed.notes)


def test_mixed_precision_outside_the_gate_is_refused(tmp_path):
    ctx = MethodContext(feature_samples(), "x86_64", tmp_path)
    with pytest.raises(MethodError, match="calibration rows"):
        mixed_precision(
            outlier_mlp(), lambda names: (outlier_mlp(), ()), ctx, per_channel=False, static=False
        )


def test_int4_block_packs_every_matmul_into_matmulnbits(tmp_path):
    _, by_method = _compress(tmp_path, classifier(), "int4-block:16")
    block = by_method["int4-block:16"]
    assert block.verdict != "failed", block.reason
    model = onnx.load(str(tmp_path / "work" / "int4-block_16" / "model.onnx"))
    packed = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert len(packed) == 2 and all(n.domain == "com.microsoft" for n in packed)
    assert {a.i for n in packed for a in n.attribute if a.name == "block_size"} == {16}
    assert block.agreement.max_abs_error < 0.1  # of the probabilities, at 4 bits


def test_int4_block_without_a_matmul_or_with_a_bad_block_fails_with_the_reason(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    conv = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    ctx = MethodContext(feature_samples(), "x86_64", tmp_path)
    with pytest.raises(MethodError, match="no MatMul with a constant weight"):
        int4_block(conv, None, ctx)
    with pytest.raises(MethodError, match="block size"):
        int4_block(classifier(), "33", ctx)


def test_the_int8_candidates_share_one_pre_processing(tmp_path, monkeypatch):
    from sls_deploy.compress import preprocess

    calls = []
    original = preprocess._optimised
    monkeypatch.setattr(preprocess, "_LAST", {})
    monkeypatch.setattr(preprocess, "_optimised", lambda m, w: calls.append(1) or original(m, w))
    _, by_method = _compress(tmp_path, outlier_mlp(), "int8-dynamic,int8-dynamic:channel,int8-static:mixed")
    assert len(calls) == 1
    assert all(
        "optimised with quant_pre_process" in c.notes for c in by_method.values() if c.method != "none"
    )
