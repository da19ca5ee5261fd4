"""Each compression method produces a model that the one loader (sls_inference.loader) runs, and rewrites
the weights it says it does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from sls_deploy.compress import plans
from sls_deploy.compress.base import MethodContext, MethodError
from sls_deploy.compress.prune import prune_array, prune_weights
from sls_deploy.compress.weight_only import quantize_weights
from sls_deploy.model import graphs
from sls_deploy.model.folder import write_model_dir
from sls_deploy.model.samples import Samples
from sls_inference.loader import load_model
from sls_inference.signature import specs_from_ort
from tests.support.compress_models import (
    classifier,
    embedder,
    feature_samples,
    gather_matmul,
    if_model,
    loop_model,
)


def run_with_loader(model: onnx.ModelProto, config: dict[str, str], folder: Path, feeds: dict) -> list:
    """Write model.onnx + model.json (the model layer's writer) and run it through the handler's loader."""
    source = folder / "candidate.onnx"
    onnx.save_model(model, str(source))
    import onnxruntime as ort

    probe = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    write_model_dir(
        source,
        folder / "model",
        "m",
        inputs=specs_from_ort(probe.get_inputs()),
        outputs=specs_from_ort(probe.get_outputs()),
        opset=graphs.opsets(model),
        extra={"session_config": config},
    )
    return load_model(folder / "model", memory_mb=1024).session.run(None, feeds)


def reference(model: onnx.ModelProto, feeds: dict) -> list:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, feeds
    )


def context(tmp_path: Path, samples: Samples | None = None, arch: str = "x86_64") -> MethodContext:
    (tmp_path / "work").mkdir(exist_ok=True)
    return MethodContext(samples=samples or feature_samples(), arch=arch, work_dir=tmp_path / "work")


def initializer_types(model: onnx.ModelProto) -> dict[str, int]:
    return {t.name: t.data_type for g in graphs.iter_graphs(model.graph) for t in g.initializer}


@pytest.mark.parametrize(
    "spec",
    [
        "int8-weight",
        "int8-weight:tensor",
        "int4-weight",
        "int8-dynamic",
        "int8-dynamic:channel",
        "int8-static",
        "fp16",
        "prune:0.5",
        "prune:0.5+int8-weight",
    ],
)
def test_every_method_gives_a_model_the_loader_runs_with_the_original_answers(spec, tmp_path):
    samples = feature_samples()
    (plan,) = plans.parse(spec)
    model = classifier()
    config: dict[str, str] = {}
    for step in plan.steps:
        result = plans.METHODS[step.method].apply(model, step.param, context(tmp_path, samples))
        model, config = result.model, {**config, **dict(result.session_config)}
    label, probabilities = run_with_loader(model, config, tmp_path, dict(samples.arrays))
    expected_label, expected_probabilities = reference(classifier(), dict(samples.arrays))
    assert probabilities.shape == expected_probabilities.shape and probabilities.dtype == np.float32
    if not spec.startswith(("prune", "int4")):  # 4 bits and pruning cost accuracy on random weights
        assert np.mean(label == expected_label) >= 0.9


def test_weight_only_stores_codes_scale_and_zero_point_behind_dequantize_linear(tmp_path):
    result = quantize_weights(classifier(), 8, per_channel=True)
    nodes = [n for n in result.model.graph.node if n.op_type == "DequantizeLinear"]
    assert sorted(n.output[0] for n in nodes) == ["w1", "w2"]
    types = initializer_types(result.model)
    assert types["w1_quantized"] == onnx.TensorProto.UINT8 and "w1" not in types
    assert types["w1_scale"] == onnx.TensorProto.FLOAT
    assert dict(result.session_config) == {"session.disable_quant_qdq": "1"}
    # per channel along MatMul's output axis: one scale per column
    scale = next(t for t in result.model.graph.initializer if t.name == "w1_scale")
    assert list(scale.dims) == [128]


def test_a_weight_read_by_two_nodes_gets_one_dequantize_feeding_both(tmp_path):
    result = quantize_weights(embedder(), 8, per_channel=True)
    dq = [n for n in result.model.graph.node if n.op_type == "DequantizeLinear"]
    assert len(dq) == 1 and dq[0].output[0] == "w"
    assert sum("w" in n.input for n in result.model.graph.node if n.op_type == "MatMul") == 2
    feeds = dict(feature_samples().arrays)
    (got,) = run_with_loader(result.model, dict(result.session_config), tmp_path, feeds)
    (want,) = reference(embedder(), feeds)
    cosine = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.999


def test_four_bits_go_to_matmul_weights_only_and_integer_and_tiny_tensors_are_left(tmp_path):
    result = quantize_weights(gather_matmul(), 4, per_channel=True)
    types = initializer_types(result.model)
    assert types["w_quantized"] == onnx.TensorProto.UINT4  # MatMul weight
    assert types["table_quantized"] == onnx.TensorProto.UINT8  # Gather table: 8 bits
    assert types["offset"] == onnx.TensorProto.INT64 and types["tiny"] == onnx.TensorProto.FLOAT
    assert graphs.default_opset(result.model) >= 21 and result.model.ir_version >= 10
    ids = {"ids": np.random.default_rng(0).integers(0, 100, size=(8, 4)).astype(np.int64)}
    (got,) = run_with_loader(result.model, dict(result.session_config), tmp_path, ids)
    assert got.shape == (8, 4, 32)


def test_a_model_without_weights_worth_quantizing_is_refused_with_the_reason():
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Relu", ["x"], ["y"])],
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
        )
    )
    with pytest.raises(MethodError, match="nothing worth quantizing"):
        quantize_weights(model, 8, per_channel=False)


def test_if_subgraph_and_outer_scope_weights_are_quantized_and_both_branches_run(tmp_path):
    result = quantize_weights(if_model(), 8, per_channel=True)
    types = initializer_types(result.model)
    assert "w_then_quantized" in types and "w_outer_quantized" in types
    then_branch = next(a.g for a in result.model.graph.node[-1].attribute if a.name == "then_branch")
    assert then_branch.node[0].op_type == "DequantizeLinear"
    x = np.abs(feature_samples().arrays["input"])
    for feeds in ({"input": x}, {"input": -x}):
        (got,) = run_with_loader(result.model, dict(result.session_config), tmp_path, feeds)
        (want,) = reference(if_model(), feeds)
        assert np.max(np.abs(got - want)) < 0.05 * np.max(np.abs(want))


def test_a_loop_body_reading_a_main_graph_weight_runs_after_quantization(tmp_path):
    result = quantize_weights(loop_model(), 8, per_channel=True)
    feeds = dict(feature_samples().arrays)
    (got,) = run_with_loader(result.model, dict(result.session_config), tmp_path, feeds)
    (want,) = reference(loop_model(), feeds)
    assert np.max(np.abs(got - want)) < 0.05


def test_static_quantization_uses_unsigned_activations_on_x86_and_signed_on_arm(tmp_path):
    def activation_types(arch: str) -> set[int]:
        folder = tmp_path / arch
        folder.mkdir()
        result = plans.METHODS["int8-static"].apply(classifier(), None, context(folder, arch=arch))
        zero_points = {n.input[2] for n in result.model.graph.node if n.op_type == "QuantizeLinear"}
        return {t.data_type for t in result.model.graph.initializer if t.name in zero_points}

    assert activation_types("x86_64") == {onnx.TensorProto.UINT8}
    assert activation_types("arm64") == {onnx.TensorProto.INT8}


def test_pruning_zeroes_exactly_the_asked_fraction_of_the_smallest_weights():
    values = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32)
    pruned = prune_array(values, 0.3)
    assert np.count_nonzero(pruned == 0) == 600
    kept = np.abs(values[pruned != 0])
    assert kept.min() >= np.abs(values[pruned == 0]).max()


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.9])
def test_pruning_a_model_reaches_the_asked_sparsity_in_every_weight(fraction):
    result = prune_weights(classifier(), fraction)
    for weight in graphs.weight_initializers(result.model.graph):
        values = graphs.to_array(weight)
        assert np.count_nonzero(values == 0) / values.size == pytest.approx(fraction, abs=1e-3)
    assert f"sparsity {fraction:.3f}" in result.notes[0]


def test_pruned_zeros_stay_zero_through_weight_quantization(tmp_path):
    pruned = prune_weights(classifier(), 0.5).model
    result = quantize_weights(pruned, 8, per_channel=True)
    dq = {n.output[0]: n for n in result.model.graph.node if n.op_type == "DequantizeLinear"}
    inits = {t.name: graphs.to_array(t) for t in result.model.graph.initializer}
    codes, zero = inits[dq["w1"].input[0]], inits[dq["w1"].input[2]]
    assert np.mean(codes == zero[None, :]) >= 0.5


def test_duplicate_opset_entries_are_merged_keeping_the_highest_version():
    model = classifier()
    model.opset_import.append(onnx.helper.make_opsetid("", 13))
    assert graphs.dedupe_opsets(model) == ["ai.onnx"]
    assert [(i.domain, i.version) for i in model.opset_import] == [("", 17)]


def test_an_initializer_also_listed_as_a_graph_input_is_quantized_and_the_signature_kept(tmp_path):
    model = classifier()
    w1 = next(t for t in model.graph.initializer if t.name == "w1")
    model.graph.input.append(onnx.helper.make_tensor_value_info("w1", onnx.TensorProto.FLOAT, list(w1.dims)))
    result = quantize_weights(model, 8, per_channel=True)
    assert [i.name for i in result.model.graph.input] == ["input"]
    label, _ = run_with_loader(
        result.model, dict(result.session_config), tmp_path, dict(feature_samples().arrays)
    )
    assert label.shape == (48,)
