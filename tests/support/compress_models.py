"""Small synthetic ONNX models for the compression tests, built with onnx.helper (no files, no training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sls_deploy.model.samples import Samples

FEATURES = 64
HIDDEN = 128
CLASSES = 10
OPSET = 17


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _model(graph: onnx.GraphProto, opset: int = OPSET) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def classifier(seed: int = 0) -> onnx.ModelProto:
    """input [N, 64] → MatMul/Add/Relu → MatMul/Add → Softmax "probabilities" [N, 10] + ArgMax "label" [N]."""
    rng = _rng(seed)
    w1 = rng.standard_normal((FEATURES, HIDDEN)).astype(np.float32) / 8
    w2 = rng.standard_normal((HIDDEN, CLASSES)).astype(np.float32) / 8
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(np.zeros(HIDDEN, np.float32), "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(np.zeros(CLASSES, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["o"]),
        helper.make_node("Add", ["o", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES]),
        ],
        inits,
    )
    return _model(graph)


def embedder(seed: int = 1) -> onnx.ModelProto:
    """input [N, 64] → two MatMuls sharing one weight (read twice) → "embedding" [N, 64] (a regressor)."""
    rng = _rng(seed)
    w = rng.standard_normal((FEATURES, FEATURES)).astype(np.float32) / 8
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("MatMul", ["t", "w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "embedder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", FEATURES])],
        [numpy_helper.from_array(w, "w")],
    )
    return _model(graph)


def gather_matmul(seed: int = 2) -> onnx.ModelProto:
    """ids int64 [N, 4] → Gather from a [100, 64] table → MatMul [64, 32] → "features" [N, 4, 32]; also an
    int64 initializer (the ids offset) and a tiny float one, which stay as they are."""
    rng = _rng(seed)
    table = rng.standard_normal((100, FEATURES)).astype(np.float32)
    w = rng.standard_normal((FEATURES, 32)).astype(np.float32) / 8
    nodes = [
        helper.make_node("Add", ["ids", "offset"], ["shifted"]),
        helper.make_node("Gather", ["table", "shifted"], ["emb"], axis=0),
        helper.make_node("MatMul", ["emb", "w"], ["m"]),
        helper.make_node("Mul", ["m", "tiny"], ["features"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gather",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4, 32])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(np.array(0, np.int64), "offset"),
            numpy_helper.from_array(np.full(32, 0.5, np.float32), "tiny"),
        ],
    )
    return _model(graph)


def if_model(seed: int = 3) -> onnx.ModelProto:
    """An If whose then-branch holds its own weight and whose else-branch reads a main-graph weight."""
    rng = _rng(seed)
    w_then = numpy_helper.from_array(rng.standard_normal((FEATURES, 32)).astype(np.float32) / 8, "w_then")
    w_outer = numpy_helper.from_array(rng.standard_normal((FEATURES, 32)).astype(np.float32) / 8, "w_outer")
    then_branch = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w_then"], ["y_then"])],
        "then",
        [],
        [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, ["N", 32])],
        [w_then],
    )
    else_branch = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w_outer"], ["y_else"])],
        "else",
        [],
        [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, ["N", 32])],
    )
    nodes = [
        helper.make_node("ReduceSum", ["input"], ["total"], keepdims=0),
        helper.make_node("Greater", ["total", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["output"], then_branch=then_branch, else_branch=else_branch),
    ]
    graph = helper.make_graph(
        nodes,
        "branchy",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 32])],
        [w_outer, numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    return _model(graph)


def loop_model(seed: int = 4) -> onnx.ModelProto:
    """A Loop that applies tanh(x·W) three times, W a main-graph weight read from the body."""
    rng = _rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((FEATURES, FEATURES)).astype(np.float32) / 8, "w")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["x_in", "w"], ["xw"]),
            helper.make_node("Tanh", ["xw"], ["x_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_in", TensorProto.FLOAT, ["N", FEATURES]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, ["N", FEATURES]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "", "input"], ["output"], body=body)],
        "looped",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", FEATURES])],
        [w, numpy_helper.from_array(np.array(3, np.int64), "trips")],
    )
    return _model(graph)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(model, str(path))
    return path


def feature_samples(rows: int = 48, seed: int = 5) -> Samples:
    data = np.random.default_rng(seed).standard_normal((rows, FEATURES)).astype(np.float32)
    return Samples(arrays={"input": data}, source="test-samples", rows=rows)


def compress_file(
    path: Path,
    samples: Samples,
    policy: Any,
    work_dir: Path,
    held_out: Samples | None = None,
    *,
    name: str = "m",
    memory_mb: int = 1024,
    source: Any = None,
    progress: Any = None,
) -> Any:
    """compress_model on an .onnx file as the pipeline calls it (x86_64; 1,024 MB unless `memory_mb`): the
    CompressedModel. `source`: the TorchSource prune's recovery trains; `progress`: a callable for the
    progress lines."""
    from sls_deploy.compress import compress_model
    from sls_deploy.core.progress import quiet
    from sls_deploy.model.onnx_model import inspect_model

    info = inspect_model(path)
    return compress_model(
        info.path,
        name,
        inputs=info.inputs,
        outputs=info.outputs,
        opset=info.opset,
        samples=samples,
        policy=policy,
        work_dir=work_dir,
        memory_mb=memory_mb,
        arch="x86_64",
        sha256=info.sha256,
        progress=progress or quiet,
        held_out=held_out,
        source=source,
    )


def outlier_mlp(seed: int = 6) -> onnx.ModelProto:
    """input [N, 64] → MatMul/Relu → ×scale → MatMul "mid" → Tanh → MatMul → "embedding" [N, 32]. The scale
    blows 4 of the 128 hidden channels up 400× (the next weight rows shrink them back), so int8 activations
    of "mid" lose the other 124 channels: the one node mixed precision must keep fp32."""
    rng = _rng(seed)
    w1 = rng.standard_normal((FEATURES, HIDDEN)).astype(np.float32) / 8
    scale = np.ones(HIDDEN, np.float32)
    scale[:4] = 400.0
    w2 = (rng.standard_normal((HIDDEN, HIDDEN)) / 8 / scale[:, None]).astype(np.float32)
    w3 = rng.standard_normal((HIDDEN, 32)).astype(np.float32) / 8
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(scale, "scale"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(w3, "w3"),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h"], name="first"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Mul", ["r", "scale"], ["s"], name="scale"),
        helper.make_node("MatMul", ["s", "w2"], ["m"], name="mid"),
        helper.make_node("Tanh", ["m"], ["t"], name="tanh"),
        helper.make_node("MatMul", ["t", "w3"], ["embedding"], name="last"),
    ]
    graph = helper.make_graph(
        nodes,
        "outlier_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 32])],
        inits,
    )
    return _model(graph)
