"""The conversion's gate: a model converted to ONNX must answer as the framework it came from does, on the
samples (the --sample arrays, else inputs generated from the signature), at their batch size and at batch 1.

Float outputs must agree within |onnx − source| ≤ ATOL + RTOL·|source|; integer outputs (labels) exactly. A
framework that computes in float64 where the ONNX model computes in float32 (scikit-learn) may flip a label or
a tree's branch on a near-tie: up to `row_share` of the rows may then differ. A failure is a ModelError naming
the output and the largest difference. Runs onnxruntime; no file I/O beyond loading the converted file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..core.errors import ModelError
from .onnx_model import inspect_model
from .samples import Samples, batchable_rows, generate_samples, load_samples

RTOL, ATOL = 1e-3, 1e-4
Run = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]  # feeds → outputs by name


def reference_samples(sample: Path | None, dest: Path) -> Samples:
    """The samples a conversion is checked on: the --sample arrays, else inputs made from the signature."""
    info = inspect_model(dest)  # also proves onnxruntime loads the converted file
    if sample is not None and sample.suffix.lower() in (".npz", ".npy"):
        return load_samples(sample, info.inputs)
    return generate_samples(info.inputs)


def onnx_runner(dest: Path) -> Run:
    import onnxruntime as ort

    from sls_inference.loader import session_options

    session = ort.InferenceSession(str(dest), session_options(None), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, feeds), strict=True))

    return run


def _mismatched_rows(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Per row (first axis), whether any value is out of tolerance."""
    if want.dtype.kind in "fc":
        bad = ~np.isclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        bad = got != want
    return bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim else bad.reshape(1)


def max_difference(got: np.ndarray, want: np.ndarray, row_share: float = 0.0) -> tuple[float, bool]:
    """(the largest |difference| — for integer outputs the number of differing values —, within tolerance)."""
    if got.shape != want.shape:
        return float("inf"), False
    if want.dtype.kind in "fc":
        diff = float(np.nanmax(np.abs(got.astype(np.float64) - want), initial=0.0))
    else:
        diff = float(np.sum(got != want))
    rows = _mismatched_rows(got, want)
    return diff, bool(rows.sum() <= row_share * rows.size)


def compare_outputs(
    framework: str, want: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], row_share: float = 0.0
) -> dict[str, float]:
    """Max |onnx − source| per output; ModelError when an output is missing or out of tolerance."""
    differences: dict[str, float] = {}
    for name, expected in want.items():
        if name not in got:
            raise ModelError(
                f"the converted model has no output '{name}' (it has {', '.join(got)})",
                "export the model to ONNX yourself and pass the .onnx file",
            )
        expected = np.asarray(expected)
        differences[name], close = max_difference(np.asarray(got[name]), expected, row_share)
        if not close:
            batch = expected.shape[0] if expected.ndim else 1
            raise ModelError(
                f"the ONNX conversion disagrees with {framework} on output '{name}' (batch {batch}): max "
                f"|difference| {differences[name]:.3g} > {ATOL:g} + {RTOL:g}·|value|",
                f"check the model's operators against the converter's support for {framework}, or export "
                "it to ONNX yourself",
            )
    return differences


def check_conversion(
    framework: str, source: Run, converted: Run, samples: Samples, row_share: float = 0.0
) -> dict[str, float]:
    """`converted` against `source` on the samples and, when they are a batch, on their first row alone."""
    feeds = dict(samples.arrays)
    differences = compare_outputs(framework, source(feeds), converted(feeds), row_share)
    if batchable_rows(samples):
        one = {k: v[:1] for k, v in feeds.items()}
        single = compare_outputs(framework, source(one), converted(one), row_share)
        differences = {k: max(v, single[k]) for k, v in differences.items()}
    return differences
