"""Graph fusion as an fp32 candidate (`fused`, `fused:bert`): onnxruntime's transformer optimizer rewrites
recognised transformer blocks into its fused kernels (Attention, SkipLayerNormalization, BiasGelu,
EmbedLayerNormalization, …), same weights, same precision. Combined with a quantizer (`fused+int8-dynamic`)
the quantizer works on the fused graph.

The handler's session already runs onnxruntime's own load-time optimizations (ORT_ENABLE_ALL, which fuse
some of the same patterns) on the original too, so the gate compares this candidate against the best fp32
the handler would run. The optimizer runs at opt_level 1: onnxruntime's basic graph optimizations first
(constant folding; without them the attention pattern of a torch export is not recognised), then its
fusions; the session adds its own on top.
Models whose graph shows no transformer block fail this candidate with the reason. Writes under the work
folder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper

from ..model.samples import Samples
from .base import MethodContext, MethodError, MethodResult
from .runner import run_quantizer
from .sensitivity import capture
from .validation import spread_subset

MODEL_TYPES = ("bert", "gpt2", "bart", "t5", "vit", "clip")  # onnxruntime.transformers' names


def detect_model_type(model: onnx.ModelProto) -> str | None:
    """ "bert" for a graph with attention (MatMul → Softmax) and layer normalization, else None: the optimizer's
    bert fusions cover the encoder blocks of BERT-, RoBERTa-, MiniLM- and DistilBERT-style exports."""
    ops = {node.op_type for node in model.graph.node}
    normalized = "LayerNormalization" in ops or {"ReduceMean", "Sqrt"} <= ops
    return "bert" if {"MatMul", "Softmax"} <= ops and normalized else None


def attention_shape(model: onnx.ModelProto, samples: Samples) -> tuple[int, int]:
    """(num_heads, hidden_size), which the optimizer's attention fusion needs and cannot read from a torch
    export (its reshapes are computed from Shape): the first Softmax's input, captured on one sample row, is
    (batch, heads, query, key); the first LayerNormalization's scale has hidden_size values. (0, 0) where
    either is not found (the optimizer then tries to detect them itself)."""
    softmax = next((n for n in model.graph.node if n.op_type == "Softmax"), None)
    norm = next((n for n in model.graph.node if n.op_type == "LayerNormalization"), None)
    scales = {i.name: i.dims for i in model.graph.initializer}
    hidden = list(scales.get(norm.input[1], [])) if norm is not None and len(norm.input) > 1 else []
    if softmax is None or len(hidden) != 1:
        return 0, 0
    try:
        scores = capture(model, [softmax.input[0]], spread_subset(samples, 1))
    except Exception:  # a graph onnxruntime cannot run with an extra output: let the optimizer detect
        return 0, 0
    shape = scores[softmax.input[0]].shape
    heads = shape[1] if len(shape) == 4 else 0
    return (heads, hidden[0]) if heads and hidden[0] % heads == 0 else (0, 0)


def annotate_types(model: onnx.ModelProto, samples: Samples) -> None:
    """Give every untyped tensor its element type and rank, read from a run on one sample row: the fused
    kernels (com.microsoft) are unknown to ONNX shape inference and onnxruntime's symbolic one fails on
    torch exports, yet the quantizers need every tensor's type."""
    typed = {v.name for v in (*model.graph.value_info, *model.graph.input, *model.graph.output)}
    typed |= {i.name for i in model.graph.initializer}
    names = [out for node in model.graph.node for out in node.output if out and out not in typed]
    values = capture(model, names, spread_subset(samples, 1))
    model.graph.value_info.extend(
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), [None] * value.ndim)
        for name, value in values.items()
        if isinstance(value, np.ndarray) and value.dtype != object
    )


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    from onnxruntime.transformers.optimizer import optimize_model

    if param is not None and param not in MODEL_TYPES:
        raise MethodError(f"unknown model type {param!r}: use one of {', '.join(MODEL_TYPES)}")
    model_type = param or detect_model_type(model)
    if model_type is None:
        raise MethodError(
            "no transformer block recognised (attention MatMul → Softmax with layer normalization): nothing "
            "for onnxruntime's transformer optimizer to fuse; name the type (fused:bert) to try anyway"
        )
    heads, hidden = attention_shape(model, ctx.samples)
    source = ctx.work_dir / "fused-in.onnx"
    onnx.save_model(model, str(source))
    optimized: list[Any] = []  # onnxruntime.transformers' OnnxModel
    messages = run_quantizer(
        lambda: optimized.append(
            optimize_model(
                str(source), model_type=model_type, num_heads=heads, hidden_size=hidden, opt_level=1
            )
        )
    )
    optimizer = optimized[0]
    stats = {k: v for k, v in optimizer.get_fused_operator_statistics().items() if v}
    if not stats:
        raise MethodError(
            f"onnxruntime's transformer optimizer ({model_type}) found nothing to fuse in this graph"
        )
    fusions = ", ".join(f"{count} {op}" for op, count in sorted(stats.items()))
    fused_model: onnx.ModelProto = optimizer.model
    if not any(o.domain == "com.microsoft" for o in fused_model.opset_import):
        # The fused kernels live in onnxruntime's domain: the quantizers' shape inference needs it imported.
        fused_model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    annotate_types(fused_model, ctx.samples)
    return MethodResult(model=fused_model, notes=(f"fused ({model_type}): {fusions}", *messages))
