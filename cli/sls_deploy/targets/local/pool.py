"""WorkerPool: the warm execution environments of a project's functions — the one way the local target
invokes a function (LocalTarget.invoke, sessions and the gateway all go through `WorkerPool.invoke`).

As on Lambda:
- Workers are kept per function version and reused: an invocation takes an idle worker of its version (the
  most recently used first, so surplus workers go idle and are reaped), else starts one (a cold start).
- Concurrency is counted per function (all its versions): at most its reserved concurrency (the function's
  settings, `reserved_concurrency` at deploy; Lambda's ReservedConcurrentExecutions), or
  limits.LOCAL_MAX_CONCURRENCY when unreserved. One more request is throttled: PoolHost.throttled counts
  it and ThrottledError (the gateway's 429 TooManyRequestsException) is raised. A request never waits.
- Scale to zero: a worker idle longer than the idle window (config.idle_seconds) is stopped by one reaper
  thread; the next request is a cold start.
- A worker that dies (crash, timeout, memory limit) fails only the invocation it was running and is dropped;
  the next request gets a fresh one.
- Each worker holds its version's lease (LocalState.lease) while it lives, so pruning or removing the
  version leaves its files alone until the worker stops. Workers are kept per version by number and content
  (a number may name another version after a remove and a new push).
- Every finished invocation goes through PoolHost.finished (logs, REPORT, metrics), with the function's
  concurrency at the time it started.

The pool knows its host only through PoolHost, the few calls it makes (host.py implements them for the local
target).

`invoke_async` runs an `Event` invocation in the background (Lambda's asynchronous invoke): a throttled event
is retried with backoff for up to ASYNC_RETRY_S, as Lambda keeps throttled events queued; function errors
are not retried.

Side effects: starts and stops worker processes; one reaper thread while workers idle; a thread per async event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ...core import limits
from ...core.errors import InvocationError, ThrottledError
from ...core.records import InvokeResult
from .cpu import CpuEnforcement
from .environment import WorkerSpec
from .invocation import WorkerResult
from .sandbox import MemoryEnforcement
from .worker import Worker

if TYPE_CHECKING:
    from .routing import Resolved
    from .versions import VersionLease, VersionRecord

ASYNC_RETRY_S = 300.0  # how long a throttled Event invocation keeps being retried (Lambda: up to 6 hours)
STOP_GRACE_S = 0.2
SETTINGS_TTL_S = 1.0


# A version as the pool knows it: its number alone could name another version after a remove and a new push.
VersionKey = tuple[int, str, tuple[str, ...], str]


def version_key(record: VersionRecord) -> VersionKey:
    return (record.version, record.code_sha256, record.layer_sha256s, record.created_at)


class PoolHost(Protocol):
    """What the pool asks of the platform it runs on."""

    def worker_spec(self, resolved: Resolved) -> tuple[WorkerSpec, list[str]]:
        """What a worker of the version runs, and warnings for its results (asked once per version)."""
        ...

    def finished(
        self, resolved: Resolved, result: WorkerResult, warnings: list[str], concurrency: int | None = None
    ) -> InvokeResult:
        """A finished invocation, recorded, as the caller gets it."""
        ...

    def throttled(self, resolved: Resolved) -> None:
        """A throttled request, to be counted."""
        ...

    def lease(self, record: VersionRecord) -> VersionLease:
        """A hold on the version's files for a new worker's life (NotDeployedError: it is gone)."""
        ...

    def reserved_concurrency(self, name: str) -> int:
        """The function's reserved concurrency; 0 when it has none."""
        ...


@dataclass
class _Function:
    """The workers of one function: idle ones per version, and how many run an invocation now."""

    busy: int = 0
    idle: dict[VersionKey, list[Worker]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Prepared:
    spec: WorkerSpec
    warnings: tuple[str, ...]


class WorkerPool:
    """Warm workers of one host's functions. Thread-safe; `close()` stops every worker."""

    def __init__(
        self,
        host: PoolHost,
        idle_s: float,
        memory: MemoryEnforcement | None = None,
        cpu: CpuEnforcement | None = None,
    ) -> None:
        self._host = host
        self.idle_s = float(idle_s)
        self._memory = memory
        self._cpu = cpu  # None: workers are not held to Lambda's CPU share
        self._cond = threading.Condition()
        self._functions: dict[str, _Function] = {}
        self._prepared: dict[tuple[str, VersionKey], _Prepared] = {}
        self._leases: dict[Worker, VersionLease] = {}  # each worker holds its version's files on disk
        self._limits: dict[str, tuple[float, int]] = {}  # name → (when read, limit)
        self._busy: set[Worker] = set()
        self._reaper: threading.Thread | None = None
        self._reaper_deadline: float | None = None  # when the reaper wakes next (None: when told)
        self._async: set[threading.Thread] = set()
        self._closed = False

    # -- invocations -------------------------------------------------------------------------------------
    def invoke(
        self,
        resolved: Resolved,
        payload: bytes,
        *,
        client_context: str | None = None,
        max_payload: int = limits.MAX_SYNC_PAYLOAD_BYTES,
        invoked_as: str | None = None,
    ) -> InvokeResult:
        """Run `payload` on a warm (or new) worker of the resolved version. Raises ThrottledError past the
        function's concurrency, InvocationError for a payload over `max_payload` or a worker that cannot
        start; function errors come back in the result. `invoked_as`: the qualifier in the ARN the function
        sees as invoked ("" for an unqualified call; default: the resolved qualifier)."""
        return self.run(
            resolved, payload, client_context=client_context, max_payload=max_payload, invoked_as=invoked_as
        )[0]

    def run(
        self,
        resolved: Resolved,
        payload: bytes,
        *,
        client_context: str | None = None,
        max_payload: int = limits.MAX_SYNC_PAYLOAD_BYTES,
        invoked_as: str | None = None,
        defer_acknowledge: bool = False,
    ) -> tuple[InvokeResult, Worker]:
        """`invoke`, also returning the worker that ran it. With `defer_acknowledge` the caller calls
        `worker.acknowledge()` once it has passed the answer on (a server: after its response is sent)."""
        if len(payload) > max_payload:
            raise InvocationError(
                f"the request is {len(payload)} bytes; Lambda accepts at most {max_payload} bytes for "
                f"{'a synchronous' if max_payload == limits.MAX_SYNC_PAYLOAD_BYTES else 'an asynchronous'} "
                "invoke",
                "send the data through S3 and pass its key instead",
            )
        prepared = self._prepare(resolved)
        worker, concurrency = self._acquire(resolved, prepared.spec)
        try:
            result = worker.invoke(
                payload,
                function_arn=prepared.spec.arn_for(resolved.qualifier if invoked_as is None else invoked_as),
                client_context=client_context,
            )
        finally:
            self._release(resolved.record, worker)
        if not defer_acknowledge:
            worker.acknowledge()
        invoked = self._host.finished(resolved, result, list(prepared.warnings), concurrency=concurrency)
        return invoked, worker

    def invoke_async(
        self,
        resolved: Resolved,
        payload: bytes,
        invoked_as: str | None = None,
        on_done: Callable[[InvokeResult | None], None] | None = None,
    ) -> None:
        """Run an Event invocation in the background; `on_done` gets its result (None if it never ran)."""
        if len(payload) > limits.MAX_ASYNC_PAYLOAD_BYTES:
            raise InvocationError(
                f"the event is {len(payload)} bytes; Lambda accepts at most "
                f"{limits.MAX_ASYNC_PAYLOAD_BYTES} bytes for an asynchronous invoke",
                "send the data through S3 and pass its key instead",
            )

        def run() -> None:
            result: InvokeResult | None = None
            deadline = time.monotonic() + ASYNC_RETRY_S
            delay = 0.05
            try:
                while not self._closed:
                    try:
                        result = self.invoke(
                            resolved,
                            payload,
                            max_payload=limits.MAX_ASYNC_PAYLOAD_BYTES,
                            invoked_as=invoked_as,
                        )
                        break
                    except ThrottledError:
                        if time.monotonic() + delay > deadline:
                            break
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
                    except InvocationError:
                        break
            finally:
                with self._cond:
                    self._async.discard(threading.current_thread())
                if on_done is not None:
                    on_done(result)

        thread = threading.Thread(target=run, name=f"event-{resolved.record.name}", daemon=True)
        with self._cond:
            self._async.add(thread)
        thread.start()

    # -- workers -----------------------------------------------------------------------------------------
    def _prepare(self, resolved: Resolved) -> _Prepared:
        """The worker spec of a version (found once: interpreter lookup, runtime dir, extracted layers)."""
        record = resolved.record
        key = (record.name, version_key(record))
        prepared = self._prepared.get(key)
        if prepared is None:
            spec, warnings = self._host.worker_spec(resolved)
            prepared = self._prepared.setdefault(key, _Prepared(spec, tuple(warnings)))
        return prepared

    def concurrency_limit(self, name: str) -> int:
        """The function's reserved concurrency, or the local cap when it has none (re-read every
        SETTINGS_TTL_S, so a deploy that changes it takes effect in a running server)."""
        now = time.monotonic()
        cached = self._limits.get(name)
        if cached is not None and now - cached[0] < SETTINGS_TTL_S:
            return cached[1]
        reserved = self._host.reserved_concurrency(name)
        limit = reserved if reserved > 0 else limits.LOCAL_MAX_CONCURRENCY
        self._limits[name] = (now, limit)
        return limit

    def _acquire(self, resolved: Resolved, spec: WorkerSpec) -> tuple[Worker, int]:
        name, version = resolved.record.name, version_key(resolved.record)
        limit = self.concurrency_limit(name)
        fresh = False
        with self._cond:
            if self._closed:
                raise InvocationError("the local workers are shutting down", "start them again")
            function = self._functions.setdefault(name, _Function())
            if function.busy >= limit:
                throttled = True
            else:
                throttled = False
                function.busy += 1
                idle = function.idle.get(version, [])
                worker: Worker | None = None
                while idle:
                    candidate = idle.pop()
                    if candidate.alive:
                        worker = candidate
                        break
                    self._stop_later(candidate)
                if worker is None:
                    worker, fresh = Worker(spec, memory=self._memory, cpu=self._cpu), True
                self._busy.add(worker)
                concurrency = function.busy
        if throttled:
            self._host.throttled(resolved)
            reserved = limit != limits.LOCAL_MAX_CONCURRENCY
            raise ThrottledError(
                f"{name} is already running {limit} concurrent invocations, its "
                + ("reserved concurrency" if reserved else "local limit for functions without one"),
                "retry later"
                + (
                    "" if reserved else ", or give the function a reserved concurrency (reserved_concurrency)"
                ),
                reason=(
                    "ReservedFunctionConcurrentInvocationLimitExceeded"
                    if reserved
                    else "ConcurrentInvocationLimitExceeded"
                ),
            )
        assert worker is not None
        if fresh:
            try:  # the version's files stay on disk while this worker may run it
                lease = self._host.lease(resolved.record)
            except BaseException:
                self._release(resolved.record, worker)
                raise
            with self._cond:
                self._leases[worker] = lease
        return worker, concurrency

    def _stop(self, worker: Worker, grace_s: float = STOP_GRACE_S) -> None:
        """Stop a worker that left the pool and release its version's lease."""
        worker.stop(grace_s=grace_s)
        with self._cond:
            lease = self._leases.pop(worker, None)
        if lease is not None:
            lease.release()

    def _stop_later(self, worker: Worker) -> None:
        """`_stop` from a thread of its own (the caller holds the pool's lock)."""
        threading.Thread(target=self._stop, args=(worker, 0), name="worker-stop", daemon=True).start()

    def _release(self, record: VersionRecord, worker: Worker) -> None:
        stop = False
        with self._cond:
            function = self._functions[record.name]
            function.busy -= 1
            self._busy.discard(worker)
            if worker.alive and not self._closed:
                function.idle.setdefault(version_key(record), []).append(worker)
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="worker-reaper", daemon=True)
                    self._reaper.start()
                elif self._reaper_deadline is None:
                    self._cond.notify_all()  # the reaper sleeps until told: there is an idle worker now
            else:
                stop = True
        if stop:
            self._stop(worker, grace_s=0)

    def _expired_locked(self, now: float) -> tuple[list[Worker], float | None]:
        """Take the idle workers past the idle window out of the pool; also when the next one expires."""
        expired: list[Worker] = []
        next_expiry: float | None = None
        for function in self._functions.values():
            for workers in function.idle.values():
                for worker in list(workers):
                    expiry = worker.last_used + self.idle_s
                    if expiry <= now:
                        workers.remove(worker)
                        expired.append(worker)
                    elif next_expiry is None or expiry < next_expiry:
                        next_expiry = expiry
        return expired, next_expiry

    def _reap(self) -> None:
        """Stop workers idle longer than the idle window; sleeps until the next one would expire."""
        while True:
            with self._cond:
                expired: list[Worker] = []
                while not expired:
                    if self._closed:
                        return
                    now = time.monotonic()
                    expired, next_expiry = self._expired_locked(now)
                    if not expired:
                        self._reaper_deadline = next_expiry
                        self._cond.wait(None if next_expiry is None else next_expiry - now)
                self._reaper_deadline = 0.0
            for worker in expired:
                self._stop(worker)

    def in_flight(self, name: str) -> int:
        """How many invocations of the function run now (its concurrency)."""
        with self._cond:
            function = self._functions.get(name)
            return function.busy if function is not None else 0

    def busy_workers(self) -> list[Worker]:
        """The workers running an invocation now."""
        with self._cond:
            return list(self._busy)

    def idle_workers(self, name: str | None = None) -> list[Worker]:
        """The idle (warm) workers, of one function or all."""
        with self._cond:
            return [
                worker
                for function_name, function in self._functions.items()
                if name is None or function_name == name
                for workers in function.idle.values()
                for worker in workers
            ]

    def retire(self, record: VersionRecord) -> None:
        """Stop the idle workers of one version (a session that ends takes its warm workers with it)."""
        with self._cond:
            function = self._functions.get(record.name)
            workers = function.idle.pop(version_key(record), []) if function is not None else []
        for worker in workers:
            self._stop(worker)

    def close(self) -> None:
        """Stop every worker (a busy one's invocation ends with its death) and the reaper."""
        with self._cond:
            self._closed = True
            workers = [w for f in self._functions.values() for ws in f.idle.values() for w in ws]
            workers += self._busy
            for function in self._functions.values():
                function.idle.clear()
            self._cond.notify_all()
            pending = list(self._async)
        for worker in workers:
            self._stop(worker)
        for thread in pending:
            thread.join(timeout=5)
