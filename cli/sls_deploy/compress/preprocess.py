"""Graph optimisation before onnxruntime's int8 quantizers: onnxruntime.quantization's quant_pre_process
(symbolic shape inference + onnxruntime's basic graph optimisations + ONNX shape inference), which lets the
quantizers see fused, shape-annotated operators. Needs sympy. Writes files under the work folder it is
given, and changes into it while onnxruntime's tool runs.

Several candidates of one compression run (int8-dynamic, its per-channel and mixed variants, int8-static)
pre-process the same model: the last result is kept in memory (keyed by the model's bytes) and shared.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import onnx

from .runner import run_quantizer

_LAST: dict[str, tuple[bytes, str]] = {}  # sha256 of the input model → (the optimised model, the note)


def _optimised(model: onnx.ModelProto, work_dir: Path) -> tuple[onnx.ModelProto, str]:
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:  # sympy missing
        return model, f"graph optimisation skipped ({exc}; install sympy)"
    work_dir.mkdir(parents=True, exist_ok=True)
    source, dest = work_dir / "pre-in.onnx", work_dir / "pre-out.onnx"
    onnx.save_model(model, str(source))
    try:
        # On a failed symbolic shape inference onnxruntime saves "sym_shape_infer_temp.onnx" into the current
        # folder (onnxruntime/tools/symbolic_shape_infer.py): run it from the work folder instead.
        with contextlib.chdir(work_dir):
            run_quantizer(lambda: quant_pre_process(str(source.resolve()), str(dest.resolve())))
        optimised = onnx.load(str(dest))
    except Exception as exc:  # symbolic shape inference fails on some operators; quantize as it is then
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return model, f"graph optimisation skipped (quant_pre_process: {first})"
    return optimised, "optimised with quant_pre_process"


def pre_process(model: onnx.ModelProto, work_dir: Path) -> tuple[onnx.ModelProto, str]:
    """The optimised model and a note; on failure the model unchanged and a note saying why (never raises).
    Returns a fresh copy each time: the caller may change it."""
    data = model.SerializeToString()
    key = hashlib.sha256(data).hexdigest()
    if key not in _LAST:
        optimised, note = _optimised(model, work_dir)
        _LAST.clear()
        _LAST[key] = (data if optimised is model else optimised.SerializeToString(), note)
    stored, note = _LAST[key]
    copy = onnx.ModelProto()
    copy.ParseFromString(stored)
    return copy, note
