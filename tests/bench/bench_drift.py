"""Benchmark: what drift accounting costs a request. Printed side by side, never asserted.

For the example model (64 input features, one per element) and a wide image input (1×3×64×64 float32,
summarised per row), measured in one run with the two apps interleaved:
- the handler's time per direct invocation (decode, session.run, encode, logs, EMF) with the model layer's
  drift baseline and without it (the same model folder minus baseline.json),
- the bare accumulate call (DriftMonitor.observe on the same request, no window closing),
- a window's close as the handler does it (PSI, the "drift window" log line, the EMF line), once per
  `drift_every` rows.
Run: `.venv/bin/python tests/bench/bench_drift.py [--rounds 15] [--calls 200]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.* imports

from aws_lambda_powertools.logging import Logger  # noqa: E402

from sls_inference import codec  # noqa: E402
from sls_inference.app import InferenceApp  # noqa: E402
from sls_inference.drift import DriftMonitor  # noqa: E402
from sls_inference.loader import load_model  # noqa: E402
from tests.support.drift_support import (  # noqa: E402
    DIGITS,
    DIGITS_SAMPLES,
    image_model,
    image_samples,
    model_dir,
)


def app(layer: Path, sink: Any) -> InferenceApp:
    return InferenceApp(load_model(layer, memory_mb=1024), function_name="bench", logger=Logger(stream=sink))


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


def side_by_side(
    label: str, with_drift: InferenceApp, without: InferenceApp, event: dict, rounds: int, calls: int
) -> None:
    """Median µs per invocation of each app (alternating rounds), of the bare accumulate call (no window
    closes), and of a window close (PSI, the log line, the EMF line) as the handler does it."""
    monitor = with_drift._drift
    assert monitor is not None and without._drift is None
    request = codec.decode_request(event, with_drift.model.inputs, with_drift.model.outputs)
    names = [spec.name for spec in with_drift.model.outputs]
    outputs = with_drift.model.session.run(names, dict(request.feeds))
    never = DriftMonitor.from_model_dir(with_drift.model.path, with_drift.model.manifest)
    always = DriftMonitor.from_model_dir(with_drift.model.path, with_drift.model.manifest)
    assert never is not None and always is not None
    never.every, never.seconds, always.every = 10**12, math.inf, 1

    def close_window() -> None:
        with_drift._drift = always
        with_drift._observe_drift(request.feeds, names, outputs)
        with_drift._drift = monitor

    times: dict[str, list[float]] = {"with": [], "without": [], "accumulate": [], "window": []}
    with contextlib.redirect_stdout(io.StringIO()) as sink:
        for _ in range(rounds):
            times["without"].append(per_call_us(lambda: without.handle(event), calls))
            times["with"].append(per_call_us(lambda: with_drift.handle(event), calls))
            times["accumulate"].append(
                per_call_us(lambda: never.observe(request.feeds, names, outputs), calls)
            )
            times["window"].append(per_call_us(close_window, calls // 10))
            sink.seek(0)
            sink.truncate()
    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"{label:<34} handler {median['without']:7.1f} → {median['with']:7.1f} µs with drift "
        f"(+{median['with'] - median['without']:5.1f} µs, {median['with'] / median['without']:.2f}×); "
        f"accumulate {median['accumulate']:5.1f} µs; a window {median['window'] - median['accumulate']:5.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        root = Path(tmp)
        digits_with = model_dir(root / "d1", DIGITS, {"input": DIGITS_SAMPLES}, name="digits")
        digits_without = model_dir(root / "d0", DIGITS, name="digits")
        image_with = model_dir(root / "i1", image_model(), {"pixels": image_samples()}, name="image")
        image_without = model_dir(root / "i0", image_model(), name="image")
        cases = [
            ("digits, 1 row × 64 features", digits_with, digits_without, DIGITS_SAMPLES[:1]),
            ("digits, 32 rows × 64 features", digits_with, digits_without, DIGITS_SAMPLES[:32]),
            ("image, 1 × 3×64×64 (5 summaries)", image_with, image_without, image_samples(rows=1, seed=1)),
        ]
        print(f"median of {args.rounds} rounds × {args.calls} calls, apps interleaved; window every 100 rows")
        for label, with_dir, without_dir, rows in cases:
            event = {"instances": rows.tolist()}
            side_by_side(label, app(with_dir, sink), app(without_dir, sink), event, args.rounds, args.calls)


if __name__ == "__main__":
    main()
