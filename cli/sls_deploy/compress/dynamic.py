"""onnxruntime dynamic int8 quantization (`int8-dynamic[:tensor|channel]`): int8 weights, activations
quantized on the fly at every run (MatMulInteger / ConvInteger / DynamicQuantizeLinear).

Smaller file, integer kernels; on small models and on CPUs without fast int8 paths the per-run
activation quantization can make it slower than fp32 (measured up to 5×), per-tensor weights can cost accuracy:
the gate measures both. Runs quant_pre_process first where it succeeds. Writes files under the work folder.
"""

from __future__ import annotations

import onnx

from .base import MethodContext, MethodResult, per_channel_option
from .preprocess import pre_process
from .runner import run_quantizer


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    per_channel = per_channel_option(param)
    model, note = pre_process(model, ctx.work_dir)
    source, dest = ctx.work_dir / "dynamic-in.onnx", ctx.work_dir / "dynamic-out.onnx"
    onnx.save_model(model, str(source))
    messages = run_quantizer(
        lambda: quantize_dynamic(str(source), str(dest), per_channel=per_channel, weight_type=QuantType.QInt8)
    )
    granularity = "per channel" if per_channel else "per tensor"
    return MethodResult(model=onnx.load(str(dest)), notes=(note, f"int8 weights {granularity}", *messages))
