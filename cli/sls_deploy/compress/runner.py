"""Running onnxruntime's quantization tools quietly: their `logging` records, Python warnings and what they
print() (symbolic shape inference prints its failures) are collected and returned as notes for the report
instead of being shown. Side effects: while `fn` runs, a
capturing handler sits on the root logger (so logging.warning() does not install a stderr handler of its own).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

MAX_NOTES = 3
MAX_NOTE_CHARS = 160
# onnxruntime's advice to run quant_pre_process: the methods run it themselves and note the outcome.
KNOWN_ADVICE = ("consider to run pre-processing", "consider pre-processing")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_quantizer(fn: Callable[[], Any]) -> tuple[str, ...]:
    """Call `fn`; return up to MAX_NOTES distinct warning messages it logged or warned (shortened)."""
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            fn()
    finally:
        root.removeHandler(handler)
    seen: list[str] = []
    lines = printed.getvalue().splitlines()
    for text in [*handler.messages, *(str(w.message) for w in caught), *lines]:
        line = " ".join(text.split())[:MAX_NOTE_CHARS]
        if line and line not in seen and not any(a in line.lower() for a in KNOWN_ADVICE):
            seen.append(line)
    return tuple(seen[:MAX_NOTES])


def quantize_file(
    model: onnx.ModelProto, work_dir: Path, stem: str, tool: Callable[[str, str], Any]
) -> tuple[onnx.ModelProto, tuple[str, ...]]:
    """`model` through onnxruntime's file-to-file `tool(source, dest)`, run quietly: the result and its notes."""
    source, dest = work_dir / f"{stem}-in.onnx", work_dir / f"{stem}-out.onnx"
    onnx.save_model(model, str(source))
    messages = run_quantizer(lambda: tool(str(source), str(dest)))
    return onnx.load(str(dest)), messages
