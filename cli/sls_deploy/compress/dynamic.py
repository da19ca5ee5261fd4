"""onnxruntime dynamic int8 quantization (`int8-dynamic[:tensor|channel][-mixed]`): int8 weights, activations
quantized on the fly at every run (MatMulInteger / ConvInteger / DynamicQuantizeLinear).

Smaller file, integer kernels; on small models and on CPUs without fast int8 paths the per-run
activation quantization can make it slower than fp32 (measured up to 5×), per-tensor weights can cost accuracy:
the gate measures both. `-mixed` keeps the most sensitive nodes fp32 until the calibration rows agree
(sensitivity.py). Runs quant_pre_process first where it succeeds. Writes files under the work folder.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from .base import MethodContext, MethodResult, quant_options
from .preprocess import pre_process
from .runner import quantize_file
from .sensitivity import quantized


def quantize(
    model: onnx.ModelProto, per_channel: bool, ctx: MethodContext, exclude: Sequence[str] = ()
) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """`model` (pre-processed already) through quantize_dynamic, the nodes named in `exclude` left fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def tool(source: str, dest: str) -> None:
        quantize_dynamic(
            source, dest, per_channel=per_channel, weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude)
        )

    return quantize_file(model, ctx.work_dir, "dynamic", tool)


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    per_channel, mixed = quant_options(param)
    model, note = pre_process(model, ctx.work_dir)
    notes = (note, f"int8 weights {'per channel' if per_channel else 'per tensor'}")
    return quantized(model, quantize, ctx, per_channel=per_channel, mixed=mixed, static=False, notes=notes)
