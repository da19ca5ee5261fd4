"""A Worker: one Lambda execution environment on this machine — one `python -m awslambdaric` process.

The process runs with the function code as its working directory (LAMBDA_TASK_ROOT), the merged layers as
its /opt, a clean environment holding only what Lambda sets (plus the function's variables and the caller's
AWS credential/endpoint variables), and its own Runtime API server (runtime_api.py). A worker serves
invocations one at a time and stays warm between them until `stop()`.

What a worker measures, as Lambda's REPORT line does: init duration (spawn → first GET /next), duration
(event handed out → response posted), billed duration (rounded up to 1 ms; on a cold start it includes the
init phase, which Lambda bills for zip functions since Aug 2025), max memory used (the process's VmHWM).

Process hygiene: the worker runs in its own session/process group (Ctrl-C in the CLI reaches only the CLI,
which stops its workers itself); when the runtime process exits, whatever it left in its group is killed
before it is reaped (as Lambda tears down the whole sandbox); a timed-out worker is killed with SIGKILL.
If the CLI itself is killed, an idle worker exits on its own: its Runtime API connection drops.

Side effects: starts and kills processes, binds a localhost port, runs two daemon threads per worker.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ... import limits
from ...errors import InvocationError
from ..base import Report
from .runtime_api import Invocation, RuntimeApiServer, RuntimeState, error_payload

ACCOUNT_ID = "000000000000"  # a local "account" for ARNs the function may parse
# The caller's variables passed through to the function: credentials and endpoints (a real Lambda gets its
# role's credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN), the CA bundle, and a
# profile with the files it lives in. Nothing else of the caller's environment reaches the function.
PASSTHROUGH_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
PASSTHROUGH_PREFIXES = ("AWS_ENDPOINT_URL",)
_LIVE_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs: which code, which layers, which interpreter, which settings."""

    function_name: str
    version: str  # "1", "2", … or "$LATEST": AWS_LAMBDA_FUNCTION_VERSION
    handler: str  # module.function
    interpreter: Path
    python_version: str  # "3.12": names the layers' site-packages folder and AWS_EXECUTION_ENV
    task_root: Path  # the extracted function code (Lambda's /var/task)
    opt_dir: Path  # the merged layers (Lambda's /opt); may be empty
    runtime_dir: Path  # awslambdaric + boto3 (Lambda's /var/runtime), see runtime_dir.py
    memory_mb: int
    timeout_s: float
    region: str
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)  # the function's own variables
    qualifier: str = ""  # how it was invoked (alias or version), for the invoked function ARN

    @property
    def function_arn(self) -> str:
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"
        return f"{arn}:{self.qualifier}" if self.qualifier else arn


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


def map_lambda_paths(value: str, spec: WorkerSpec) -> str:
    """Rewrite /opt/… and /var/task/… (also inside colon-separated lists) to the worker's local trees."""
    mounts = (("/opt", str(spec.opt_dir)), ("/var/task", str(spec.task_root)))

    def one(part: str) -> str:
        for mount, local in mounts:
            if part == mount or part.startswith(mount + "/"):
                return local + part[len(mount) :]
        return part

    return ":".join(one(part) for part in value.split(":"))


def lambda_environment(
    spec: WorkerSpec, runtime_api: str, log_stream: str, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The worker's complete environment: Lambda's variables, the function's, and the pass-through ones."""
    parent = os.environ if parent is None else parent
    task, opt, runtime = str(spec.task_root), str(spec.opt_dir), str(spec.runtime_dir)
    interpreter_bin = spec.interpreter.parent
    interpreter_lib = spec.interpreter.resolve().parent.parent / "lib"  # Lambda's /var/lang/lib
    env = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{interpreter_bin}:/usr/local/bin:/usr/bin:/bin:{opt}/bin",
        "LD_LIBRARY_PATH": f"{interpreter_lib}:/lib64:/usr/lib64:{runtime}:{runtime}/lib:{task}:{task}/lib:"
        f"{opt}/lib",
        # Lambda's order: the function's code, then the layers, then the runtime's own packages (boto3).
        "PYTHONPATH": f"{task}:{opt}/python/lib/python{spec.python_version}/site-packages:{opt}/python:"
        f"{runtime}",
        # /var/task and /opt are read-only on Lambda: no __pycache__ written next to the shared trees.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # A function may override LANG, PATH, PYTHONPATH, … as on Lambda. Paths into /opt and /var/task (e.g.
    # SLS_MODEL_DIR=/opt/model) are mapped onto the local trees: the worker cannot mount them there.
    env.update({key: map_lambda_paths(value, spec) for key, value in spec.environment.items()})
    for key, value in parent.items():
        if key in PASSTHROUGH_VARS or key.startswith(PASSTHROUGH_PREFIXES):
            env[key] = value
    if "AWS_PROFILE" in env:  # the function has no HOME: point it at the caller's files
        env.setdefault("AWS_CONFIG_FILE", str(Path("~/.aws/config").expanduser()))
        env.setdefault("AWS_SHARED_CREDENTIALS_FILE", str(Path("~/.aws/credentials").expanduser()))
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{spec.python_version}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task,
            "LAMBDA_RUNTIME_DIR": runtime,
        }
    )
    return env


class _LogCollector:
    """Reads the worker's merged stdout/stderr into lines, from a daemon thread and on demand.

    `take()` first drains what is already in the pipe (under the same lock as the thread), so every line the
    function wrote before posting its response is in the result: awslambdaric writes unbuffered.
    """

    def __init__(self, stream: object, fd: int) -> None:
        self._stream = stream  # the pipe's file object, kept to close it
        self._fd = fd
        os.set_blocking(fd, False)
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._partial = b""
        self._eof = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"worker-logs-{fd}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._eof and not self._stop:
            try:
                readable, _, _ = select.select([self._fd], [], [], 0.25)
            except (OSError, ValueError):
                return
            if readable:
                with self._lock:
                    self._drain_locked()

    def _drain_locked(self) -> None:
        while not self._eof:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
                if self._partial:
                    self._lines.append(self._partial.decode("utf-8", "replace"))
                    self._partial = b""
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line.decode("utf-8", "replace") for line in complete)

    def take(self) -> list[str]:
        with self._lock:
            self._drain_locked()
            lines, self._lines = self._lines, []
            return lines

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        with self._lock:
            self._stream.close()  # type: ignore[attr-defined]


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


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


def _vm_hwm_kb(pid: int) -> int | None:
    """Peak resident memory (VmHWM) of a live process, in kB: Lambda's "Max Memory Used".

    One raw read: /proc/<pid>/status fits in a page, and each extra syscall is another GIL hand-off on the
    warm-invoke path (a line-by-line text read measured ~0.2 ms here under load, this ~15 µs).
    """
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        try:
            data = os.read(fd, 16384)
        finally:
            os.close(fd)
        start = data.index(b"VmHWM:") + len(b"VmHWM:")
        return int(data[start : data.index(b"kB", start)])
    except (OSError, ValueError):
        return None


class Worker:
    """One warm-able awslambdaric process and its Runtime API. Use as a context manager, or call stop()."""

    def __init__(self, spec: WorkerSpec, tcp_nodelay: bool = True) -> None:
        self.spec = spec
        self._tcp_nodelay = tcp_nodelay
        self._state = RuntimeState()
        self._server: RuntimeApiServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._logs: _LogCollector | None = None
        self._watcher: threading.Thread | None = None
        self._spawned_at = 0.0
        self._maxrss_kb = 0
        self._invoked = False
        self._invoke_lock = threading.Lock()

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
        self._server = RuntimeApiServer(self._state, tcp_nodelay=self._tcp_nodelay)
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        env = lambda_environment(spec, self._server.address, stream)
        # -S: the interpreter's own site-packages stay out of sys.path, as on Lambda only the function, its
        # layers and the runtime's packages are importable.
        command = [str(spec.interpreter), "-S", "-m", "awslambdaric", spec.handler]
        self._spawned_at = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                command,
                cwd=spec.task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._server.close()
            self._server = None
            raise InvocationError(
                f"cannot start the worker {spec.interpreter}: {exc}",
                "set SLS_DEPLOY_PYTHON to a python" + spec.python_version + " interpreter",
            ) from exc
        assert self._proc.stdout is not None
        self._logs = _LogCollector(self._proc.stdout, self._proc.stdout.fileno())
        self._watcher = threading.Thread(target=self._watch, name=f"worker-{self._proc.pid}", daemon=True)
        self._watcher.start()
        _LIVE_WORKERS.add(self)

    def _watch(self) -> None:
        """Wait for the process to exit, kill what it left in its group, then reap it (recording its rusage)."""
        assert self._proc is not None
        pid = self._proc.pid
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            # Still a zombie: its process group cannot be reused yet, so this reaches only its leftovers.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            self._proc.returncode = os.waitstatus_to_exitcode(status)
            self._maxrss_kb = rusage.ru_maxrss
        except ChildProcessError:  # reaped elsewhere
            if self._proc.returncode is None:
                self._proc.returncode = -signal.SIGKILL
        self._state.mark_exited()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and not self._state.exited

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

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
        """Terminate the process (SIGTERM, then SIGKILL after `grace_s`), reap it, close the server."""
        if self._proc is not None:
            self._kill(signal.SIGTERM)
            if not self._wait_exit(grace_s):
                self._kill(signal.SIGKILL)
                self._wait_exit(5)
        if self._logs is not None:
            self._logs.close()
        if self._server is not None:
            self._server.close()
            self._server = None
        _LIVE_WORKERS.discard(self)

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- invocations -------------------------------------------------------------------------------------
    def invoke(self, event: bytes, timeout_s: float | None = None) -> WorkerResult:
        """Run one event through the function; starts the process first if needed (a cold start).

        Function errors, init errors, timeouts and crashes come back as Lambda returns them (an error payload
        and function_error "Unhandled"); InvocationError only when the worker cannot be used at all.
        """
        with self._invoke_lock:
            self.start()
            if not self.alive:
                raise InvocationError(
                    "this worker has exited and cannot take invocations",
                    "start a new worker (sessions do this by themselves)",
                )
            return self._invoke(event, float(timeout_s or self.spec.timeout_s))

    def _invoke(self, event: bytes, timeout_s: float) -> WorkerResult:
        state = self._state
        cold, self._invoked = not self._invoked, True
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            function_arn=self.spec.function_arn,
            trace_id=_trace_id(),
            timeout_s=timeout_s,
        )
        # Until the event is handed out: init past Lambda's 10 s limit is retried inside the invoke, under the
        # function's timeout (an initialized runtime takes the event at once).
        init_deadline = time.monotonic() + limits.MAX_INIT_S + timeout_s
        timed_out = False
        state.submit(invocation)
        with state.cond:
            while not (
                invocation.finished
                or state.exited
                or (state.init_error is not None and invocation.handed_out_at is None)
            ):
                now = time.monotonic()
                deadline = (
                    init_deadline
                    if invocation.handed_out_at is None
                    else invocation.handed_out_at + timeout_s
                )
                if now >= deadline:
                    timed_out = True
                    break
                state.cond.wait(deadline - now)
            if not invocation.finished and state.current is invocation:
                state.current = None
            if invocation.handed_out_at is None and invocation in state.queue:
                state.queue.remove(invocation)
            init_error = state.init_error
        ended = time.monotonic()
        hwm_kb = _vm_hwm_kb(self._proc.pid) if self.alive and self._proc is not None else None

        request_id = invocation.request_id
        extra_log: list[str] = []
        if invocation.finished:
            payload, function_error, error_type = (
                invocation.payload,
                invocation.function_error,
                invocation.error_type,
            )
            ended = invocation.finished_at or ended
        elif timed_out:
            self._kill()
            self._wait_exit(5)
            message = (
                f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3]
                + f"Z {request_id} Task timed out after {timeout_s:.2f} seconds"
            )
            payload, function_error, error_type = (
                error_payload("Sandbox.Timedout", message),
                "Unhandled",
                "Sandbox.Timedout",
            )
            extra_log.append(message)
        elif init_error is not None:
            payload, function_error, error_type = init_error.payload, "Unhandled", init_error.error_type
            if not self._wait_exit(2):  # awslambdaric exits after reporting; make sure
                self._kill()
                self._wait_exit(5)
        else:
            self._wait_exit(5)
            text = _exit_text(self.returncode if self.returncode is not None else -signal.SIGKILL)
            message = f"RequestId: {request_id} Error: Runtime exited with error: {text}"
            payload, function_error, error_type = (
                error_payload("Runtime.ExitError", message),
                "Unhandled",
                "Runtime.ExitError",
            )
            extra_log += [message, "Runtime.ExitError"]
        if hwm_kb is None:
            hwm_kb = self._maxrss_kb

        logs = (self._logs.take() if self._logs is not None else []) + extra_log
        init_ms: float | None = None
        if cold:
            init_end = state.init_done_at or (init_error.at if init_error else None) or ended
            init_ms = (init_end - self._spawned_at) * 1000.0
        started = invocation.handed_out_at if invocation.handed_out_at is not None else ended
        # Lambda's Duration ends when the runtime posts the response, not when this thread wakes up to it.
        finished = invocation.finished_at if invocation.finished_at is not None else ended
        duration_ms = max(0.0, (finished - started) * 1000.0)
        billed = math.ceil(duration_ms + (init_ms or 0.0))
        report = Report(
            request_id=request_id,
            duration_ms=duration_ms,
            billed_duration_ms=max(1, billed),
            memory_size_mb=self.spec.memory_mb,
            max_memory_used_mb=math.ceil(hwm_kb / 1024),
            init_duration_ms=init_ms,
        )
        return WorkerResult(
            request_id=request_id,
            payload=payload,
            function_error=function_error,
            error_type=error_type,
            report=report,
            logs=tuple(logs),
            cold=cold,
        )


def stop_all_workers() -> None:
    """Stop every worker still running in this process (the CLI calls this on exit, e.g. after Ctrl-C)."""
    for worker in list(_LIVE_WORKERS):
        worker.stop(grace_s=0.2)


atexit.register(stop_all_workers)
