"""Benchmark: layer sizes, cold start and warm-invoke overhead of the example model, measured side by side.

Prints ratios measured in one run (never asserted: machines are noisy). Run with `make bench` or
`.venv/bin/python tests/bench/bench_invoke.py [--warm N] [--cold N]`. Needs the test extra (powertools on the
host for the in-process handler figure) and a python3.12 interpreter for the worker figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sls_deploy.core.config import load_config
from sls_deploy.model.folder import model_layer_dir
from sls_deploy.package.runtime import build_runtime_layer, runtime_layer_sizes
from sls_deploy.pipeline import push
from sls_deploy.targets.local.target import LocalTarget
from sls_inference.loader import load_model

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def mb(n: int) -> str:
    return f"{n / 1e6:6.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", type=int, default=300, help="warm invocations through the worker")
    parser.add_argument("--cold", type=int, default=7, help="cold starts (a fresh worker each)")
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="sls-deploy-bench-"))
    config = load_config(project, {"memory": 1769})  # one full vCPU, as on Lambda
    result = push(
        config,
        LocalTarget(config),
        EXAMPLES / "digits.onnx",
        name="digits",
        sample=EXAMPLES / "digits-samples.npz",
    )
    request = (EXAMPLES / "digits-request.json").read_bytes()
    row = np.asarray(json.loads(request)["inputs"][0]["data"], dtype=np.float32).reshape(1, 64)

    print("== runtime layer (pip install vs slimmed), this run's recipe ==")
    for arch, py in (("x86_64", "3.12"), ("arm64", "3.12"), ("x86_64", "3.13")):
        sizes = runtime_layer_sizes(build_runtime_layer(arch, py, config.cache_path))
        print(
            f"  {arch:6} py{py}: naive {mb(sizes.naive_unzipped_bytes)} unzipped / {mb(sizes.naive_zipped_bytes)}"
            f" zipped -> slim {mb(sizes.unzipped_bytes)} / {mb(sizes.zipped_bytes)}"
            f"  ({sizes.unzipped_bytes / sizes.naive_unzipped_bytes:.2f}x)"
        )

    print("== warm invoke, digits batch 1 (median) ==")
    loaded = load_model(model_layer_dir(config.state_path / "build" / "digits"), memory_mb=config.memory)
    feeds = {"input": row}
    loaded.session.run(None, feeds)
    bare = median_us(timed(lambda: loaded.session.run(None, feeds), 3000))
    print(f"  bare session.run                     {bare:9.1f} us   1.00x")

    handler_us = None
    try:
        from sls_inference.app import InferenceApp

        event = json.loads(request)
        with contextlib.redirect_stdout(io.StringIO()):  # EMF and log lines go to stdout, as on Lambda
            app = InferenceApp.from_model_dir(
                model_layer_dir(config.state_path / "build" / "digits"),
                memory_mb=config.memory,
                function_name="digits",
            )
            app.handle(event)
            handler_us = median_us(timed(lambda: app.handle(event), 2000))
        print(
            f"  handler in-process (decode+run+encode+EMF+log) {handler_us:6.1f} us  {handler_us / bare:5.2f}x"
        )
    except ImportError:
        print("  handler in-process: skipped (aws-lambda-powertools not installed on the host)")

    target = LocalTarget(config)
    with target.open_session("digits") as session:
        first = session.invoke(request)
        durations, walls = [], []
        for _ in range(args.warm):
            started = time.perf_counter()
            r = session.invoke(request)
            walls.append(time.perf_counter() - started)
            durations.append(r.report.duration_ms / 1000)
        assert json.loads(r.payload)["outputs"][0]["data"] == [7]
    duration_us, wall_us = median_us(durations), median_us(walls)
    print(f"  worker: Lambda-reported Duration     {duration_us:9.1f} us  {duration_us / bare:5.2f}x")
    print(f"  worker: invoke round trip (caller)   {wall_us:9.1f} us  {wall_us / bare:5.2f}x")
    print(f"  worker: overhead over bare run       {wall_us - bare:9.1f} us")
    print(
        f"  first invoke after start: init {first.report.init_duration_ms:.1f} ms, "
        f"max memory {first.report.max_memory_used_mb} MB"
    )

    print(f"== cold start through a fresh worker (n={args.cold}, median) ==")
    inits, colds = [], []
    for _ in range(args.cold):
        with LocalTarget(config) as fresh:  # its own pool: no warm worker to reuse
            started = time.perf_counter()
            r = fresh.invoke("digits", request)
            colds.append(time.perf_counter() - started)
        inits.append((r.report.init_duration_ms or 0) / 1000)
    print(f"  init duration (spawn -> ready)       {statistics.median(inits) * 1000:9.1f} ms")
    print(
        f"  cold invoke, caller's wall time      {statistics.median(colds) * 1000:9.1f} ms"
        f"  ({statistics.median(colds) / (wall_us / 1e6):.0f}x a warm invoke)"
    )
    print(f"python {sys.version.split()[0]} host, worker {result.build.local_python}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
