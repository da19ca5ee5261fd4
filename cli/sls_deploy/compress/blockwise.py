"""Blockwise 4-bit MatMul weights (`int4-block[:BLOCK]`, BLOCK 16–256, default 32) through onnxruntime's own
MatMulNBitsQuantizer: every MatMul with a constant weight becomes a com.microsoft MatMulNBits node holding
4-bit codes with one scale and zero point per BLOCK weights along the input axis.

Unlike `int4-weight` (codes behind DequantizeLinear, folded back to fp32 at load time) the weights stay 4-bit in
memory and onnxruntime's MLAS kernels compute with them: with accuracy_level 4 (used here) activations are
quantized to int8 per block inside the kernel, which is where the speed comes from on x86_64 and arm64. Other
weights (Gemm, Conv, embedding tables) stay fp32. Needs onnx-ir (the `compress` extra). Writes nothing.
"""

from __future__ import annotations

import logging

import onnx

from .base import MethodContext, MethodError, MethodResult
from .runner import run_quantizer

DEFAULT_BLOCK = 32
BLOCKS = (16, 32, 64, 128, 256)
ACCURACY_LEVEL = 4  # int8 compute inside MatMulNBits (0/1: fp32 compute, slower, a little more exact)


def parse_block(param: str | None) -> int:
    try:
        block = int(param) if param is not None else DEFAULT_BLOCK
    except ValueError:
        block = 0
    if block not in BLOCKS:
        raise MethodError(f"int4-block needs a block size of {', '.join(map(str, BLOCKS))} (got {param!r})")
    return block


def _quantizer() -> type:
    # Importing the module calls logging.basicConfig(level=INFO), which would print every later log record
    # of the process; basicConfig does nothing while the root logger has a handler.
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:  # onnx-ir missing
        raise MethodError(
            f"onnxruntime's MatMulNBits quantizer cannot be imported ({exc}): pip install 'sls-deploy[compress]'"
        ) from exc
    finally:
        root.removeHandler(placeholder)
    return MatMulNBitsQuantizer  # type: ignore[no-any-return]


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    block = parse_block(param)
    before = sum(1 for n in model.graph.node if n.op_type == "MatMul")
    quantizer = _quantizer()(model, block_size=block, is_symmetric=False, accuracy_level=ACCURACY_LEVEL)
    messages = run_quantizer(quantizer.process)
    result: onnx.ModelProto = quantizer.model.model
    packed = sum(1 for n in result.graph.node if n.op_type == "MatMulNBits")
    if not packed:
        raise MethodError(
            "no MatMul with a constant weight (of a shape MatMulNBits takes) found: nothing to quantize to 4 bits"
        )
    return MethodResult(
        model=result,
        notes=(
            f"{packed} of {before} MatMul as 4-bit MatMulNBits, blocks of {block}, int8 compute "
            f"(accuracy level {ACCURACY_LEVEL}); Gemm/Conv/other weights fp32",
            *messages,
        ),
    )
