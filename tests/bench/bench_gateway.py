"""Benchmark: the local gateway (`sls-deploy serve`) on the example model, measured side by side in one run.

(a) warm invoke through the gateway's Invoke API from a keep-alive http.client vs a bare in-process
    `session.run` on the same input (target: p50 overhead ≤ 1.0 ms); also the OIP route, boto3 (its own
    client-side cost reported separately: boto3 p50 minus the raw keep-alive p50), an in-process session
    (the pool without the gateway) and the handler alone;
(b) cold start: request → response with a fresh worker vs `python3.12 -S -c` importing onnxruntime from the
    same layer, loading the same model and running it once (target ≤ 1.25×);
(c) throughput with 2 concurrent clients vs 1 (separate client processes; target ≥ 1.7× on 2 cores).

Prints figures and ratios, asserts nothing (machines are noisy). The gateway runs as its own process
(`sls-deploy serve`), as users run it. Run with `make bench` or
`.venv/bin/python tests/bench/bench_gateway.py [--warm N] [--cold N] [--seconds S]`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from bench_invoke import median_us, timed

from sls_deploy.core.config import load_config
from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.model.folder import model_layer_dir
from sls_deploy.pipeline import push
from sls_deploy.targets.local.target import LocalTarget
from sls_inference.loader import load_model

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
INVOKE_PATH = "/2015-03-31/functions/digits/invocations?Qualifier=live"


@contextlib.contextmanager
def serve(project: Path, idle_seconds: int) -> Iterator[tuple[str, int]]:
    """`sls-deploy serve` in its own process; yields (host, port)."""
    command = [
        sys.executable,
        "-m",
        "sls_deploy.commands",
        "-C",
        str(project),
        "serve",
        "--port",
        "0",
        "--json",
    ]
    command += ["--idle-seconds", str(idle_seconds)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if line == "}\n":
                    break
            host, port = json.loads("".join(lines))["url"].removeprefix("http://").split(":")
            yield host, int(port)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def post(
    connection: http.client.HTTPConnection, path: str, body: bytes, headers: dict | None = None
) -> bytes:
    connection.request("POST", path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    assert response.status == 200, data
    return data


def get(connection: http.client.HTTPConnection, path: str) -> bytes:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.read()


def report_of(connection: http.client.HTTPConnection, body: bytes) -> tuple[float, float]:
    """(REPORT Duration, the handler's own duration_ms) of one invocation, in µs, from its log tail."""
    connection.request("POST", INVOKE_PATH, body=body, headers={"X-Amz-Log-Type": "Tail"})
    response = connection.getresponse()
    response.read()
    log = base64.b64decode(response.getheader("X-Amz-Log-Result") or "").decode()
    duration = float(log.split("\tDuration: ")[1].split(" ms")[0])
    summary = next(json.loads(line) for line in log.splitlines() if '"message":"invocation"' in line)
    return duration * 1000, float(summary["duration_ms"]) * 1000


def client_loop(address: tuple[str, int], body: bytes, seconds: float, start_at: float, out) -> None:
    """One closed-loop client (a process of its own): requests answered within [start_at, start_at+seconds)."""
    connection = http.client.HTTPConnection(*address)
    post(connection, INVOKE_PATH, body)
    while time.time() < start_at:
        time.sleep(0.001)
    done = 0
    end = start_at + seconds
    while time.time() < end:
        post(connection, INVOKE_PATH, body)
        done += 1
    out.put(done)


def throughput(address: tuple[str, int], body: bytes, clients: int, seconds: float) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 1.0
    procs = [
        multiprocessing.Process(target=client_loop, args=(address, body, seconds, start_at, queue))
        for _ in range(clients)
    ]
    for proc in procs:
        proc.start()
    total = sum(queue.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", type=int, default=1000, help="warm requests per client kind")
    parser.add_argument("--cold", type=int, default=7, help="cold starts (a fresh worker each)")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="sls-deploy-bench-gw-"))
    config = load_config(project, {"memory": 1769, "reserved_concurrency": 4})  # one full vCPU, as on Lambda
    result = push(
        config,
        LocalTarget(config),
        EXAMPLES / "digits.onnx",
        name="digits",
        sample=EXAMPLES / "digits-samples.npz",
    )
    request = (EXAMPLES / "digits-request.json").read_bytes()
    row = np.asarray(json.loads(request)["inputs"][0]["data"], dtype=np.float32).reshape(1, 64)
    model_dir = model_layer_dir(config.state_path / "build" / "digits")

    print("== (a) warm invoke, digits batch 1 (p50) ==")
    loaded = load_model(model_dir, memory_mb=config.memory)
    feeds = {"input": row}
    loaded.session.run(None, feeds)
    bare = median_us(timed(lambda: loaded.session.run(None, feeds), 3000))
    print(f"  bare session.run in-process                 {bare:8.1f} us")
    try:
        from sls_inference.app import InferenceApp

        event = json.loads(request)
        with contextlib.redirect_stdout(io.StringIO()):
            app = InferenceApp.from_model_dir(model_dir, memory_mb=config.memory, function_name="digits")
            app.handle(event)
            handler_us = median_us(timed(lambda: app.handle(event), 2000))
        print(f"  handler in-process (decode+run+encode+logs) {handler_us:8.1f} us")
    except ImportError:
        print("  handler in-process: skipped (aws-lambda-powertools not installed on the host)")

    with LocalTarget(config) as target, target.open_session("digits") as session:
        session.invoke(request)
        walls = timed(lambda: session.invoke(request), args.warm)
        durations = [session.invoke(request).report.duration_ms for _ in range(200)]
    session_us = median_us(walls)
    print(
        f"  pool in-process (LocalSession) round trip   {session_us:8.1f} us  (REPORT Duration p50 "
        f"{statistics.median(durations) * 1000:.1f} us)"
    )

    with serve(project, idle_seconds=300) as address:
        connection = http.client.HTTPConnection(*address)
        answer = json.loads(post(connection, INVOKE_PATH, request))
        assert answer["outputs"][0]["data"] == [7], answer
        for _ in range(100):
            post(connection, INVOKE_PATH, request)
        raw_us = median_us(timed(lambda: post(connection, INVOKE_PATH, request), args.warm))
        oip_us = median_us(timed(lambda: post(connection, "/v2/models/digits/infer", request), args.warm))
        floor_us = median_us(timed(lambda: get(connection, "/v2/health/live"), args.warm))
        reported = [report_of(connection, request) for _ in range(300)]
        connection.close()
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "lambda",
            endpoint_url=f"http://{address[0]}:{address[1]}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"total_max_attempts": 1}),
        )
        client.invoke(FunctionName="digits", Qualifier="live", Payload=request)["Payload"].read()
        boto_us = median_us(
            timed(
                lambda: client.invoke(FunctionName="digits", Qualifier="live", Payload=request)[
                    "Payload"
                ].read(),
                args.warm // 2,
            )
        )
        client.close()
        print(
            f"  gateway Invoke API, keep-alive http.client  {raw_us:8.1f} us  overhead {raw_us - bare:7.1f} us"
            f"  (target <= 1000 us)"
        )
        print(
            f"    of which the worker's REPORT Duration      {statistics.median(r[0] for r in reported):8.1f} us,"
            f" the handler's own time {statistics.median(r[1] for r in reported):.1f} us"
        )
        print(f"    HTTP floor: GET /v2/health/live (no worker) {floor_us:8.1f} us")
        print(
            f"  gateway OIP /v2/models/digits/infer         {oip_us:8.1f} us  overhead {oip_us - bare:7.1f} us"
        )
        print(
            f"  boto3 invoke through the gateway            {boto_us:8.1f} us  boto3's own cost "
            f"{boto_us - raw_us:7.1f} us"
        )

        print(f"== (c) throughput, closed-loop clients for {args.seconds:.0f} s each ==")
        one = throughput(address, request, 1, args.seconds)
        two = throughput(address, request, 2, args.seconds)
        print(f"  1 client  {one:8.0f} req/s")
        print(f"  2 clients {two:8.0f} req/s  {two / one:5.2f}x  (target >= 1.7x)")

    print(f"== (b) cold start (n={args.cold}, median) ==")
    python = find_interpreter("3.12", config.python) or Path(sys.executable)
    record = LocalTarget(config).resolve("digits", "live").record
    opt = LocalTarget(config).state.opt_dir(record)
    script = (
        "import numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(opt / 'model' / 'model.onnx')!r}, providers=['CPUExecutionProvider'])\n"
        "s.run(None, {'input': np.zeros((1, 64), np.float32)})\n"
    )
    env = {"PYTHONPATH": f"{opt}/python", "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    baseline = []
    for _ in range(args.cold):
        started = time.perf_counter()
        subprocess.run([str(python), "-S", "-c", script], env=env, check=True)
        baseline.append(time.perf_counter() - started)
    colds, inits = [], []
    with serve(project, idle_seconds=1) as address:
        for _ in range(args.cold):
            time.sleep(1.6)  # the previous worker exits after 1 s idle: the next request is a cold start
            connection = http.client.HTTPConnection(*address)
            started = time.perf_counter()
            connection.request("POST", INVOKE_PATH, body=request, headers={"X-Amz-Log-Type": "Tail"})
            response = connection.getresponse()
            response.read()
            colds.append(time.perf_counter() - started)
            log = base64.b64decode(response.getheader("X-Amz-Log-Result") or "").decode()
            assert "Init Duration" in log, "not a cold start"
            inits.append(float(log.split("Init Duration: ")[1].split(" ms")[0]))
            connection.close()
    base_ms, cold_ms = statistics.median(baseline) * 1000, statistics.median(colds) * 1000
    print(f"  python3.12 -S -c: import onnxruntime, load, run   {base_ms:8.1f} ms  1.00x")
    print(
        f"  gateway request -> response on a fresh worker     {cold_ms:8.1f} ms  {cold_ms / base_ms:5.2f}x"
        "  (target <= 1.25x)"
    )
    print(f"  of which REPORT Init Duration                     {statistics.median(inits):8.1f} ms")
    print(
        f"python {sys.version.split()[0]} host, worker {result.build.local_python}, cpus {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
