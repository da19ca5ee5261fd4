"""Magnitude pruning (`prune:FRACTION`): in every weight tensor, the FRACTION of values with the smallest |w|
is set to exactly zero.

What it buys: a smaller *zipped* model layer (runs of zeros deflate well, and stay zero through int8/int4
weight quantization). What it does not: the unzipped file is as large (dense storage) and inference is not
faster (onnxruntime runs dense kernels). Without retraining it usually costs accuracy; the gate measures how
much. When the model came from PyTorch (ctx.source) and ctx.finetune_steps > 0, the pruned model is
fine-tuned with the mask held (recovery.py) before it becomes the candidate. Changes the model it is given.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx

from ..model import graphs
from .base import MethodContext, MethodError, MethodResult


def parse_fraction(param: str | None) -> float:
    try:
        fraction = float(param) if param is not None else float("nan")
    except ValueError:
        fraction = float("nan")
    if not 0.0 < fraction < 1.0:
        raise MethodError(f"prune needs a sparsity between 0 and 1, e.g. prune:0.5 (got {param!r})")
    return fraction


def prune_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """False for the round(fraction·size) smallest-magnitude entries of `values`, True for the rest."""
    flat = np.abs(values.astype(np.float32).ravel())
    keep = np.ones(flat.size, dtype=bool)
    k = int(round(fraction * flat.size))
    if k > 0:
        keep[np.argpartition(flat, k - 1)[:k]] = False
    return keep.reshape(values.shape)


def prune_array(values: np.ndarray, fraction: float) -> np.ndarray:
    """A copy of `values` with the round(fraction·size) smallest-magnitude entries set to 0."""
    return np.where(prune_mask(values, fraction), values.astype(np.float32), np.float32(0.0))


def prune_weights(model: onnx.ModelProto, fraction: float) -> MethodResult:
    graphs.constants_to_initializers(model.graph)
    zeros = total = 0
    for graph in graphs.iter_graphs(model.graph):
        for weight in graphs.weight_initializers(graph):
            pruned = prune_array(graphs.to_array(weight), fraction)
            graphs.replace_tensor_data(weight, pruned)
            zeros += int(np.count_nonzero(pruned == 0))
            total += pruned.size
    if not total:
        raise MethodError(
            f"no float weight has {graphs.MIN_WEIGHT_ELEMENTS} or more values: nothing to prune"
        )
    return MethodResult(
        model=model,
        notes=(
            f"sparsity {zeros / total:.3f} over {total:,} weights",
            "pruning shrinks the zipped layer only: same unzipped size, same latency",
        ),
    )


def no_recovery_note(ctx: MethodContext) -> str:
    if ctx.finetune_steps == 0:
        return "no recovery (--finetune-steps 0): pruned without fine-tuning"
    return (
        "no recovery: fine-tuning the pruned model needs its PyTorch source, and this model was given as "
        "ONNX; pass the .pt/.pth itself (a torch.save pickle with --trust-pickle, or TorchScript)"
    )


def apply(model: onnx.ModelProto, param: str | None, ctx: MethodContext) -> MethodResult:
    fraction = parse_fraction(param)
    if ctx.source is not None and ctx.finetune_steps > 0:
        from .recovery import prune_and_recover  # imported here: recovery builds on this module

        return prune_and_recover(fraction, ctx)
    result = prune_weights(model, fraction)
    return replace(result, notes=(*result.notes, no_recovery_note(ctx)))
