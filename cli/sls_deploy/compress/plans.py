"""The `--compress` language: `none`, `auto`, or plans such as `int8-weight`, `int4-weight:tensor`,
`prune:0.5+int8-weight`, `fused+int8-dynamic`, several separated by commas. Each plan is at most one pruning
step, then at most one graph fusion, then at most one quantizer. Pure parsing; the methods themselves live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import onnx

from ..core.errors import ConfigError
from . import blockwise, dynamic, fp16, fused, prune, static, weight_only
from .base import MethodContext, MethodResult

Apply = Callable[[onnx.ModelProto, "str | None", MethodContext], MethodResult]


@dataclass(frozen=True)
class Method:
    name: str
    apply: Apply
    stage: int  # 0: pruning (first), 1: graph fusion, 2: a quantizer (at most one of each, in this order)
    default_param: str | None
    summary: str


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "prune", prune.apply, 0, None, "zero the smallest |w| (prune:0.5 = half of each weight tensor)"
        ),
        Method(
            "fused",
            fused.apply,
            1,
            None,
            "onnxruntime's transformer optimizer: fused attention/LayerNorm/Gelu kernels, fp32",
        ),
        Method(
            "int8-weight",
            weight_only.apply_int8,
            2,
            "channel",
            "8-bit weights behind DequantizeLinear, fp32 speed",
        ),
        Method(
            "int4-weight",
            weight_only.apply_int4,
            2,
            "channel",
            "4-bit MatMul/Gemm weights (8-bit others), fp32 speed",
        ),
        Method(
            "int8-dynamic",
            dynamic.apply,
            2,
            "tensor",
            "onnxruntime quantize_dynamic (int8 weights, dynamic activations); :mixed keeps sensitive nodes fp32",
        ),
        Method(
            "int8-static",
            static.apply,
            2,
            "tensor",
            "onnxruntime quantize_static, QDQ, calibrated on the samples; :mixed keeps sensitive nodes fp32",
        ),
        Method(
            "int4-block",
            blockwise.apply,
            2,
            str(blockwise.DEFAULT_BLOCK),
            "onnxruntime MatMulNBits: 4-bit MatMul weights in blocks, int8 compute (int4-block:32)",
        ),
        Method("fp16", fp16.apply, 2, None, "float16 weights and compute (no CPU speed-up)"),
    )
}

AUTO = (
    "int8-weight:channel",
    "int8-weight:tensor",
    "int4-weight:channel",
    "int8-dynamic:tensor",
    "int8-dynamic:channel",
    "int8-dynamic:channel-mixed",
    "fused+int8-dynamic:channel-mixed",  # transformer encoders only: fails at once on other graphs
    "int8-static:tensor",
    "int4-block:32",
    "fp16",
)


@dataclass(frozen=True)
class Step:
    method: str
    param: str | None

    @property
    def label(self) -> str:
        return self.method if self.param is None else f"{self.method}:{self.param}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]  # empty: the original model

    @property
    def label(self) -> str:
        return "+".join(s.label for s in self.steps) or "none"

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.label)


NONE = Plan(())
HINT = (
    "use none, auto, or methods such as int8-weight, int4-weight, int8-dynamic, int8-dynamic:channel-mixed, "
    "int8-static, int4-block, fp16, prune:0.5, "
    "fused, combined with + (prune:0.5+int8-weight, fused+int8-dynamic); several plans separated by commas are "
    "measured side by side"
)


def _plan(text: str) -> Plan:
    steps: list[Step] = []
    for part in text.split("+"):
        name, _, param = part.strip().partition(":")
        method = METHODS.get(name)
        if method is None:
            raise ConfigError(f"unknown compression method {name!r} in --compress {text!r}", HINT)
        if name == "prune" and not param:
            raise ConfigError("prune needs a sparsity: prune:0.5 zeroes half of each weight tensor", HINT)
        steps.append(Step(name, param or method.default_param))
    stages = [METHODS[s.method].stage for s in steps]
    if stages != sorted(stages) or len(set(stages)) != len(stages):
        raise ConfigError(
            f"--compress {text!r}: a plan is at most one prune step, then at most one fused, then at most one "
            "quantizer",
            "write e.g. prune:0.5+int8-weight or fused+int8-dynamic",
        )
    return Plan(tuple(steps))


def parse(spec: str) -> tuple[Plan, ...]:
    """The plans `spec` names; () for "none". "auto" is the AUTO list."""
    text = spec.strip().lower()
    if text in ("", "none"):
        return ()
    parts = AUTO if text == "auto" else tuple(p for p in text.split(",") if p.strip())
    plans: list[Plan] = []
    for part in parts:
        plan = _plan(part) if part.strip() != "none" else NONE
        if plan not in plans:
            plans.append(plan)
    return tuple(p for p in plans if p != NONE)
