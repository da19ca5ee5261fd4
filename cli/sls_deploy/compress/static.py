"""onnxruntime static int8 quantization (`int8-static[:tensor|channel]`): QDQ format, activation ranges
calibrated on the sample inputs (MinMax).

Activations are unsigned (QUInt8) for an x86_64 deployment and signed (QInt8) for arm64, as onnxruntime
recommends for each platform's int8 kernels; weights are signed int8. The result only runs faster when
onnxruntime fuses the QDQ pairs into integer kernels (so no `session.disable_quant_qdq` here). Calibration on
random inputs gives random ranges: the gate will usually refuse it then. Runs quant_pre_process first where
it succeeds. Writes files under the work folder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import onnx

from ..model.samples import Samples, batchable_rows
from .base import MethodContext, MethodResult, per_channel_option
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


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    per_channel = per_channel_option(param)
    activations = QuantType.QInt8 if ctx.arch == "arm64" else QuantType.QUInt8
    model, note = pre_process(model, ctx.work_dir)
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
            activation_type=activations,
            weight_type=QuantType.QInt8,
        )
    )
    signed = "signed" if activations == QuantType.QInt8 else "unsigned"
    return MethodResult(
        model=onnx.load(str(dest)),
        notes=(
            note,
            f"{signed} activations for {ctx.arch}, calibrated on {len(batches)} batch(es) from {ctx.samples.source}",
            *messages,
        ),
    )
