"""Recovery after magnitude pruning, for models that came from PyTorch (`prune:S` with `--finetune-steps N`).

The source module (a torch.save pickle or a TorchScript archive: both keep trainable parameters) is loaded
again, its outputs on the calibration rows are recorded as the teacher's, and the same weights prune.py would
zero in the ONNX file (every float tensor of graphs.MIN_WEIGHT_ELEMENTS or more values, its smallest |w|) are
zeroed. Then N Adam steps on minibatches of the calibration rows distil the original into the pruned model,
the mask held: pruned entries get no gradient and are zeroed again after every step. A fifth of the
calibration rows (CHECK_SHARE) is held back from training; the distillation loss on them is measured at
CHECKPOINTS points and the weights with the lowest one are kept (the pruned weights themselves, if no step
lowered it), so few calibration rows cannot overfit the model into something worse. No labels are needed:

- an output whose rows are probabilities (non-negative, summing to 1) is matched by KL(teacher ‖ student);
- any other float output (logits, scores, embeddings, regression values) by the mean squared error divided by
  the teacher's mean square, so outputs of any scale weigh alike. For logits this is the high-temperature
  limit of KL distillation, and it asks for the original's scores, not only its top class.
Integer outputs (labels computed inside the model) carry no gradient and are not trained on.

Training runs in eval mode (dropout off, batch-norm statistics frozen), so what is trained is what is
exported. The module is exported with model.convert.export_torch, as the original was, and pruned again in
ONNX by prune.prune_weights: a no-op on the held mask, and the same tensors prune:S prunes without recovery.
The validation rows are never trained on: agreement on them (ctx.validation_probe) is measured for the notes only,
before and after recovery. Side effects: writes the exported models under ctx.work_dir. torch is imported
when recovery runs, never at import time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..model import graphs
from ..model.convert import export_torch, import_torch
from ..model.samples import Samples, batchable_rows
from .base import MethodContext, MethodError, MethodResult
from .prune import prune_mask, prune_weights

DEFAULT_FINETUNE_STEPS = 200
BATCH_ROWS = 64
# Adam's step size as a fraction of the pruned weights' RMS (taken before pruning), cosine-annealed to 0 over
# the steps: a step moves a weight by about the same share of its scale whatever the model's init. 0.1 (about
# 8e-3 for a small MLP) recovers in 200 steps what smaller rates need thousands of steps for.
RELATIVE_LEARNING_RATE = 0.1
CHECKPOINTS = 10  # the distillation loss is measured this many times; the lowest one's weights are kept
CHECK_SHARE = 0.2  # of the calibration rows, held back from training to pick the checkpoint to keep
CHECK_ROWS = 512  # at most this many of them
MIN_CHECK_ROWS = 10  # with fewer to hold back (or to train on), checkpoints are judged on training rows
CHUNK_ROWS = 256  # rows per forward pass when the whole set is run (teacher targets, checkpoint losses)
SEED = 0
PROBABILITY_TOLERANCE = 1e-3  # how far from 1 a probability row's sum may be


@dataclass(frozen=True)
class _Teacher:
    outputs: tuple[int, ...]  # which of the module's outputs are trained on (the float ones)
    targets: tuple[Any, ...]  # the original's values of those outputs on all calibration rows
    kl: tuple[bool, ...]  # per trained output: KL on probabilities, else scaled MSE
    scales: tuple[float, ...]  # per trained output: the teacher's mean square (MSE divisor)


@dataclass(frozen=True)
class Recovered:
    pruned: onnx.ModelProto  # the pruned model before fine-tuning (exported)
    recovered: onnx.ModelProto  # after fine-tuning, the mask held (exported)
    steps: int
    seconds: float  # the fine-tuning alone
    rows: int  # calibration rows trained on
    check_rows: int  # calibration rows the losses below were measured on
    held_back: bool  # whether those were kept out of training (else they are training rows)
    loss_before: float  # the distillation loss before fine-tuning and at the kept checkpoint
    loss_after: float
    kept_step: int  # the checkpoint whose weights were kept (0: none lowered the loss)
    losses: str  # which loss each trained output had


def _as_tuple(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def _is_probabilities(torch: Any, values: Any) -> bool:
    if values.ndim < 2 or values.shape[-1] < 2 or bool((values < 0).any()):
        return False
    return bool(torch.allclose(values.sum(-1), torch.ones(()), atol=PROBABILITY_TOLERANCE))


def _run(module: Any, inputs: tuple[Any, ...], index: Any) -> tuple[Any, ...]:
    feeds = inputs if index is None else tuple(x[index] for x in inputs)
    return _as_tuple(module(*feeds))


def _run_all(torch: Any, module: Any, inputs: tuple[Any, ...], rows: int | None) -> tuple[Any, ...]:
    """The module's outputs on `inputs`, CHUNK_ROWS rows at a time when they have a row axis (no grad)."""
    with torch.no_grad():
        if rows is None:
            return _run(module, inputs, None)
        parts = [_run(module, inputs, slice(i, i + CHUNK_ROWS)) for i in range(0, rows, CHUNK_ROWS)]
    return tuple(
        torch.cat(values) if isinstance(values[0], torch.Tensor) else values[0]
        for values in zip(*parts, strict=True)
    )


def _teacher(torch: Any, module: Any, inputs: tuple[Any, ...], rows: int | None) -> _Teacher:
    outputs = _run_all(torch, module, inputs, rows)
    trained = tuple(i for i, v in enumerate(outputs) if isinstance(v, torch.Tensor) and v.is_floating_point())
    if not trained:
        raise MethodError("recovery: the source model has no float output to distil from")
    targets = tuple(outputs[i].detach() for i in trained)
    kl = tuple(_is_probabilities(torch, t) for t in targets)
    scales = tuple(max(float(t.pow(2).mean()), 1e-12) for t in targets)
    return _Teacher(trained, targets, kl, scales)


def _loss(torch: Any, outputs: tuple[Any, ...], teacher: _Teacher, index: Any) -> Any:
    total = torch.zeros(())
    for k, i in enumerate(teacher.outputs):
        target = teacher.targets[k] if index is None else teacher.targets[k][index]
        student = outputs[i]
        if teacher.kl[k]:
            log_ratio = torch.log(target.clamp_min(1e-12)) - torch.log(student.clamp_min(1e-12))
            total = total + (target * log_ratio).sum(-1).mean()
        else:
            total = total + (student - target).pow(2).mean() / teacher.scales[k]
    return total


def _prune(torch: Any, module: Any, fraction: float) -> tuple[list[tuple[Any, Any]], float]:
    """Zero the smallest |w| of every parameter prune.py would prune in ONNX: the (parameter, mask) pairs,
    and the RMS of those parameters before pruning."""
    masks: list[tuple[Any, Any]] = []
    square = count = 0.0
    with torch.no_grad():
        for param in module.parameters():
            if param.dtype != torch.float32 or param.numel() < graphs.MIN_WEIGHT_ELEMENTS:
                continue
            square, count = square + float(param.pow(2).sum()), count + param.numel()
            mask = torch.from_numpy(prune_mask(param.detach().cpu().numpy(), fraction)).to(param.dtype)
            param.mul_(mask)
            masks.append((param, mask))
    if not masks:
        raise MethodError(
            f"no float weight has {graphs.MIN_WEIGHT_ELEMENTS} or more values: nothing to prune"
        )
    return masks, (square / count) ** 0.5


@dataclass
class _Run:
    """What fine-tuning works with, and the best checkpoint so far."""

    torch: Any
    module: Any
    inputs: tuple[Any, ...]
    teacher: _Teacher
    masks: list[tuple[Any, Any]]
    train: np.ndarray | None  # the rows trained on; None: no common row axis (every step sees all rows)
    check: Any  # the rows the checkpoint loss is measured on (a torch index; None: all rows)
    best_loss: float = float("inf")
    best_step: int = 0
    best: list[Any] | None = None

    def check_loss(self) -> float:
        """The distillation loss on the checkpoint rows."""
        with self.torch.no_grad():
            outputs = _run(self.module, self.inputs, self.check)
            return float(_loss(self.torch, outputs, self.teacher, self.check))

    def checkpoint(self, step: int, params: list[Any]) -> None:
        loss = self.check_loss()
        if loss < self.best_loss:
            self.best_loss, self.best_step = loss, step
            self.best = [p.detach().clone() for p in params]


def _step(run: _Run, optimizer: Any, index: Any) -> None:
    """One Adam step on the rows `index`, the pruned entries kept at zero."""
    loss = _loss(run.torch, _run(run.module, run.inputs, index), run.teacher, index)
    optimizer.zero_grad()
    loss.backward()
    for param, mask in run.masks:
        if param.grad is not None:
            param.grad.mul_(mask)  # no gradient, so no Adam moment, for a pruned entry
    optimizer.step()
    with run.torch.no_grad():
        for param, mask in run.masks:
            param.mul_(mask)


def _finetune(run: _Run, steps: int, learning_rate: float) -> None:
    """`steps` steps on minibatches of BATCH_ROWS rows; the weights of the checkpoint with the lowest loss
    (possibly the pruned ones, step 0) are kept."""
    torch = run.torch
    params = [p for p in run.module.parameters() if p.requires_grad]
    if not params:
        raise MethodError("recovery: the source model has no trainable parameters (requires_grad is off)")
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    rng = np.random.default_rng(SEED)
    every = max(1, steps // CHECKPOINTS)
    run.checkpoint(0, params)
    for step in range(1, steps + 1):
        batch = None if run.train is None else rng.permutation(run.train)[:BATCH_ROWS]
        index = None if batch is None else torch.from_numpy(batch)
        _step(run, optimizer, index)
        schedule.step()
        if step % every == 0 or step == steps:
            run.checkpoint(step, params)
    with torch.no_grad():
        for param, kept in zip(params, run.best or [], strict=False):
            param.copy_(kept)


def _export(module: Any, samples: Samples, dest: Path) -> onnx.ModelProto:
    export_torch(module, dict(samples.arrays), dest)
    model = onnx.load(str(dest))
    graphs.dedupe_opsets(model)
    return model


def _loss_names(teacher: _Teacher) -> str:
    return ", ".join("KL on probabilities" if kl else "MSE/mean square" for kl in teacher.kl)


def _split_rows(rows: int | None) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
    """(training rows, checkpoint rows, whether those were held back) of the calibration rows, seeded: a
    CHECK_SHARE of them (at most CHECK_ROWS) are held back to pick the checkpoint on rows not trained on;
    with too few rows, the checkpoint is picked on (up to CHECK_ROWS of) the training rows."""
    if rows is None:
        return None, None, False
    order = np.random.default_rng(SEED).permutation(rows)
    held = min(CHECK_ROWS, int(rows * CHECK_SHARE))
    if held < MIN_CHECK_ROWS or rows - held < MIN_CHECK_ROWS:
        return order, order[:CHECK_ROWS], False
    return order[held:], order[:held], True


def recover(module: Any, fraction: float, samples: Samples, steps: int, work_dir: Path) -> Recovered:
    """Prune `module` (changed in place) by `fraction`, export it, fine-tune it `steps` steps on `samples`
    distilling from its own unpruned outputs, and export it again."""
    torch = import_torch()
    module.eval()
    inputs = tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in samples.arrays.values())
    rows = batchable_rows(samples)
    teacher = _teacher(torch, module, inputs, rows)
    masks, rms = _prune(torch, module, fraction)
    pruned = _export(module, samples, work_dir / "pruned.onnx")
    train, check, held_back = _split_rows(rows)
    checked = None if check is None else torch.from_numpy(check)
    run = _Run(torch, module, inputs, teacher, masks, train, checked)
    loss_before = run.check_loss()
    started = time.perf_counter()
    with torch.enable_grad():
        _finetune(run, steps, RELATIVE_LEARNING_RATE * rms)
    seconds = time.perf_counter() - started
    recovered = _export(module, samples, work_dir / "recovered.onnx")
    count = samples.rows if train is None else len(train)
    return Recovered(
        pruned,
        recovered,
        steps,
        seconds,
        count,
        count if check is None else len(check),
        held_back,
        loss_before,
        run.best_loss,
        run.best_step,
        _loss_names(teacher),
    )


def _recovery_note(done: Recovered) -> str:
    text = (
        f"recovery: {done.steps} fine-tuning steps in {done.seconds:.1f} s on {done.rows} calibration rows, "
        f"mask held, distilled from the original's outputs ({done.losses}); distillation loss "
        f"{done.loss_before:.4g} → {done.loss_after:.4g} on "
        + (
            f"{done.check_rows} more calibration rows held back from training"
            if done.held_back
            else f"{done.check_rows} of the training rows (none could be held back)"
        )
    )
    if done.kept_step == 0:
        return text + " (no checkpoint lowered it: the pruned weights are kept as they were)"
    if done.kept_step < done.steps:
        return text + f" (the weights of step {done.kept_step}, the lowest loss, are kept)"
    return text


def _agreement_note(ctx: MethodContext, pruned: onnx.ModelProto, recovered: onnx.ModelProto) -> str:
    if ctx.validation_probe is None:
        return "agreement before recovery not measured (no validation rows given to the method)"
    before, after = ctx.validation_probe(pruned), ctx.validation_probe(recovered)
    if before.value is None or after.value is None:
        return "agreement before and after recovery: no comparable outputs"
    return (
        f"{before.metric} agreement with the original on {before.rows} validation rows (never trained on): "
        f"{before.value:.4f} pruned, {after.value:.4f} pruned and recovered"
    )


def prune_and_recover(fraction: float, ctx: MethodContext) -> MethodResult:
    """prune:`fraction` on ctx.source with ctx.finetune_steps of recovery: the recovered model, pruned in
    ONNX as prune:`fraction` prunes, with notes on the fine-tuning and the agreement before and after."""
    if ctx.source is None:
        raise MethodError("recovery needs the source PyTorch model")
    try:
        done = recover(ctx.source.load(), fraction, ctx.samples, ctx.finetune_steps, ctx.work_dir)
    except MethodError:
        raise
    except Exception as exc:  # a module torch cannot train or export: say so, and how to prune without it
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise MethodError(
            f"recovery fine-tuning failed ({type(exc).__name__}: {text}); --finetune-steps 0 prunes "
            "without it"
        ) from exc
    pruned = prune_weights(done.pruned, fraction)
    result = prune_weights(done.recovered, fraction)
    notes = (
        *result.notes,
        _recovery_note(done),
        _agreement_note(ctx, pruned.model, result.model),
    )
    return MethodResult(model=result.model, notes=notes)
