"""Measure a deployed function: invoke it N times through the Target protocol and keep each REPORT line.

`measure_invocations` is what `sls-deploy cost` (when a function has no metrics yet) and the memory tuner
run; `Measurement` holds the durations Lambda reported and bills; `sample_request` builds a request from the
model's signature in the build folder. Side effects: invocations of the function; reads model.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import InvocationError, SlsDeployError
from ..core.progress import Progress
from ..core.records import InvokeResult
from ..core.stats import percentile

# Power Tuning's method: discard the fastest and the slowest 20 % of the invocations, average the rest.
TRIM_FRACTION = 0.2
_ANSWER_EXCERPT = 300  # characters of a failed answer quoted in the error


@dataclass(frozen=True)
class Measurement:
    """The REPORT lines of `count` invocations of one function. `durations_ms[i]` and `billed_ms[i]` belong
    to the same invocation; `init_ms` holds the INIT durations of the invocations that were cold starts."""

    name: str
    qualifier: str
    memory_mb: int  # the function's configured memory (REPORT's Memory Size)
    durations_ms: tuple[float, ...]
    billed_ms: tuple[int, ...]
    init_ms: tuple[float, ...] = ()
    errors: int = 0  # answers with a 5xx error status (they ran and are billed, so their durations count)
    max_memory_mb: int = 0  # the largest Max Memory Used

    @property
    def count(self) -> int:
        return len(self.durations_ms)

    @property
    def cold_starts(self) -> int:
        return len(self.init_ms)

    @property
    def mean_ms(self) -> float:
        return _mean(self.durations_ms)

    @property
    def mean_billed_ms(self) -> float:
        return _mean(self.billed_ms)

    @property
    def mean_init_ms(self) -> float:
        """The average INIT duration of the cold starts; 0.0 when there were none."""
        return _mean(self.init_ms) if self.init_ms else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(sorted(self.durations_ms), 50)

    @property
    def p90_ms(self) -> float:
        return percentile(sorted(self.durations_ms), 90)

    def trimmed(self, fraction: float = TRIM_FRACTION) -> Measurement:
        """This measurement without its fastest and slowest `fraction` of invocations (by duration); at
        least one invocation stays. INIT durations, errors and memory are kept as they were."""
        if not 0.0 <= fraction < 0.5:
            raise ValueError(f"trim fraction {fraction} is not in [0, 0.5)")
        drop = min(math.floor(self.count * fraction), (self.count - 1) // 2)
        if drop == 0:
            return self
        order = sorted(range(self.count), key=lambda i: self.durations_ms[i])[drop : self.count - drop]
        return replace(
            self,
            durations_ms=tuple(self.durations_ms[i] for i in order),
            billed_ms=tuple(self.billed_ms[i] for i in order),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "qualifier": self.qualifier,
            "memory_mb": self.memory_mb,
            "count": self.count,
            "errors": self.errors,
            "cold_starts": self.cold_starts,
            "max_memory_mb": self.max_memory_mb,
            "mean_ms": round(self.mean_ms, 3),
            "mean_billed_ms": round(self.mean_billed_ms, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "mean_init_ms": round(self.mean_init_ms, 3),
        }


def _mean(values: tuple[float, ...] | tuple[int, ...]) -> float:
    return math.fsum(values) / len(values)


def _excerpt(result: InvokeResult) -> str:
    text = result.payload.decode("utf-8", "replace").strip()
    return text if len(text) <= _ANSWER_EXCERPT else text[:_ANSWER_EXCERPT] + " …"


class Invoker(Protocol):
    """What a measurement invokes: a Target, or one setting of a function under tuning (monitor/tune.py)."""

    def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult: ...


def measure_invocations(
    target: Invoker,
    name: str,
    payload: bytes,
    count: int,
    qualifier: str = "live",
    progress: Progress | None = None,
) -> Measurement:
    """Invoke `name:qualifier` `count` times, one after another, with `payload`; their REPORT lines.

    A function error (the function raised or crashed) or a 4xx answer (the request is wrong for the model)
    stops the measurement with an InvocationError naming the answer: every further invocation would fail the
    same way. 5xx answers are counted in `errors`; if every answer was one, that is an InvocationError too.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    durations: list[float] = []
    billed: list[int] = []
    inits: list[float] = []
    errors = 0
    memory = max_used = 0
    for i in range(1, count + 1):
        if progress is not None:
            progress(f"invoking {name}:{qualifier} ({i}/{count})")
        result = target.invoke(name, payload, qualifier)
        status = result.error_status
        if result.function_error is not None or (status is not None and status < 500):
            kind = result.function_error or f"status {status}"
            raise InvocationError(
                f"{name}:{qualifier} answered invocation {i} of {count} with an error ({kind}): "
                f"{_excerpt(result)}",
                "check the request with `sls-deploy invoke` (a payload the model accepts, e.g. --payload "
                "FILE) and the function's logs with `sls-deploy logs`",
            )
        if status is not None:
            errors += 1
        report = result.report
        durations.append(report.duration_ms)
        billed.append(report.billed_duration_ms)
        if report.init_duration_ms is not None:
            inits.append(report.init_duration_ms)
        memory = report.memory_size_mb
        max_used = max(max_used, report.max_memory_used_mb)
    if errors == count:
        raise InvocationError(
            f"{name}:{qualifier} answered all {count} invocations with a server error",
            "see the function's logs with `sls-deploy logs` and fix the error before measuring",
        )
    return Measurement(
        name=name,
        qualifier=qualifier,
        memory_mb=memory,
        durations_ms=tuple(durations),
        billed_ms=tuple(billed),
        init_ms=tuple(inits),
        errors=errors,
        max_memory_mb=max_used,
    )


def sample_request(model_dir: Path) -> bytes:
    """An Open Inference Protocol request of one generated row for the model in `model_dir` (a model layer
    folder holding model.json, e.g. `.sls-deploy/build/<name>/model`): the same inputs `push` checks a model
    with when it has no samples; for a model that takes text or images, the request its clients send (a
    sentence, a photo-sized JPEG). For timing, not for judging answers."""
    from sls_inference.codec import oip_tensor
    from sls_inference.loader import ModelLoadError, read_manifest
    from sls_inference.signature import TensorSpec

    from ..model.processing import processed_request
    from ..model.samples import generate_samples

    try:
        manifest = read_manifest(model_dir)
        specs = tuple(TensorSpec.from_json(spec) for spec in manifest["signature"]["inputs"])
    except (ModelLoadError, KeyError, TypeError) as exc:
        raise SlsDeployError(
            f"no model signature to build a request from in {model_dir}: {exc}",
            "push the model from this project folder first, or pass a request with --payload FILE",
        ) from exc
    processed = processed_request(manifest.get("processing"), specs)
    if processed is not None:
        return json.dumps(processed).encode("utf-8")
    samples = generate_samples(specs, rows=1)
    inputs = [oip_tensor(spec, samples.arrays[spec.name]) for spec in specs]
    return json.dumps({"inputs": inputs}).encode("utf-8")
