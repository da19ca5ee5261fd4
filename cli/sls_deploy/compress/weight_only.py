"""Weight-only linear quantization (`int8-weight`, `int4-weight`): float weights become integer codes + scale
+ zero point behind DequantizeLinear (the formula lives in linear.py).

The model keeps fp32 activations and operators. Loaded with the session config entry
`session.disable_quant_qdq=1` (recorded in model.json, applied by the loader), onnxruntime folds every
DequantizeLinear of a constant into an fp32 initializer when the session is created, so inference runs the
fp32 kernels at fp32 speed: the gain is a ~4× (8-bit) or 5-7× (4-bit) smaller file; memory at run time is
that of the fp32 model. Without that entry onnxruntime keeps the DequantizeLinear nodes for its QDQ fusions
and dequantizes on every run (measured 1.4-11× slower).

4-bit codes go only to MatMul/Gemm weights (where they pay: the bulk of a transformer or an MLP); other
weights (embedding tables, convolutions) get 8 bits. uint4 DequantizeLinear needs opset 21 (IR 10): the model
is converted to opset 21 with onnx's version converter, or the method is refused.

Handles: initializers read by several nodes (one DequantizeLinear feeds them all), initializers read from
inside If/Loop/Scan bodies (the dequantized tensor keeps the name), subgraph initializers (quantized in their
subgraph), non-float and tiny initializers (left as they are). Changes the model it is given.
"""

from __future__ import annotations

from collections.abc import Callable

import ml_dtypes
import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..model import graphs
from .base import MethodContext, MethodError, MethodResult
from .linear import linear_quantize

SESSION_CONFIG = {"session.disable_quant_qdq": "1"}
OPSET_PER_CHANNEL = 13  # DequantizeLinear's `axis`
OPSET_UINT4 = 21
IR_UINT4 = 10
LINEAR_OPS = frozenset({"MatMul", "Gemm"})


def _channel_axis(weight: onnx.TensorProto, reads: list[graphs.Use]) -> int | None:
    """The output-channel axis for the first reader that has one, else None (per tensor)."""
    rank = len(weight.dims)
    if rank < 2:
        return None
    for use in reads:
        op, index = use.node.op_type, use.index
        if op == "MatMul" and index == 1:
            axis = rank - 1
        elif op == "Gemm" and index == 1:
            trans_b = next((a.i for a in use.node.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        elif op == "Conv" and index == 1 or op == "Gather" and index == 0:
            axis = 0
        elif op == "ConvTranspose" and index == 1:
            axis = 1
        else:
            continue
        return axis if weight.dims[axis] > 1 else None
    return None


def _is_linear_weight(reads: list[graphs.Use]) -> bool:
    return bool(reads) and all(u.node.op_type in LINEAR_OPS and u.index == 1 for u in reads)


def _to_opset_21(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    current = graphs.default_opset(model)
    if current >= OPSET_UINT4:
        if model.ir_version < IR_UINT4:
            model.ir_version = IR_UINT4
        return model, []
    try:
        converted = onnx.version_converter.convert_version(model, OPSET_UINT4)
    except Exception as exc:  # the converter raises RuntimeError/ValidationError with the failing op
        raise MethodError(
            f"4-bit weights need opset {OPSET_UINT4} (uint4 DequantizeLinear); the model is opset {current} "
            f"and onnx's version converter failed: {str(exc).strip().splitlines()[0][:200]}"
        ) from exc
    converted.ir_version = max(int(converted.ir_version), IR_UINT4)
    return converted, [f"converted from opset {current} to {OPSET_UINT4} for uint4 DequantizeLinear"]


def _prepared(
    model: onnx.ModelProto, bits: int, per_channel: bool
) -> tuple[onnx.ModelProto, bool, list[str]]:
    """`model` ready for DequantizeLinear (Constant nodes as initializers, opset 21 for 4 bits), whether its
    scales can be per channel, and notes on what had to change."""
    notes: list[str] = []
    graphs.constants_to_initializers(model.graph)
    if bits == 4:
        model, converted = _to_opset_21(model)
        notes.extend(converted)
    opset = graphs.default_opset(model)
    if opset < 10:
        raise MethodError(f"DequantizeLinear needs opset 10 or later; the model is opset {opset}")
    if per_channel and opset < OPSET_PER_CHANNEL:
        per_channel = False
        notes.append(
            f"per-tensor scales: per-channel DequantizeLinear needs opset {OPSET_PER_CHANNEL}, model has {opset}"
        )
    return model, per_channel, notes


def _dequantized(
    graph: onnx.GraphProto,
    weight: onnx.TensorProto,
    n_bits: int,
    axis: int | None,
    fresh: Callable[[str], str],
) -> onnx.NodeProto:
    """Replace the initializer `weight` of `graph` by its codes, scale and zero point; return the
    DequantizeLinear node that computes it from them."""
    q = linear_quantize(graphs.to_array(weight), n_bits, axis)
    code_type = ml_dtypes.uint4 if n_bits == 4 else np.uint8
    names = [
        fresh(f"{weight.name}_quantized"),
        fresh(f"{weight.name}_scale"),
        fresh(f"{weight.name}_zero_point"),
    ]
    graph.initializer.extend(
        [
            numpy_helper.from_array(q.codes.astype(code_type), names[0]),
            numpy_helper.from_array(q.scale, names[1]),
            numpy_helper.from_array(q.zero_point.astype(code_type), names[2]),
        ]
    )
    # The dequantized tensor keeps the weight's name, so every reader (subgraphs included) is unchanged.
    node = helper.make_node("DequantizeLinear", names, [weight.name], name=fresh(f"{weight.name}_dequantize"))
    if axis is not None:
        node.attribute.append(helper.make_attribute("axis", axis))
    graph.initializer.remove(weight)
    graphs.drop_initializer_input(graph, weight.name)
    return node


def _quantize_graph(
    graph: onnx.GraphProto, bits: int, per_channel: bool, fresh: Callable[[str], str]
) -> list[int]:
    """Quantize the weights of `graph` itself (not its subgraphs); the bits of each tensor quantized."""
    reads = graphs.uses(graph)
    new_nodes = []
    done = []
    for weight in graphs.weight_initializers(graph):
        tensor_reads = reads.get(weight.name, [])
        if not tensor_reads and weight.name not in {o.name for o in graph.output}:
            continue  # unused: onnxruntime drops it anyway
        n_bits = 4 if bits == 4 and _is_linear_weight(tensor_reads) else 8
        axis = _channel_axis(weight, tensor_reads) if per_channel else None
        new_nodes.append(_dequantized(graph, weight, n_bits, axis, fresh))
        done.append(n_bits)
    if new_nodes:
        rest = list(graph.node)
        del graph.node[:]
        graph.node.extend(new_nodes + rest)
    return done


def _summary(counts: dict[int, int], bits: int, per_channel: bool) -> str:
    """What was quantized how; MethodError when nothing (or, for 4 bits, no MatMul/Gemm weight) was."""
    if not counts[4] and not counts[8]:
        raise MethodError(
            f"no float weight has {graphs.MIN_WEIGHT_ELEMENTS} or more values: nothing worth quantizing"
        )
    if bits == 4 and not counts[4]:
        raise MethodError("no MatMul/Gemm weight to store in 4 bits (8-bit weights only: use int8-weight)")
    done = ", ".join(f"{n} tensors in {b} bits" for b, n in sorted(counts.items(), reverse=True) if n)
    return f"{done}, {'per channel' if per_channel else 'per tensor'}"


def quantize_weights(model: onnx.ModelProto, bits: int, per_channel: bool) -> MethodResult:
    """Rewrite every weight of `model` (and its subgraphs) as codes + scale + zero point → DequantizeLinear."""
    model, per_channel, notes = _prepared(model, bits, per_channel)
    fresh = graphs.namer(model)
    counts = {4: 0, 8: 0}
    # Innermost graphs first: rewriting a graph's node list copies its nodes, subgraphs included.
    for graph in reversed(list(graphs.iter_graphs(model.graph))):
        for n_bits in _quantize_graph(graph, bits, per_channel, fresh):
            counts[n_bits] += 1
    notes.insert(0, _summary(counts, bits, per_channel))
    return MethodResult(model=model, session_config=dict(SESSION_CONFIG), notes=tuple(notes))


def _granularity(param: str | None) -> bool:
    if param in (None, "channel"):
        return True
    if param == "tensor":
        return False
    raise MethodError(f"unknown option {param!r}: use :channel (default) or :tensor")


def apply_int8(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    return quantize_weights(model, 8, _granularity(param))


def apply_int4(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    return quantize_weights(model, 4, _granularity(param))
