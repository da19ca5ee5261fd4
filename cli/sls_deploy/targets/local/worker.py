"""A Worker: one Lambda execution environment on this machine — one awslambdaric process (see BOOTSTRAP).

The process runs with the function code as its working directory (LAMBDA_TASK_ROOT), the merged layers as
its /opt, a clean environment holding only what Lambda sets (plus the function's variables and the caller's
AWS credential/endpoint variables), its memory limit (sandbox.py) and its own Runtime API (runtime_api.py).
A worker serves invocations one at a time and stays warm between them until `stop()`.

An invocation runs entirely in the calling thread: it hands the event to the runtime's waiting GET /next,
then polls the runtime's connection, the worker's log pipe and its process handle (a pidfd) until the answer,
the process's death or the timeout. Nothing else in this process wakes up for it.

What a worker measures, as Lambda's REPORT line does: init duration (spawn → first GET /next), duration
(event handed out → response posted), billed duration (rounded up to 1 ms; on a cold start it includes the
init phase, which Lambda bills for zip functions since Aug 2025), max memory used (the process's VmHWM).

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
import fcntl
import math
import os
import random
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

from ...core import limits
from ...core.errors import InvocationError
from ...core.records import Report
from .runtime_api import Invocation, RuntimeApi, error_payload
from .sandbox import (
    CpuEnforcement,
    CpuLimit,
    MemoryEnforcement,
    MemoryLimit,
    detect_memory_enforcement,
    preexec_all,
    release_all,
    status_kb,
)

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
        return self.arn_for(self.qualifier)

    def arn_for(self, qualifier: str) -> str:
        """The function's ARN as invoked with `qualifier` ("" for the unqualified ARN)."""
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"
        return f"{arn}:{qualifier}" if qualifier else arn


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


# Part of BOOTSTRAP: a runtime that exits by itself (its Runtime API vanished: the server was killed without
# stopping its workers) leaves its memory cgroup (and its cgroup v1 cpu cgroup) and removes it, and its
# server's folder once empty, so a hard-killed server leaves no empty cgroup folders behind (sandbox.py
# creates them).
LEAVE_CGROUP = """
import atexit, os
def _leave(controller, roots):
    try:
        path = next(l.split(":", 2)[2].strip() for l in open("/proc/self/cgroup")
                    if controller in l.split(":")[1].split(",") or l.split(":")[1] == "")
        group = next(root + path for root in roots if os.path.isdir(root + path))
        owner = os.path.dirname(group)
        if not os.path.basename(owner).startswith("sls-deploy-"):
            return
        with open(os.path.join(os.path.dirname(owner), "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        os.rmdir(group)
        try:  # the server's folder too, once its server is gone (or a zombie) and no other worker is left
            with open("/proc/" + owner.rsplit("-", 1)[1] + "/stat") as stat:
                gone = stat.read().rsplit(")", 1)[1].split()[0] in "ZX"
        except FileNotFoundError:
            gone = True
        if gone:
            os.rmdir(owner)
    except (OSError, StopIteration, IndexError):
        pass
def _leave_cgroups():
    _leave("memory", ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"))
    _leave("cpu", ("/sys/fs/cgroup/cpu",))
atexit.register(_leave_cgroups)
"""
# How the worker starts awslambdaric: `python -m awslambdaric HANDLER`, as Lambda's bootstrap does, except
# that the runtime waits for events on its main thread. On python3.12+ awslambdaric polls GET /next from a
# new thread for every invocation (so signal handlers can run while it is idle); on a 2-core machine that
# thread's start and hand-back cost 0.3–0.7 ms per warm invoke, more than everything else together. What the
# function sees is unchanged (AWS_EXECUTION_ENV, JSON marshalling, context); only a Python signal handler it
# installs runs when the next event arrives instead of while idle. awslambdaric is pinned (runtime_dir.py).
BOOTSTRAP = (
    "import sys\n"
    "from awslambdaric import __main__ as ric, lambda_config\n"
    "if hasattr(lambda_config.LambdaConfigProvider, '_parse_thread_polling'):\n"
    "    lambda_config.LambdaConfigProvider._parse_thread_polling = lambda self: False\n"
    + LEAVE_CGROUP
    + "ric.main(sys.argv)\n"
)
PIPE_BYTES = 1 << 20  # the log pipe's buffer: output written while idle waits here for the next invocation
# The log pipe is not polled during an invocation (every wake-up for a log line would cost the caller); it is
# drained when the answer is in and whenever the runtime has been silent this long, so a function printing
# more than the pipe holds stalls at most this long.
LOG_DRAIN_INTERVAL_S = 0.05
_READ_BYTES = 1 << 16


class _LogPipe:
    """The worker's merged stdout/stderr, read without blocking by whoever drives the worker."""

    def __init__(self, stream: object, fd: int) -> None:
        self._stream = stream  # the pipe's file object, kept to close it
        self.fd = fd
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._lines: list[str] = []
        self._partial = b""
        self.eof = False

    def drain(self) -> None:
        """Read what the pipe holds now (one read when it holds less than a read's size)."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                if self._partial:
                    self._lines.append(self._partial.decode("utf-8", "replace"))
                    self._partial = b""
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line.decode("utf-8", "replace") for line in complete)
            if len(chunk) < _READ_BYTES:
                return

    def take(self) -> list[str]:
        """The complete lines read so far (after one more drain)."""
        self.drain()
        lines, self._lines = self._lines, []
        return lines

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()  # type: ignore[attr-defined]


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
        self._logs: _LogPipe | None = None
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
        command = [str(spec.interpreter), "-S", "-c", BOOTSTRAP, spec.handler]
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
        self._logs = _LogPipe(proc.stdout, proc.stdout.fileno())
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
    def memory_mechanism(self) -> str | None:
        """How this worker's memory limit is enforced ("cgroup-v1", "cgroup-v2", "rss-watchdog")."""
        return self._limit.mechanism if self._limit is not None else None

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
        api = self._api
        assert api is not None and self._proc is not None and self._logs is not None
        cold, self._invoked = not self._invoked, True
        logs = self._logs
        api.acknowledge()  # the last answer's 202, if its caller has not sent it
        invocation = Invocation(
            request_id=_request_id(),
            event=event,
            function_arn=function_arn,
            trace_id=_trace_id(),
            timeout_s=timeout_s,
            client_context=client_context,
        )
        # Until the event is handed out: init past Lambda's 10 s limit is retried inside the invoke, under the
        # function's timeout (an initialized runtime takes the event at once).
        deadline = time.monotonic() + limits.MAX_INIT_S + timeout_s
        timed_out = False
        while not invocation.finished and not self._dead():
            if invocation.handed_out_at is None:
                if api.init_error is not None:
                    break
                if api.ready:
                    if api.hand_out(invocation):
                        deadline = invocation.handed_out_at + timeout_s  # type: ignore[operator]
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not api.pump(min(remaining, LOG_DRAIN_INTERVAL_S)):
                logs.drain()  # quiet for a while: make room in the pipe
        if not invocation.finished:
            api.abandon()
        ended = time.monotonic()
        hwm_kb = self._read_hwm_kb() if not self._dead() else None

        request_id = invocation.request_id
        init_error = api.init_error if invocation.handed_out_at is None else None
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
            error_type = "Runtime.ExitError"
            if self._oom_killed:
                error_type = "Runtime.OutOfMemory"
                message += (
                    f" (out of memory: the function used all of its {self.spec.memory_mb} MB MemorySize "
                    "and was killed; give it more memory, e.g. push --memory "
                    f"{min(self.spec.memory_mb * 2, limits.MAX_MEMORY_MB)})"
                )
            payload, function_error = error_payload(error_type, message), "Unhandled"
            extra_log += [message, error_type]
        if hwm_kb is None:
            hwm_kb = self._maxrss_kb

        lines = logs.take() + extra_log
        init_ms: float | None = None
        if cold:
            init_end = api.init_done_at or (init_error.at if init_error else None) or ended
            init_ms = (init_end - self._spawned_at) * 1000.0
        started = invocation.handed_out_at if invocation.handed_out_at is not None else ended
        # Lambda's Duration ends when the runtime posts the response, not when this thread sees it.
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
            logs=tuple(lines),
            cold=cold,
        )


def stop_all_workers() -> None:
    """Stop every worker still running in this process (the CLI calls this on exit, e.g. after Ctrl-C), then
    remove their cgroups' folder."""
    for worker in list(_LIVE_WORKERS):
        worker.stop(grace_s=0.2)
    release_all()


atexit.register(stop_all_workers)
