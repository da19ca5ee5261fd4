"""Mixed precision by sensitivity (`int8-dynamic:mixed`, `int8-dynamic:channel-mixed`, `int8-static:mixed`, …):
int8 everywhere except the nodes whose quantization costs the most agreement, which stay fp32.

1. Rank. Every MatMul/Gemm/Conv with a constant float weight is scored by the error int8 adds to its own
   output on the calibration rows: the fp32 inputs it sees there are captured in one run of the model, then
   its output is recomputed in numpy with input and weight through the 8-bit linear quantizer (linear.py) —
   per sample for dynamic activations (one request's range), over all calibration rows for static ones. A
   Conv (or a node whose input does not line up with its weight) is scored by the sum of its input's and its
   weight's relative quantization errors instead of a numpy convolution.
2. Search. The whole model quantized first; then the 1, 2, 4, 8… highest-scoring nodes kept fp32 until the
   probe (agreement with the original on the calibration rows, base.Probe) clears the threshold with a margin;
   then a bisection between the last failing and the first passing count. For a static (QDQ) model a kept
   node's input producers (Mul, Add, …) stay fp32 with it, else its input still passes through int8. At most
   half the nodes stay fp32
   and at most MAX_PROBES quantizations run, else the candidate fails with the best agreement it reached.
3. Store. With dynamic quantization the weights left fp32 are then stored as 8-bit codes behind
   DequantizeLinear (weight_only.py), which the session folds back to fp32 at load time: the kept nodes
   compute in fp32, the file is about as small as all-int8 — unless that costs the agreement on the
   calibration rows (then they stay fp32 on disk too). Not for static QDQ models: the session entry that
   folds them would also stop onnxruntime's QDQ fusions.

The validation rows are never looked at here: the gate judges the result on them afterwards. Names unnamed
nodes of the model it is given (the quantizers exclude nodes by name); runs onnxruntime sessions, no files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from ..model import graphs
from ..model.samples import Samples
from .base import MethodContext, MethodError, MethodResult, Probe
from .gate import Agreement
from .linear import linear_quantize
from .weight_only import quantize_weights

OPS = frozenset({"MatMul", "Gemm", "Conv"})
MAX_ROWS = 2048  # input rows per node used for the ranking
MAX_PROBES = 10
MARGIN = 0.2  # the calibration agreement must clear threshold + MARGIN·(1 − threshold)
SHOWN_NAMES = 4

Build = Callable[[Sequence[str]], tuple[onnx.ModelProto, tuple[str, ...]]]
# an int8 quantizer (dynamic.quantize, static.quantize): model, per channel, context, nodes left fp32
Quantize = Callable[
    [onnx.ModelProto, bool, MethodContext, Sequence[str]], tuple[onnx.ModelProto, tuple[str, ...]]
]


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    activation: str  # the input the weight multiplies
    weight: np.ndarray  # MatMul/Gemm as (K, N); Conv as stored


@dataclass(frozen=True)
class Mixed:
    model: onnx.ModelProto
    kept_fp32: tuple[str, ...]
    notes: tuple[str, ...]
    session_config: dict[str, str]


def name_nodes(model: onnx.ModelProto) -> None:
    """Give every unnamed top-level node a fresh name (the quantizers exclude nodes by name)."""
    fresh = graphs.namer(model)
    for node in model.graph.node:
        if not node.name:
            node.name = fresh(node.op_type)


def _weight(node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto]) -> np.ndarray | None:
    if len(node.input) < 2 or node.input[1] not in initializers:
        return None
    weight = numpy_helper.to_array(initializers[node.input[1]])
    if weight.dtype.kind != "f" or (node.op_type != "Conv" and weight.ndim != 2):
        return None
    if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
        weight = weight.T
    return weight.astype(np.float32)


def quantizable(model: onnx.ModelProto) -> list[Node]:
    """The top-level MatMul/Gemm/Conv nodes with a constant float weight, in graph order."""
    initializers = {i.name: i for i in model.graph.initializer}
    found = []
    for node in model.graph.node:
        if node.op_type in OPS and node.input:
            weight = _weight(node, initializers)
            if weight is not None:
                found.append(Node(node.name, node.op_type, node.input[0], weight))
    return found


def capture(model: onnx.ModelProto, names: Sequence[str], samples: Samples) -> dict[str, np.ndarray]:
    """The values the tensors `names` take when `model` runs on `samples` (graph inputs taken from them)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    fed = {i.name for i in probe.graph.input} & set(samples.arrays)
    known = {o.name for o in probe.graph.output}
    fetch = [n for n in dict.fromkeys(names) if n not in fed]
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in fetch if n not in known)
    values: dict[str, np.ndarray] = {}
    if fetch:
        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        values.update(zip(fetch, session.run(fetch, dict(samples.arrays)), strict=True))
    values.update({n: np.asarray(samples.arrays[n]) for n in names if n in fed})
    return values


def _relative(approx: np.ndarray, exact: np.ndarray) -> float:
    norm = float(np.linalg.norm(exact))
    return float(np.linalg.norm(approx - exact)) / norm if norm > 0 else 0.0


def _fake_quantized(x: np.ndarray, axis: int | None) -> np.ndarray:
    return linear_quantize(x, 8, axis).dequantize()


def score(node: Node, x: np.ndarray, per_channel: bool, static: bool) -> float:
    """The relative error int8 adds to `node`'s output when its input takes the values `x`."""
    x = np.asarray(x, dtype=np.float32)
    x_q = _fake_quantized(x, None if static or x.ndim < 2 else 0)
    w_axis = (0 if node.op == "Conv" else 1) if per_channel else None
    w_q = _fake_quantized(node.weight, w_axis)
    k = node.weight.shape[0]
    if node.op == "Conv" or x.shape[-1] != k or node.weight.ndim != 2:
        return _relative(x_q, x) + _relative(w_q, node.weight)
    flat, flat_q = x.reshape(-1, k), x_q.reshape(-1, k)
    rows = np.unique(np.linspace(0, len(flat) - 1, min(len(flat), MAX_ROWS)).astype(np.int64))
    return _relative(flat_q[rows] @ w_q, flat[rows] @ node.weight)


def rank(
    model: onnx.ModelProto, samples: Samples, per_channel: bool, static: bool
) -> list[tuple[str, float]]:
    """(node name, score) for every quantizable node, the most sensitive first."""
    nodes = quantizable(model)
    values = capture(model, [n.activation for n in nodes], samples)
    scored = [(n.name, score(n, values[n.activation], per_channel, static)) for n in nodes]
    return sorted(scored, key=lambda item: -item[1])


def with_producers(model: onnx.ModelProto, names: Sequence[str]) -> list[str]:
    """`names` and the non-weight nodes producing their inputs (for static quantization: a QDQ pair sits on
    any tensor a quantized node reads or writes)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    wanted = set(names)
    extra = [
        producer.name
        for node in model.graph.node
        if node.name in wanted
        for name in node.input
        if (producer := producers.get(name)) is not None and producer.op_type not in OPS
    ]
    return list(dict.fromkeys([*names, *extra]))


def _passes(agreement: Agreement, threshold: float) -> bool:
    return agreement.value is not None and agreement.value >= threshold + MARGIN * (1.0 - threshold)


def _counts(limit: int) -> list[int]:
    """0, 1, 2, 4, 8, … up to `limit` (included)."""
    counts, k = [0], 1
    while k < limit:
        counts.append(k)
        k *= 2
    return [*counts, limit] if limit > 0 else counts


@dataclass
class _Search:
    ranked: list[str]
    build: Build
    probe: Probe
    tried: dict[int, tuple[onnx.ModelProto, Agreement]]
    expand: Callable[[Sequence[str]], Sequence[str]] = list

    def passes(self, k: int) -> bool:
        model, _ = self.build(self.expand(self.ranked[:k]))
        agreement = self.probe(model)
        self.tried[k] = (model, agreement)
        return _passes(agreement, self.probe.threshold)

    def first_passing(self) -> int | None:
        """The smallest count found to pass: doubling, then bisecting."""
        low, high = -1, None
        for k in _counts(len(self.ranked) // 2):
            if len(self.tried) >= MAX_PROBES:
                break
            if self.passes(k):
                high = k
                break
            low = k
        while high is not None and high - low > 1 and len(self.tried) < MAX_PROBES:
            mid = (low + high) // 2
            if self.passes(mid):
                high = mid
            else:
                low = mid
        return high


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _refusal(search: _Search) -> MethodError:
    best_k, (_, best) = max(search.tried.items(), key=lambda item: item[1][1].value or -1.0)
    value = "n/a" if best.value is None else f"{best.value:.4f}"
    return MethodError(
        f"mixed precision found no split: the best was {value} {best.metric} on the calibration rows with "
        f"{best_k} of {len(search.ranked)} nodes fp32 (needs ≥ {search.probe.threshold:.4f} plus a margin; "
        f"{len(search.tried)} quantizations tried, at most half the nodes stay fp32)"
    )


def mixed_precision(
    model: onnx.ModelProto, build: Build, ctx: MethodContext, *, per_channel: bool, static: bool
) -> Mixed:
    """`build` (quantize `model`, the named nodes left fp32) with as few nodes fp32 as the calibration rows
    allow."""
    if ctx.probe is None:
        raise MethodError(
            "mixed precision needs the compression gate's calibration rows (run it via compress)"
        )
    name_nodes(model)
    ranked = rank(model, ctx.probe.samples, per_channel, static)  # the rows the search compares on
    if not ranked:
        raise MethodError("no MatMul/Gemm/Conv with a constant float weight: nothing to keep fp32")
    expand = (lambda names: with_producers(model, names)) if static else list
    search = _Search([name for name, _ in ranked], build, ctx.probe, {}, expand)
    chosen = search.first_passing()
    if chosen is None:
        raise _refusal(search)
    result, agreement = search.tried[chosen]
    kept = tuple(search.ranked[:chosen])
    config: dict[str, str] = {}
    stored = ""
    if kept and not static:
        copy = onnx.ModelProto()
        copy.CopyFrom(result)  # quantize_weights rewrites the model it is given
        packed = quantize_weights(copy, 8, per_channel=True)
        packed_agreement = ctx.probe(packed.model)
        if _passes(packed_agreement, ctx.probe.threshold):
            result, config, agreement = packed.model, dict(packed.session_config), packed_agreement
            stored = " (their weights stored in 8 bits, computed in fp32)"
        else:
            stored = f" (8-bit storage of their weights would give {packed_agreement.value:.4f}: kept fp32)"
    all_int8 = search.tried[0][1].value
    size = (len(result.SerializeToString()) - len(search.tried[0][0].SerializeToString())) / 1e6
    notes = (
        f"mixed precision: {chosen} of {len(ranked)} MatMul/Gemm/Conv kept fp32{stored}"
        + (f": {_names(kept)}" if kept else " (none needed)"),
        f"calibration rows ({ctx.probe.samples.rows}): {agreement.metric} {agreement.value:.4f} "
        f"(all int8: {'n/a' if all_int8 is None else f'{all_int8:.4f}'}), {len(search.tried)} quantizations "
        f"tried, {size:+.2f} MB against all int8",
    )
    return Mixed(result, kept, notes, config)


def quantized(
    model: onnx.ModelProto,
    quantize: Quantize,
    ctx: MethodContext,
    *,
    per_channel: bool,
    mixed: bool,
    static: bool,
    notes: tuple[str, ...],
) -> MethodResult:
    """`model` through `quantize`: whole, or with mixed precision by sensitivity; `notes` come first."""
    if not mixed:
        result, messages = quantize(model, per_channel, ctx, ())
        return MethodResult(result, notes=(*notes, *messages))
    found = mixed_precision(
        model,
        lambda exclude: quantize(model, per_channel, ctx, exclude),
        ctx,
        per_channel=per_channel,
        static=static,
    )
    return MethodResult(found.model, found.session_config, notes=(*notes, *found.notes))
