"""A Worker: one Lambda execution environment on this machine — one awslambdaric process, started by
bootstrap.py (run by path in the runtime's interpreter).

The process runs with the function code as its working directory (LAMBDA_TASK_ROOT), the merged layers as
its /opt, a clean environment holding only what Lambda sets (environment.py), its memory limit (sandbox.py)
and its own Runtime API (runtime_api.py). A worker serves invocations one at a time and stays warm between
them until `stop()`.

An invocation runs entirely in the calling thread: it hands the event to the runtime's waiting GET /next,
then polls the runtime's connection, the worker's log pipe (logpipe.py) and its process handle (a pidfd)
until the answer, the process's death or the timeout. Nothing else in this process wakes up for it. What it
answers and measures (REPORT) is invocation.py's.

Failures come back as Lambda reports them: a timeout kills the worker (`Sandbox.Timedout`, "Task timed out
after N.NN seconds"), a process that dies mid-request is `Runtime.ExitError`, or `Runtime.OutOfMemory` when
its memory limit killed it. Output the function writes while idle is kept for the next invocation's log
(the pipe holds 1 MB).

Process hygiene: the worker runs in its own session/process group (Ctrl-C in the CLI reaches only the CLI,
which stops its workers itself); when the runtime process exits, whatever it left in its group (and in its
cgroup) is killed before it is reaped, as Lambda tears down the whole sandbox. If the CLI itself is killed,
an idle worker exits on its own: its Runtime API connection drops.

Side effects: starts and kills processes, binds a localhost port, runs one thread per worker that only waits
for the process to exit (and reaps it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
import weakref
from datetime import UTC, datetime
from pathlib import Path

from ...core import limits
from ...core.errors import InvocationError
from . import invocation as invocation_steps
from .cpu import CpuEnforcement, CpuLimit
from .environment import WorkerSpec, lambda_environment
from .invocation import WorkerResult
from .logpipe import LOG_DRAIN_INTERVAL_S, LogPipe
from .runtime_api import InitError, Invocation, RuntimeApi
from .sandbox import (
    MemoryEnforcement,
    MemoryLimit,
    detect_memory_enforcement,
    preexec_all,
    release_all,
    status_kb,
)

# How the worker starts awslambdaric (see bootstrap.py): `python -S BOOTSTRAP HANDLER`.
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
_LIVE_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    """One warm-able awslambdaric process and its Runtime API. Use as a context manager, or call stop().

    `memory` picks how its memory limit is enforced (default: what this machine offers, see sandbox.py);
    `cpu`, how it gets Lambda's CPU share of its MemorySize (default None: not throttled).
    """

    def __init__(
        self,
        spec: WorkerSpec,
        tcp_nodelay: bool = True,
        memory: MemoryEnforcement | None = None,
        cpu: CpuEnforcement | None = None,
    ) -> None:
        self.spec = spec
        self._tcp_nodelay = tcp_nodelay
        self._memory = memory
        self._cpu = cpu
        self._cpu_limit: CpuLimit | None = None
        self._api: RuntimeApi | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._logs: LogPipe | None = None
        self._limit: MemoryLimit | None = None
        self._pidfd: int | None = None
        self._status_fd: int | None = None
        self._watcher: threading.Thread | None = None
        self._exited = False
        self._oom_killed = False
        self._spawned_at = 0.0
        self._maxrss_kb = 0
        self._invoked = False
        self._invoke_lock = threading.Lock()
        self.last_used = time.monotonic()  # when the last invocation ended (pools reap idle workers by it)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Spawn the process (its init phase runs in the background; the first invoke waits for it)."""
        if self._proc is not None:
            return
        spec = self.spec
        if not (spec.runtime_dir / "awslambdaric").is_dir():
            raise InvocationError(
                f"the local Lambda runtime at {spec.runtime_dir} has no awslambdaric",
                "delete that folder; it is rebuilt on the next invoke",
            )
        api = RuntimeApi(tcp_nodelay=self._tcp_nodelay)
        limit = MemoryLimit(self._memory or detect_memory_enforcement(), spec.memory_mb)
        cpu = CpuLimit(self._cpu, spec.memory_mb, limit.group) if self._cpu is not None else None
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        env = lambda_environment(spec, api.address, stream)
        # -S: the interpreter's own site-packages stay out of sys.path, as on Lambda only the function, its
        # layers and the runtime's packages are importable. BOOTSTRAP runs awslambdaric's main.
        command = [str(spec.interpreter), "-S", str(BOOTSTRAP), spec.handler]
        self._spawned_at = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                cwd=spec.task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # joins the memory (and cpu) cgroup between fork and exec
                preexec_fn=preexec_all(limit.preexec(), cpu.preexec() if cpu is not None else None),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            api.close()
            limit.release()
            if cpu is not None:
                cpu.release()
            raise InvocationError(
                f"cannot start the worker {spec.interpreter}: {exc}",
                "set SLS_DEPLOY_PYTHON to a python" + spec.python_version + " interpreter",
            ) from exc
        limit.attach(proc.pid)
        assert proc.stdout is not None
        self._api, self._proc, self._limit, self._cpu_limit = api, proc, limit, cpu
        self._logs = LogPipe(proc.stdout, proc.stdout.fileno())
        with contextlib.suppress(OSError):  # kept open: one pread per invocation reads VmHWM
            self._status_fd = os.open(f"/proc/{proc.pid}/status", os.O_RDONLY)
        with contextlib.suppress(OSError, AttributeError):  # Linux ≥ 5.3; else invocations poll the process
            self._pidfd = os.pidfd_open(proc.pid)
            api.watch(self._pidfd, self._on_exit)
        self._watcher = threading.Thread(target=self._watch, name=f"worker-{proc.pid}", daemon=True)
        self._watcher.start()
        _LIVE_WORKERS.add(self)

    def _on_exit(self) -> None:
        self._exited = True
        if self._pidfd is not None and self._api is not None:
            self._api.unwatch(self._pidfd)

    def _watch(self) -> None:
        """Wait for the process to exit, kill what it left behind, then reap it (recording its rusage)."""
        assert self._proc is not None and self._limit is not None
        pid = self._proc.pid
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            # Still a zombie: its process group cannot be reused yet, so this reaches only its leftovers.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._oom_killed = self._limit.oom_killed()
            self._limit.kill_remaining()
            _, status, rusage = os.wait4(pid, 0)
            self._proc.returncode = os.waitstatus_to_exitcode(status)
            self._maxrss_kb = rusage.ru_maxrss
        except ChildProcessError:  # reaped elsewhere
            if self._proc.returncode is None:
                self._proc.returncode = -signal.SIGKILL
        finally:
            self._limit.release()
            if self._cpu_limit is not None:
                self._cpu_limit.release()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and not self._exited

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    @property
    def cpu_problem(self) -> str:
        """Why a CPU share that was asked for is not in force ("" when it is, or was not asked for)."""
        if self._cpu is None:
            return ""
        if not self._cpu.enforced:
            return self._cpu.describe()
        return self._cpu_limit.problem if self._cpu_limit is not None else ""

    def _kill(self, sig: int = signal.SIGKILL) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    def _wait_exit(self, timeout: float) -> bool:
        if self._watcher is not None:
            self._watcher.join(timeout)
            return not self._watcher.is_alive()
        return True

    def stop(self, grace_s: float = 0.5) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after `grace_s`), reap it, close its Runtime API.

        Safe while another thread is inside `invoke`: that invocation ends with the process's death."""
        if self._proc is not None:
            self._kill(signal.SIGTERM)
            if not self._wait_exit(grace_s):
                self._kill(signal.SIGKILL)
                self._wait_exit(5)
        acquired = self._invoke_lock.acquire(timeout=5)
        try:
            if self._api is not None:
                self._api.close()
            if self._logs is not None:
                self._logs.close()
            for fd in (self._pidfd, self._status_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._pidfd = self._status_fd = None
        finally:
            if acquired:
                self._invoke_lock.release()
        _LIVE_WORKERS.discard(self)

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- invocations -------------------------------------------------------------------------------------
    def invoke(
        self,
        event: bytes,
        timeout_s: float | None = None,
        function_arn: str | None = None,
        client_context: str | None = None,
    ) -> WorkerResult:
        """Run one event through the function; starts the process first if needed (a cold start).

        `function_arn`: the ARN the caller invoked (default: the spec's). The runtime's 202 for its answer
        is held back until `acknowledge()` (or the next invocation). Function errors, init errors,
        timeouts, crashes and memory kills come back as Lambda returns them (an error payload and
        function_error "Unhandled"); InvocationError only when the worker cannot be used at all.
        """
        with self._invoke_lock:
            if self._proc is not None and not self.alive:  # (one dying from now on fails this invocation)
                raise InvocationError(
                    "this worker has exited and cannot take invocations",
                    "start a new worker (sessions do this by themselves)",
                )
            self.start()
            try:
                return self._invoke(
                    event,
                    float(timeout_s or self.spec.timeout_s),
                    function_arn or self.spec.function_arn,
                    client_context,
                )
            finally:
                self.last_used = time.monotonic()

    def _read_hwm_kb(self) -> int | None:
        """VmHWM (peak resident memory, kB) of the live process: Lambda's "Max Memory Used"."""
        if self._status_fd is None or self._proc is None:
            return None
        try:
            data = os.pread(self._status_fd, 16384, 0)
            start = data.index(b"VmHWM:") + 6
            return int(data[start : data.index(b"kB", start)])
        except (OSError, ValueError):
            return status_kb(self._proc.pid, b"VmHWM")

    def acknowledge(self) -> None:
        """Let the runtime go on after its last answer (send the 202 `invoke` held back): call it once the
        answer has reached its caller. The next invocation does it too if nobody did."""
        if self._invoke_lock.acquire(blocking=False):
            try:
                if self._api is not None and not self._api.closed:
                    self._api.acknowledge()
            finally:
                self._invoke_lock.release()

    def _dead(self) -> bool:
        return self._exited or (self._proc is not None and self._proc.returncode is not None)

    def _invoke(
        self, event: bytes, timeout_s: float, function_arn: str, client_context: str | None
    ) -> WorkerResult:
        api, logs = self._api, self._logs
        assert api is not None and self._proc is not None and logs is not None
        cold, self._invoked = not self._invoked, True
        api.acknowledge()  # the last answer's 202, if its caller has not sent it
        invocation = invocation_steps.new_invocation(event, function_arn, timeout_s, client_context)
        timed_out = self._await(api, logs, invocation, timeout_s)
        if not invocation.finished:
            api.abandon()
        ended = time.monotonic()
        hwm_kb = self._read_hwm_kb() if not self._dead() else None
        init_error = api.init_error if invocation.handed_out_at is None else None
        outcome = self._outcome(invocation, timed_out, init_error, timeout_s)
        ended = invocation.finished_at or ended
        init_ms: float | None = None
        if cold:
            init_end = api.init_done_at or (init_error.at if init_error else None) or ended
            init_ms = (init_end - self._spawned_at) * 1000.0
        hwm = self._maxrss_kb if hwm_kb is None else hwm_kb
        return WorkerResult(
            request_id=invocation.request_id,
            payload=outcome.payload,
            function_error=outcome.function_error,
            error_type=outcome.error_type,
            report=invocation_steps.report(invocation, ended, init_ms, self.spec.memory_mb, hwm),
            logs=(*logs.take(), *outcome.log),
            cold=cold,
        )

    def _await(self, api: RuntimeApi, logs: LogPipe, invocation: Invocation, timeout_s: float) -> bool:
        """Hand the event out and wait for its answer, the process's death or the timeout (True: timed out).

        Until the event is handed out, init past Lambda's 10 s limit is retried inside the invoke, under the
        function's timeout (an initialized runtime takes the event at once)."""
        deadline = time.monotonic() + limits.MAX_INIT_S + timeout_s
        while not invocation.finished and not self._dead():
            if invocation.handed_out_at is None:
                if api.init_error is not None:
                    return False
                if api.ready:
                    if api.hand_out(invocation):
                        deadline = invocation.handed_out_at + timeout_s  # type: ignore[operator]
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if not api.pump(min(remaining, LOG_DRAIN_INTERVAL_S)):
                logs.drain()  # quiet for a while: make room in the pipe
        return False

    def _outcome(
        self, invocation: Invocation, timed_out: bool, init_error: InitError | None, timeout_s: float
    ) -> invocation_steps.Outcome:
        """The invocation's answer; a timed-out, failed or dying process is killed and reaped first."""
        if invocation.finished:
            return invocation_steps.answered(invocation)
        if timed_out:
            self._kill()
            self._wait_exit(5)
            return invocation_steps.timed_out(invocation.request_id, timeout_s)
        if init_error is not None:
            if not self._wait_exit(2):  # awslambdaric exits after reporting; make sure
                self._kill()
                self._wait_exit(5)
            return invocation_steps.failed_init(init_error)
        self._wait_exit(5)
        returncode = self.returncode if self.returncode is not None else -signal.SIGKILL
        return invocation_steps.exited(
            invocation.request_id, returncode, self._oom_killed, self.spec.memory_mb
        )


def stop_all_workers() -> None:
    """Stop every worker still running in this process (the CLI calls this on exit, e.g. after Ctrl-C), then
    remove their cgroups' folder."""
    for worker in list(_LIVE_WORKERS):
        worker.stop(grace_s=0.2)
    release_all()


atexit.register(stop_all_workers)
