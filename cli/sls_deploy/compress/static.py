"""onnxruntime static int8 quantization (`int8-static[:tensor|channel][-mixed]`): QDQ format, activation
ranges calibrated on the calibration rows (MinMax); `-mixed` keeps the most sensitive nodes fp32 (sensitivity.py).

Activations are unsigned (QUInt8) for an x86_64 deployment and signed (QInt8) for arm64, as onnxruntime
recommends for each platform's int8 kernels; weights are signed int8. The result only runs faster when
onnxruntime fuses the QDQ pairs into integer kernels (so no `session.disable_quant_qdq` here). Calibration on
random inputs gives random ranges: the gate will usually refuse it then. Runs quant_pre_process first where
it succeeds. Writes files under the work folder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import onnx

from ..model.samples import Samples, batchable_rows
from .base import MethodContext, MethodResult, quant_options
from .preprocess import pre_process
from .runner import run_quantizer

MAX_CALIBRATION_BATCHES = 64


def calibration_batches(
    samples: Samples, limit: int = MAX_CALIBRATION_BATCHES
) -> list[dict[str, np.ndarray]]:
    """The samples one row at a time when every input has the row axis first, else as one batch."""
    arrays = dict(samples.arrays)
    rows = batchable_rows(samples)
    if rows is not None:
        return [{k: v[i : i + 1] for k, v in arrays.items()} for i in range(min(rows, limit))]
    return [arrays]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol (get_next → feed dict or None)."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self._batches: Iterator[Mapping[str, np.ndarray]] = iter(batches)

    def get_next(self) -> Mapping[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize(
    model: onnx.ModelProto, per_channel: bool, ctx: MethodContext, exclude: Sequence[str] = ()
) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """`model` (pre-processed already) through quantize_static, calibrated on ctx.samples, the nodes named in
    `exclude` left fp32."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    source, dest = ctx.work_dir / "static-in.onnx", ctx.work_dir / "static-out.onnx"
    onnx.save_model(model, str(source))
    batches = calibration_batches(ctx.samples)
    messages = run_quantizer(
        lambda: quantize_static(
            str(source),
            str(dest),
            _Reader(batches),  # type: ignore[arg-type]  # a duck-typed CalibrationDataReader
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QInt8 if ctx.arch == "arm64" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
        )
    )
    return onnx.load(str(dest)), messages


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    per_channel, mixed = quant_options(param)
    model, note = pre_process(model, ctx.work_dir)
    signed = "signed" if ctx.arch == "arm64" else "unsigned"
    calibrated = (
        f"{signed} activations for {ctx.arch}, calibrated on "
        f"{len(calibration_batches(ctx.samples))} batch(es) from {ctx.samples.source}"
    )
    if mixed:
        from .sensitivity import mixed_precision

        def build(exclude: Sequence[str]) -> tuple[onnx.ModelProto, tuple[str, ...]]:
            return quantize(model, per_channel, ctx, exclude)

        result = mixed_precision(model, build, ctx, per_channel=per_channel, static=True)
        return MethodResult(result.model, result.session_config, notes=(note, calibrated, *result.notes))
    quantized, messages = quantize(model, per_channel, ctx)
    return MethodResult(model=quantized, notes=(note, calibrated, *messages))
