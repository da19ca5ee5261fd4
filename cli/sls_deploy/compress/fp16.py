"""float16 weights and compute (`fp16`), converted with onnxruntime.transformers.float16; inputs and outputs
stay float32 (Cast nodes at the edges), ONNX-ML and other non-default-domain operators stay float32.

What it buys: a file half the size. What it does not: CPU speed — onnxruntime's CPU kernels mostly compute
in fp32, so the inserted Casts usually make it slower; the gate measures it. Changes nothing on disk.
"""

from __future__ import annotations

import onnx

from .base import MethodContext, MethodResult
from .runner import run_quantizer


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    blocked = [n.name for n in model.graph.node if n.domain not in ("", "ai.onnx") and n.name]
    converted: list[onnx.ModelProto] = []
    messages = run_quantizer(
        lambda: converted.append(
            convert_float_to_float16(
                model, keep_io_types=True, op_block_list=list(DEFAULT_OP_BLOCK_LIST), node_block_list=blocked
            )
        )
    )
    return MethodResult(
        model=converted[0],
        notes=(
            "float16 weights, float32 inputs and outputs; no CPU speed-up (Casts, fp32 kernels)",
            *messages,
        ),
    )
