"""Graph fusion as a candidate: onnxruntime's transformer optimizer on a torch-exported BERT-style encoder,
judged by the same gate; refused with the reason on a model without transformer blocks."""

from __future__ import annotations

import pytest

from sls_deploy.compress import CompressionPolicy, plans
from sls_deploy.compress.fused import detect_model_type
from sls_deploy.core.errors import ConfigError
from sls_deploy.model.samples import Samples
from tests.support.compress_models import compress_file, embedder, feature_samples, save

pytest.importorskip("torch")


def _encoder(tmp_path):
    import numpy as np
    import onnx

    from tests.support.processing_models import export_tiny_bert

    path = export_tiny_bert(tmp_path / "encoder.onnx")
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 24, size=(40, 12)).astype(np.int64)
    arrays = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return path, onnx.load(str(path)), Samples(arrays, "ids", 40)


def _compress(tmp_path, path, samples, spec):
    policy = CompressionPolicy(spec, max_slowdown=100.0, force=True)
    return compress_file(path, samples, policy, tmp_path / "work").report


def test_a_bert_style_graph_is_recognised_and_a_plain_mlp_is_not(tmp_path):
    _, model, _ = _encoder(tmp_path)
    assert detect_model_type(model) == "bert"
    assert detect_model_type(embedder()) is None


def test_fused_kernels_keep_the_encoders_outputs_and_the_report_names_the_fusions(tmp_path):
    path, _, samples = _encoder(tmp_path)
    report = _compress(tmp_path, path, samples, "fused,fused+int8-dynamic")
    by_method = {c.method: c for c in report.candidates}
    fused = by_method["fused"]
    assert fused.agreement is not None and fused.agreement.value >= 0.9999
    assert any("SkipLayerNormalization" in note and "BiasGelu" in note for note in fused.notes)
    combined = by_method["fused+int8-dynamic:tensor"]
    assert combined.verdict != "failed" and combined.agreement is not None


def test_a_model_without_transformer_blocks_fails_the_candidate_with_the_reason(tmp_path):
    path = save(embedder(), tmp_path / "model.onnx")
    report = _compress(tmp_path, path, feature_samples(), "fused,int8-weight")
    (fused,) = [c for c in report.candidates if c.method == "fused"]
    assert fused.verdict == "failed" and "no transformer block recognised" in fused.reason
    assert "fused:bert" in fused.reason


def test_fusion_comes_after_pruning_and_before_a_quantizer():
    assert [p.label for p in plans.parse("prune:0.5+fused+int8-dynamic")] == [
        "prune:0.5+fused+int8-dynamic:tensor"
    ]
    with pytest.raises(ConfigError, match="at most one fused"):
        plans.parse("int8-dynamic+fused")


def test_heads_and_hidden_size_are_read_from_a_run_for_the_attention_fusion():
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from sls_deploy.compress.fused import attention_shape

    graph = helper.make_graph(
        [
            helper.make_node("LayerNormalization", ["h", "gamma", "beta"], ["normed"], axis=-1),
            helper.make_node("Softmax", ["scores"], ["probs"], axis=-1),
        ],
        "attention-ish",
        [
            helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", 3, 8]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2, 3, 3]),
        ],
        [
            helper.make_tensor_value_info("normed", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, None),
        ],
        [
            numpy_helper.from_array(np.ones(8, np.float32), "gamma"),
            numpy_helper.from_array(np.zeros(8, np.float32), "beta"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    arrays = {"h": np.ones((5, 3, 8), np.float32), "scores": np.zeros((5, 2, 3, 3), np.float32)}
    assert attention_shape(model, Samples(arrays, "rows", 5)) == (2, 8)
    single_head = {"h": arrays["h"], "scores": np.zeros((5, 3, 3), np.float32)}
    flat = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    flat.graph.input[1].type.tensor_type.shape.ClearField("dim")
    assert attention_shape(flat, Samples(single_head, "rows", 5)) == (0, 0)  # the optimizer detects then
