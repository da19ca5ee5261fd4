"""The product's linear quantizer: Q(x) = round((x − x_min)/(x_max − x_min)·(2ⁿ−1)), asymmetric, per tensor
or per channel, n = 8 or 4. Pure numpy, no side effects.

Two adjustments make the codes storable behind ONNX DequantizeLinear, whose zero point is an integer:
the range [x_min, x_max] is first widened to include 0, then shifted by less than half a step so that
−x_min/step is a whole number (the zero point). The step (x_max − x_min)/(2ⁿ−1) is unchanged, so Q follows the
formula on that shifted range, and 0.0 is stored exactly (pruned weights and zero padding stay zero).
Dequantization is then DequantizeLinear's own: x̂ = (Q − zero_point)·scale, with scale = the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantizedTensor:
    codes: np.ndarray  # uint8 values in [0, 2ⁿ−1], the input's shape
    scale: np.ndarray  # float32; a scalar (per tensor) or one per channel along `axis`
    zero_point: np.ndarray  # uint8, the shape of `scale`
    bits: int
    axis: int | None  # None: per tensor

    def dequantize(self) -> np.ndarray:
        """x̂ = (Q − zero_point)·scale, as DequantizeLinear computes it (float32)."""
        scale, zero = self.scale, self.zero_point.astype(np.float32)
        if self.axis is not None:
            shape = [1] * self.codes.ndim
            shape[self.axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return ((self.codes.astype(np.float32) - zero) * scale).astype(np.float32)


def linear_quantize(x: np.ndarray, bits: int, axis: int | None = None) -> QuantizedTensor:
    """Quantize `x` to `bits` (8 or 4) per tensor (`axis` None) or per channel along `axis`."""
    if bits not in (4, 8):
        raise ValueError(f"bits must be 8 or 4, not {bits}")
    values = np.asarray(x, dtype=np.float64)
    qmax = float(2**bits - 1)
    if axis is None:
        lo, hi = np.minimum(values.min(), 0.0), np.maximum(values.max(), 0.0)
    else:
        axis = axis % values.ndim
        others = tuple(i for i in range(values.ndim) if i != axis)
        lo = np.minimum(values.min(axis=others), 0.0)
        hi = np.maximum(values.max(axis=others), 0.0)
    span = np.asarray(hi - lo, dtype=np.float64)
    # max == min (only possible for an all-zero tensor or channel once 0 is in range): any positive step
    # stores it exactly, at the zero point.
    scale = np.where(span > 0, span / qmax, 1.0).astype(np.float32)
    step = scale.astype(np.float64)
    zero_point = np.clip(np.round(-np.asarray(lo) / step), 0.0, qmax)
    x_min = -zero_point * step  # the shifted range start: Q(x_min) = 0
    if axis is not None:
        shape = [1] * values.ndim
        shape[axis] = -1
        x_min_b, step_b = x_min.reshape(shape), step.reshape(shape)
    else:
        x_min_b, step_b = x_min, step
    codes = np.clip(np.round((values - x_min_b) / step_b), 0.0, qmax).astype(np.uint8)
    return QuantizedTensor(
        codes=codes,
        scale=np.asarray(scale, dtype=np.float32),
        zero_point=np.asarray(zero_point, dtype=np.uint8),
        bits=bits,
        axis=axis,
    )
