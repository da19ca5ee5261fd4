"""Benchmark: what pre- and post-processing cost per request, beside the bare `session.run`, and what they add
to layer size and cold start — measured side by side in one run (printed, never asserted).

Models (made here, random weights): a BERT-style sentence encoder exported with torch (2 layers, hidden 32)
with a WordPiece tokenizer.json; a 224×224 RGB classifier (Conv stride 4 → ReLU → global pool → 1000 classes)
sent 640×480 JPEGs; and the example digits model (no processing, then with --labels only).

Run with `.venv/bin/python tests/bench/bench_processing.py [--calls N] [--cold N]` (needs the test extra and
a python3.12 interpreter for the cold-start figures).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper
from PIL import Image, ImageFilter

from sls_deploy.core.config import load_config
from sls_deploy.model.folder import model_layer_dir
from sls_deploy.model.processing import ProcessingOptions
from sls_deploy.pipeline import push
from sls_deploy.targets.local.target import LocalTarget
from sls_inference.app import InferenceApp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.* imports
from tests.support.processing_models import export_tiny_bert, write_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SENTENCE = "Serverless inference scales to zero when nobody calls it, and the cat sat on the mat."


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    fn()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def imagenet_like_classifier(classes: int = 1000) -> onnx.ModelProto:
    """image [batch, 3, 224, 224] → probabilities [batch, classes]."""
    rng = np.random.default_rng(0)
    init = [
        numpy_helper.from_array(rng.normal(size=(16, 3, 8, 8)).astype(np.float32) * 0.1, "K"),
        numpy_helper.from_array(rng.normal(size=(16, classes)).astype(np.float32), "W"),
        numpy_helper.from_array(np.zeros(classes, dtype=np.float32), "B"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "K"], ["c"], strides=[4, 4]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "W", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("image", T.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", T.FLOAT, ["batch", classes])],
        init,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def photo_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A smooth, photo-like RGB JPEG (blurred noise compresses like a photo, not like flat colour)."""
    rng = np.random.default_rng(1)
    noise = Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), mode="RGB")
    buffer = io.BytesIO()
    noise.filter(ImageFilter.GaussianBlur(3)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def raw_event(body: bytes, content_type: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "headers": {"content-type": content_type},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def app_of(config: Any, name: str) -> InferenceApp:
    with contextlib.redirect_stdout(io.StringIO()):
        return InferenceApp.from_model_dir(
            model_layer_dir(config.state_path / "build" / name), memory_mb=config.memory, function_name=name
        )


def quiet_handle(app: InferenceApp, event: Any) -> Callable[[], Any]:
    sink = io.StringIO()

    def call() -> Any:
        with contextlib.redirect_stdout(sink):  # EMF and log lines go to stdout, as on Lambda
            result = app.handle(event)
        sink.seek(0)
        sink.truncate()
        return result

    return call


def row(label: str, us: float, bare: float) -> None:
    print(f"  {label:<44} {us:9.1f} us  {us / bare:6.2f}x")


def bench_text(config: Any, calls: int) -> None:
    app = app_of(config, "encoder")
    processor, session = app.plane.processor, app.model.session
    feeds = processor.text.feeds([SENTENCE])
    outputs, specs = session.run(None, feeds), list(app.model.outputs)
    bare = per_call_us(lambda: session.run(None, feeds), calls)
    print(
        f"== text: tiny BERT (2 layers, hidden 32), one sentence of {feeds['input_ids'].shape[1]} tokens =="
    )
    row("bare session.run", bare, bare)
    row("tokenize (tokenizers, 3 inputs)", per_call_us(lambda: processor.text.feeds([SENTENCE]), calls), bare)
    pool = per_call_us(lambda: processor.text.postprocess(specs, outputs, feeds), calls)
    row("mean pooling + L2 normalize", pool, bare)
    row('handler in-process, {"text": ...}', per_call_us(quiet_handle(app, {"text": SENTENCE}), calls), bare)


def bench_image(config: Any, calls: int) -> None:
    app = app_of(config, "classifier")
    processor, session = app.plane.processor, app.model.session
    jpeg = photo_jpeg()
    feeds = processor.image.feeds([jpeg])
    outputs, specs = session.run(None, feeds), list(app.model.outputs)
    bare = per_call_us(lambda: session.run(None, feeds), calls)
    print(f"== image: 224x224 RGB classifier, 1000 classes, one 640x480 JPEG ({len(jpeg) / 1e3:.0f} kB) ==")
    row("bare session.run", bare, bare)
    row(
        "decode + resize + normalize (Pillow)",
        per_call_us(lambda: processor.image.feeds([jpeg]), calls),
        bare,
    )
    labels = per_call_us(lambda: processor.labels.postprocess(specs, outputs), calls)
    row("labels: label, score, top-5 of 1000", labels, bare)
    handler = per_call_us(quiet_handle(app, raw_event(jpeg, "image/jpeg")), calls)
    row("handler in-process, raw image/jpeg body", handler, bare)


def bench_labels(config: Any, calls: int) -> None:
    plain, labelled = app_of(config, "digits"), app_of(config, "digits-labels")
    with np.load(EXAMPLES / "digits-samples.npz") as rows:
        x = np.asarray(rows[rows.files[0]][:1], dtype=np.float32)
    event = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": x.ravel().tolist()}]}
    session = plain.model.session
    bare = per_call_us(lambda: session.run(None, {"input": x}), calls)
    print("== labels on the digits classifier (tensors in) ==")
    row("bare session.run", bare, bare)
    row("handler in-process, no processing", per_call_us(quiet_handle(plain, event), calls), bare)
    row("handler in-process, --labels", per_call_us(quiet_handle(labelled, event), calls), bare)


def cold_starts(config: Any, name: str, body: bytes, n: int) -> tuple[float, float]:
    """Median init duration and cold invoke wall time over `n` fresh workers."""
    inits, walls = [], []
    for _ in range(n):
        with LocalTarget(config) as fresh:
            started = time.perf_counter()
            result = fresh.invoke(name, body)
            walls.append(time.perf_counter() - started)
        inits.append((result.report.init_duration_ms or 0) / 1000)
    return statistics.median(inits) * 1000, statistics.median(walls) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500, help="calls per in-process figure (median)")
    parser.add_argument("--cold", type=int, default=5, help="cold starts per model (median)")
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="sls-deploy-bench-"))
    config = load_config(project, {"memory": 1769})  # one full vCPU, as on Lambda
    export_tiny_bert(project / "encoder.onnx")
    tokenizer = write_tokenizer(project / "tokenizer.json")
    onnx.save(imagenet_like_classifier(), str(project / "classifier.onnx"))
    (project / "imagenet.txt").write_text("\n".join(f"class-{i}" for i in range(1000)) + "\n")
    (project / "digits.txt").write_text("\n".join(str(i) for i in range(10)) + "\n")
    pushes = {
        "digits": (EXAMPLES / "digits.onnx", None),
        "digits-labels": (EXAMPLES / "digits.onnx", ProcessingOptions(labels=project / "digits.txt")),
        "encoder": (
            project / "encoder.onnx",
            ProcessingOptions(tokenizer=tokenizer, pooling="mean", normalize=True),
        ),
        "classifier": (
            project / "classifier.onnx",
            ProcessingOptions(
                labels=project / "imagenet.txt",
                top_k=5,
                image=True,
                mean=(0.485, 0.456, 0.406),
                std=(0.229, 0.224, 0.225),
            ),
        ),
    }
    built = {}
    for name, (model, processing) in pushes.items():
        sample = EXAMPLES / "digits-samples.npz" if model.name == "digits.onnx" else None
        built[name] = push(
            config, LocalTarget(config), model, name=name, sample=sample, processing=processing
        )

    bench_labels(config, args.calls)
    bench_text(config, args.calls)
    bench_image(config, args.calls)

    print(f"== layers and cold start per function (local target, n={args.cold} fresh workers, median) ==")
    digits_request = (EXAMPLES / "digits-request.json").read_bytes()
    bodies = {
        "digits": digits_request,
        "digits-labels": digits_request,
        "encoder": b'{"text": "the cat sat on the mat"}',
        "classifier": b'{"image": "' + base64.b64encode(photo_jpeg()) + b'"}',
    }
    base_init = None
    print(f"  {'function':<14} {'layers (deployed)':<52} {'unzipped':>9} {'init':>9} {'cold invoke':>12}")
    for name, result in built.items():
        layers = result.build.function.layers
        text = " + ".join(f"{a.kind.split('-')[0]} {a.zipped_bytes / 1e6:.1f}" for a in layers) + " MB zipped"
        unzipped = sum(a.unzipped_bytes for a in layers)
        init, wall = cold_starts(config, name, bodies[name], args.cold)
        base_init = base_init or init
        print(
            f"  {name:<14} {text:<52} {unzipped / 1e6:7.1f} MB {init:7.1f} ms {wall:9.1f} ms"
            f"  init {init / base_init:4.2f}x digits"
        )
    print(f"python {sys.version.split()[0]} host, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
