"""One invocation's outcome as Lambda reports it: the answer the runtime posted, or the platform's error
for a timeout or a runtime that died (WorkerResult), and its REPORT figures.

What a worker measures, as Lambda's REPORT line does: init duration (spawn → first GET /next), duration
(event handed out → response posted), billed duration (rounded up to 1 ms; on a cold start it includes the
init phase, which Lambda bills for zip functions since Aug 2025), max memory used (the process's VmHWM).

Pure, except for the clock and the process's PRNG (request and trace ids).
"""

from __future__ import annotations

import math
import random
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ...core import limits
from ...core.records import Report
from .runtime_api import InitError, Invocation, error_payload


@dataclass(frozen=True)
class WorkerResult:
    """One invocation's outcome: Lambda's response payload and X-Amz-Function-Error, REPORT, log lines."""

    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" when the function (or the platform for it) reported an error
    error_type: str | None  # errorType of that error: e.g. "ValueError", "Runtime.ImportModuleError"
    report: Report
    logs: tuple[str, ...]  # the function's output during this invocation (and its init, when cold)
    cold: bool


def _request_id() -> str:
    """A version-4 UUID from the process's PRNG (ids need uniqueness, not secrecy: no os.urandom call)."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


def _trace_id() -> str:
    bits = f"{random.getrandbits(160):040x}"
    return f"Root=1-{int(time.time()):08x}-{bits[:24]};Parent={bits[24:]};Sampled=0"


def _exit_text(returncode: int) -> str:
    """Lambda's (Go's) wording: "exit status 1" or "signal: killed"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        words = {
            "SIGKILL": "killed",
            "SIGTERM": "terminated",
            "SIGSEGV": "segmentation fault",
            "SIGABRT": "aborted",
        }
        return f"signal: {words.get(name, name)}"
    return f"exit status {returncode}"


@dataclass(frozen=True)
class Outcome:
    """What an invocation answers: its payload, X-Amz-Function-Error and errorType, and the lines the
    platform adds to its log."""

    payload: bytes
    function_error: str | None
    error_type: str | None
    log: tuple[str, ...] = ()


def new_invocation(
    event: bytes, function_arn: str, timeout_s: float, client_context: str | None
) -> Invocation:
    """An event with a fresh request id and trace header."""
    return Invocation(
        request_id=_request_id(),
        event=event,
        function_arn=function_arn,
        trace_id=_trace_id(),
        timeout_s=timeout_s,
        client_context=client_context,
    )


def answered(invocation: Invocation) -> Outcome:
    """What the runtime posted for the invocation."""
    return Outcome(invocation.payload, invocation.function_error, invocation.error_type)


def failed_init(init_error: InitError) -> Outcome:
    """What the runtime reported when its init failed."""
    return Outcome(init_error.payload, "Unhandled", init_error.error_type)


def timed_out(request_id: str, timeout_s: float) -> Outcome:
    """Lambda's answer for an invocation past the function's timeout."""
    message = (
        f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3]
        + f"Z {request_id} Task timed out after {timeout_s:.2f} seconds"
    )
    return Outcome(error_payload("Sandbox.Timedout", message), "Unhandled", "Sandbox.Timedout", (message,))


def exited(request_id: str, returncode: int, oom_killed: bool, memory_mb: int) -> Outcome:
    """Lambda's answer for a runtime that died mid-request (killed by its memory limit, or not)."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: {_exit_text(returncode)}"
    error_type = "Runtime.ExitError"
    if oom_killed:
        error_type = "Runtime.OutOfMemory"
        message += (
            f" (out of memory: the function used all of its {memory_mb} MB MemorySize "
            "and was killed; give it more memory, e.g. push --memory "
            f"{min(memory_mb * 2, limits.MAX_MEMORY_MB)})"
        )
    return Outcome(error_payload(error_type, message), "Unhandled", error_type, (message, error_type))


def report(
    invocation: Invocation, ended: float, init_ms: float | None, memory_mb: int, hwm_kb: int
) -> Report:
    """The REPORT of an invocation that ended (as this thread saw it) at `ended`."""
    started = invocation.handed_out_at if invocation.handed_out_at is not None else ended
    # Lambda's Duration ends when the runtime posts the response, not when this thread sees it.
    finished = invocation.finished_at if invocation.finished_at is not None else ended
    duration_ms = max(0.0, (finished - started) * 1000.0)
    billed = math.ceil(duration_ms + (init_ms or 0.0))
    return Report(
        request_id=invocation.request_id,
        duration_ms=duration_ms,
        billed_duration_ms=max(1, billed),
        memory_size_mb=memory_mb,
        max_memory_used_mb=math.ceil(hwm_kb / 1024),
        init_duration_ms=init_ms,
    )
