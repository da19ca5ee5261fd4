"""Graph fusion as an fp32 candidate (`fused`, `fused:bert`): onnxruntime's transformer optimizer rewrites
recognised transformer blocks into its fused kernels (Attention, SkipLayerNormalization, BiasGelu,
EmbedLayerNormalization, …), same weights, same precision. Combined with a quantizer (`fused+int8-dynamic`)
the quantizer works on the fused graph.

The handler's session already runs onnxruntime's own load-time optimizations (ORT_ENABLE_ALL, which fuse
some of the same patterns) on the original too, so the gate compares this candidate against the best fp32
the handler would run. The optimizer runs at opt_level 0 (its fusions only): the session adds its own on top.
Models whose graph shows no transformer block fail this candidate with the reason. Writes under the work
folder.
"""

from __future__ import annotations

from typing import Any

import onnx

from .base import MethodContext, MethodError, MethodResult
from .runner import run_quantizer

MODEL_TYPES = ("bert", "gpt2", "bart", "t5", "vit", "clip")  # onnxruntime.transformers' names


def detect_model_type(model: onnx.ModelProto) -> str | None:
    """ "bert" for a graph with attention (MatMul → Softmax) and layer normalization, else None: the optimizer's
    bert fusions cover the encoder blocks of BERT-, RoBERTa-, MiniLM- and DistilBERT-style exports."""
    ops = {node.op_type for node in model.graph.node}
    normalized = "LayerNormalization" in ops or {"ReduceMean", "Sqrt"} <= ops
    return "bert" if {"MatMul", "Softmax"} <= ops and normalized else None


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
    source = ctx.work_dir / "fused-in.onnx"
    onnx.save_model(model, str(source))
    optimized: list[Any] = []  # onnxruntime.transformers' OnnxModel
    messages = run_quantizer(
        lambda: optimized.append(
            optimize_model(str(source), model_type=model_type, num_heads=0, hidden_size=0, opt_level=0)
        )
    )
    optimizer = optimized[0]
    stats = {k: v for k, v in optimizer.get_fused_operator_statistics().items() if v}
    if not stats:
        raise MethodError(
            f"onnxruntime's transformer optimizer ({model_type}) found nothing to fuse in this graph"
        )
    fusions = ", ".join(f"{count} {op}" for op, count in sorted(stats.items()))
    return MethodResult(model=optimizer.model, notes=(f"fused ({model_type}): {fusions}", *messages))
