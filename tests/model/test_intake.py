"""Model intake: a good model is described; every kind of bad file gets a clear ModelError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sls_deploy.core.errors import ModelError
from sls_deploy.model.onnx_model import inspect_model, single_file_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _matmul_model(weights: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weights.shape[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", weights.shape[1]])
    w = numpy_helper.from_array(weights, "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm", [x], [y], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_example_model_is_described_with_its_signature_opset_and_hash():
    info = inspect_model(EXAMPLES / "digits.onnx")
    assert [s.name for s in info.inputs] == ["input"]
    assert info.inputs[0].dtype == "float32" and info.inputs[0].shape == (None, 64)
    assert [(s.name, s.dtype) for s in info.outputs] == [("label", "int64"), ("probabilities", "float32")]
    assert info.opset[""] == 17
    assert len(info.sha256) == 64 and info.size_bytes == (EXAMPLES / "digits.onnx").stat().st_size


def test_symbolic_dimension_names_are_kept(tmp_path):
    path = tmp_path / "mm.onnx"
    onnx.save(_matmul_model(np.ones((4, 3), np.float32)), path)
    info = inspect_model(path)
    assert info.inputs[0].shape == ("batch", 4)
    assert info.outputs[0].shape == ("batch", 3)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        inspect_model(tmp_path / "nope.onnx")


def test_a_text_file_is_not_taken_for_a_model(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError, match="not (a readable ONNX model|an ONNX model)") as err:
        inspect_model(path)
    assert err.value.hint


def test_a_truncated_model_is_reported_as_unreadable(tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes((EXAMPLES / "digits.onnx").read_bytes()[:5000])
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        inspect_model(path)


def test_a_model_that_fails_the_checker_names_the_problem(tmp_path):
    model = _matmul_model(np.ones((4, 3), np.float32))
    model.graph.node[0].op_type = "NoSuchOperator"
    path = tmp_path / "bad.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelError, match="NoSuchOperator"):
        inspect_model(path)


def test_external_data_without_its_file_names_the_missing_file(tmp_path):
    path = tmp_path / "big.onnx"
    onnx.save(
        _matmul_model(np.ones((64, 64), np.float32)),
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="big.weights",
        size_threshold=0,
    )
    (tmp_path / "big.weights").unlink()
    with pytest.raises(ModelError, match="big.weights"):
        inspect_model(path)


def test_external_data_is_merged_into_one_file_for_the_layer(tmp_path):
    weights = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    path = tmp_path / "big.onnx"
    onnx.save(
        _matmul_model(weights), path, save_as_external_data=True, location="big.weights", size_threshold=0
    )
    info = inspect_model(path)
    assert info.external_data == (tmp_path / "big.weights",)
    merged = single_file_model(info, tmp_path / "out" / "merged.onnx")
    loaded = onnx.load(str(merged))
    assert np.array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), weights)
