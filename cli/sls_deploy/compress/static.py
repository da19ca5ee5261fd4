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
from .runner import quantize_file
from .sensitivity import quantized

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

    batches = calibration_batches(ctx.samples)

    def tool(source: str, dest: str) -> None:
        quantize_static(
            source,
            dest,
            _Reader(batches),  # type: ignore[arg-type]  # a duck-typed CalibrationDataReader
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QInt8 if ctx.arch == "arm64" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude),
        )

    return quantize_file(model, ctx.work_dir, "static", tool)


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    per_channel, mixed = quant_options(param)
    model, note = pre_process(model, ctx.work_dir)
    signed = "signed" if ctx.arch == "arm64" else "unsigned"
    calibrated = (
        f"{signed} activations for {ctx.arch}, calibrated on "
        f"{len(calibration_batches(ctx.samples))} batch(es) from {ctx.samples.source}"
    )
    notes = (note, calibrated)
    return quantized(model, quantize, ctx, per_channel=per_channel, mixed=mixed, static=True, notes=notes)
