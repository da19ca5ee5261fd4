"""Benchmark: magnitude pruning with and without recovery on a PyTorch classifier.

A torch MLP (64-256-256-10) is trained on scikit-learn's digits, saved with torch.save and converted to ONNX as
`push model.pt --trust-pickle` converts it. For sparsities 0.5 / 0.7 / 0.9, `prune:S` is compressed twice
through compress_model: with `--finetune-steps 0` (pruning only) and with recovery (default 200 steps). The
fine-tuning sees only the calibration rows; every agreement (top-1 with the original) is measured by the gate
on held-out rows passed as the validation file, which neither training nor fine-tuning ever saw. Prints
agreement before/after, the row counts, the zipped size ratio and the fine-tuning seconds (never asserted:
machines are noisy). Run with `.venv/bin/python tests/bench/bench_recovery.py [--steps N] [--json FILE]`.
Needs torch and scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.* imports
from sls_deploy.compress import CompressionPolicy
from sls_deploy.compress.recovery import DEFAULT_FINETUNE_STEPS
from sls_deploy.model.convert import TorchSource, convert_to_onnx
from sls_deploy.model.samples import Samples
from tests.support.compress_models import compress_file  # noqa: E402

SPARSITIES = (0.5, 0.7, 0.9)
MEMORY_MB = 1024
TRAIN_ROWS, CALIBRATION_ROWS = 1000, 500  # the remaining 297 digits are the held-out validation rows


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return (x[order] / 16.0).astype(np.float32), y[order].astype(np.int64)


def _classifier(x: np.ndarray, y: np.ndarray, work: Path) -> Path:
    """The MLP trained on the first TRAIN_ROWS digits (full-batch Adam), saved with torch.save."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    features, labels = torch.from_numpy(x[:TRAIN_ROWS]), torch.from_numpy(y[:TRAIN_ROWS])
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    for _ in range(300):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(features), labels).backward()
        optimizer.step()
    module.eval()
    with torch.no_grad():
        test = module(torch.from_numpy(x[TRAIN_ROWS:])).argmax(-1).numpy()
    print(
        f"classifier accuracy on the {len(test)} digits it was not trained on: {np.mean(test == y[TRAIN_ROWS:]):.3f}"
    )
    path = work / "digits-mlp.pt"
    torch.save(module, str(path))
    return path


def _compress(
    onnx_path: Path, source: TorchSource, calibration: Samples, validation: Samples, steps: int, work: Path
) -> dict[str, dict[str, Any]]:
    spec = ",".join(f"prune:{s}" for s in SPARSITIES)
    policy = CompressionPolicy(spec, metric="top1", force=True, max_slowdown=100.0, finetune_steps=steps)
    work_dir = work / f"steps-{steps}"
    result = compress_file(
        onnx_path, calibration, policy, work_dir, validation, memory_mb=MEMORY_MB, source=source
    )
    return {c.method: c.to_json() for c in result.report.candidates}


def _recovery(notes: list[str]) -> tuple[float | None, int | None]:
    """The fine-tuning seconds and the calibration rows trained on, from the candidate's recovery note."""
    for note in notes:
        found = re.search(r"fine-tuning steps in ([0-9.]+) s on ([0-9]+) calibration rows", note)
        if found:
            return float(found.group(1)), int(found.group(2))
    return None, None


def _show(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=DEFAULT_FINETUNE_STEPS)
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows as JSON here.")
    args = parser.parse_args()
    x, y = _digits()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_path = _classifier(x, y, work)
        calibration_x = x[TRAIN_ROWS : TRAIN_ROWS + CALIBRATION_ROWS]
        validation_x = x[TRAIN_ROWS + CALIBRATION_ROWS :]
        np.savez(work / "calibration.npz", input=calibration_x)
        onnx_path = convert_to_onnx(
            model_path, work / "converted.onnx", trust_pickle=True, sample=work / "calibration.npz"
        )
        calibration = Samples({"input": calibration_x}, "calibration.npz", len(calibration_x))
        validation = Samples({"input": validation_x}, "validation.npz", len(validation_x))
        source = TorchSource(model_path, trust_pickle=True)
        started = time.perf_counter()
        pruned = _compress(onnx_path, source, calibration, validation, 0, work)
        recovered = _compress(onnx_path, source, calibration, validation, args.steps, work)
        total = time.perf_counter() - started
    base = pruned["none"]
    rows: list[dict[str, Any]] = []
    print(
        f"\nprune:S on a torch MLP (digits), top-1 agreement with the original on {len(validation_x)} held-out "
        f"rows; fine-tuned {args.steps} steps on {len(calibration_x)} calibration rows"
    )
    print(
        f"{'sparsity':>8} {'calib':>6} {'trained':>7} {'valid':>6} {'before':>8} {'after':>8} {'zipped':>8} "
        f"{'seconds':>8}"
    )
    for sparsity in SPARSITIES:
        label = f"prune:{sparsity}"
        before, after = pruned[label], recovered[label]
        seconds, trained = _recovery(after.get("notes") or [])
        row = {
            "sparsity": sparsity,
            "calibration_rows": len(calibration_x),
            "trained_rows": trained,  # the rest of the calibration rows pick the checkpoint kept
            "validation_rows": (after.get("agreement") or {}).get("rows"),
            "agreement_before": (before.get("agreement") or {}).get("value"),
            "agreement_after": (after.get("agreement") or {}).get("value"),
            "zipped_ratio": base["zipped_bytes"] / after["zipped_bytes"]
            if after.get("zipped_bytes")
            else None,
            "finetune_seconds": seconds,
            "notes": after.get("notes"),
            "reason": after.get("reason"),
        }
        rows.append(row)
        print(
            f"{sparsity:>8} {row['calibration_rows']:>6} {row['trained_rows'] or '–':>7} "
            f"{row['validation_rows'] or '–':>6} "
            f"{_show(row['agreement_before']):>8} {_show(row['agreement_after']):>8} "
            f"{_show(row['zipped_ratio'], 2) + '×':>8} {_show(row['finetune_seconds'], 1):>8}"
        )
    print(
        "(before: --finetune-steps 0; after: with recovery; zipped: the original's zipped model layer / the "
        f"recovered candidate's; seconds: the fine-tuning alone; both compressions took {total:.1f} s)"
    )
    for row in rows:
        if row["agreement_after"] is None:
            print(f"  prune:{row['sparsity']}: {row['reason']}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
