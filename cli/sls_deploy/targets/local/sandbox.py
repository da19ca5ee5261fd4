"""What confines a worker process: Lambda's MemorySize as a hard limit on the memory it may use.

Lambda runs every execution environment in a cgroup whose memory limit is the function's MemorySize; past it
the kernel's OOM killer ends the runtime and the caller gets `Runtime.OutOfMemory`. The local target does the
same, with the first mechanism that works on this machine (`detect_memory_enforcement()` says which; `serve`
prints it):

- cgroup v1: a memory cgroup per worker below this process's own memory cgroup
  (`<mount>/<own group>/sls-deploy-<pid>/w<n>`), `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`
  where swap is accounted: no swapping past the limit) set to MemorySize; the child joins it before exec.
  `memory.oom_control`'s `oom_kill` count tells an OOM kill from any other SIGKILL.
- cgroup v2: the same with `memory.max`, `memory.swap.max` and `memory.events`, where this process's cgroup
  delegates the memory controller to its children.
- an RSS watchdog where no cgroup is writable: one thread reads each worker's VmRSS every
  WATCHDOG_INTERVAL_S and kills a worker above its limit. Coarser: a burst between two reads overshoots.

Never an address-space rlimit: onnxruntime and numpy reserve far more virtual memory than they use.

Lambda's CPU share, the second limit, is cpu.py's; it shares the cgroup plumbing here.

Side effects: creates and removes folders under /sys/fs/cgroup and writes their control files; starts one
watchdog thread when no cgroup can be used and a worker is running.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WATCHDOG_INTERVAL_S = 0.02
CGROUP_ROOT = Path("/sys/fs/cgroup")
_MIB = 1024 * 1024


def joiner(procs_path: str) -> Callable[[], None]:
    """What a child runs between fork and exec to join the cgroup whose cgroup.procs is `procs_path`: three
    system calls, no locks, no imports, nothing another thread could hold at fork."""

    def join() -> None:
        fd = os.open(procs_path, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    return join


@dataclass(frozen=True)
class MemoryEnforcement:
    """How this machine enforces a worker's memory limit."""

    kind: str  # "cgroup-v1" | "cgroup-v2" | "rss-watchdog"
    base: Path | None = None  # the folder holding this process's worker cgroups

    def describe(self) -> str:
        if self.kind == "rss-watchdog":
            return (
                "RSS watchdog (no writable memory cgroup here): a worker whose resident memory passes its "
                f"MemorySize is killed within ~{WATCHDOG_INTERVAL_S * 1000:.0f} ms"
            )
        return f"{self.kind} memory limit per worker = MemorySize (under {self.base})"


class MemoryLimit:
    """The memory limit of one worker process: `preexec` joins it (runs in the child), `attach` watches the
    started process, `oom_killed()` after its exit says whether the limit ended it, `release` cleans up."""

    def __init__(self, enforcement: MemoryEnforcement, memory_mb: int) -> None:
        self.enforcement = enforcement
        self.memory_mb = memory_mb
        self._group: Path | None = None
        self._procs_path = ""
        self._pid: int | None = None
        if enforcement.kind in ("cgroup-v1", "cgroup-v2") and enforcement.base is not None:
            self._group = _new_group(enforcement, memory_mb)
            self._procs_path = str(self._group / "cgroup.procs") if self._group else ""

    @property
    def group(self) -> Path | None:
        """The worker's memory cgroup (None under the watchdog); on cgroup v2 its CPU quota goes here too."""
        return self._group

    def preexec(self) -> Callable[[], None] | None:
        """The function a child runs between fork and exec to join the cgroup (None for the watchdog).

        It only makes three system calls: no locks, no imports, nothing another thread could hold at fork.
        """
        if not self._procs_path:
            return None
        return joiner(self._procs_path)

    def attach(self, pid: int) -> None:
        self._pid = pid
        if self._group is None:
            _watchdog().add(pid, self.memory_mb * _MIB)

    def oom_killed(self) -> bool:
        """True when the kernel (or the watchdog) killed the worker for passing its limit."""
        if self._group is None:
            return self._pid is not None and _watchdog().killed(self._pid)
        name = "memory.oom_control" if self.enforcement.kind == "cgroup-v1" else "memory.events"
        try:
            text = (self._group / name).read_text()
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def kill_remaining(self) -> None:
        """SIGKILL whatever is still in the worker's cgroup (processes that left its process group)."""
        if self._group is None:
            return
        with contextlib.suppress(OSError):
            for pid in (self._group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)

    def release(self) -> None:
        """Forget the worker (after it was reaped) and remove its cgroup."""
        if self._pid is not None and self._group is None:
            _watchdog().remove(self._pid)
        if self._group is not None:
            remove_group(self._group)
            self._group = None
            self._procs_path = ""


def remove_group(group: Path) -> None:
    """Remove a worker's cgroup folder once its processes have left it."""
    for _ in range(50):  # killed leftovers take a moment to leave the group
        try:
            group.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError:
            time.sleep(0.01)
    LIVE_GROUPS.discard(group)


# -- detection -----------------------------------------------------------------------------------------

_DETECTED: MemoryEnforcement | None = None
DETECT_LOCK = threading.Lock()
GROUP_NUMBERS = itertools.count(1)
LIVE_GROUPS: set[Path] = set()
OTHER_BASES: list[Path] = []  # other controllers' folders of this process's worker cgroups (cpu.py)


def detect_memory_enforcement() -> MemoryEnforcement:
    """The mechanism this process uses (decided once): a writable cgroup v1, else v2, else the watchdog."""
    global _DETECTED
    with DETECT_LOCK:
        if _DETECTED is None:
            _DETECTED = _try_v1() or _try_v2() or MemoryEnforcement("rss-watchdog")
        return _DETECTED


def own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path for a v1 controller (or the v2 hierarchy when controller is None)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" if controller is None else controller in controllers.split(","):
            return path
    return None


def prepare_base(
    base: Path, probe: Callable[[Path], object], setup: Callable[[Path], object] | None = None
) -> Path | None:
    """Create this process's folder of worker cgroups and check that a child in it takes a limit."""
    _remove_stale(base.parent)
    try:
        base.mkdir(exist_ok=True)
        if setup is not None:
            setup(base)
        probe_group = base / "probe"
        probe_group.mkdir(exist_ok=True)
        try:
            probe(probe_group)
        finally:
            probe_group.rmdir()
    except OSError:
        with contextlib.suppress(OSError):
            base.rmdir()
        return None
    atexit.register(_cleanup, base)
    return base


def _try_v1() -> MemoryEnforcement | None:
    mount = CGROUP_ROOT / "memory"
    own = own_cgroup("memory")
    if own is None or not (mount / "memory.limit_in_bytes").is_file():
        return None
    base = prepare_base(
        mount / own.lstrip("/") / f"sls-deploy-{os.getpid()}",
        probe=lambda group: (group / "memory.limit_in_bytes").write_text(str(128 * _MIB)),
    )
    return MemoryEnforcement("cgroup-v1", base) if base is not None else None


def _v2_mount() -> Path | None:
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split()[4])
    except OSError:
        return None
    return None


def _try_v2() -> MemoryEnforcement | None:
    mount = _v2_mount()
    own = own_cgroup(None)
    if mount is None or own is None:
        return None
    parent = mount / own.lstrip("/")
    try:
        if "memory" not in (parent / "cgroup.subtree_control").read_text().split():
            return None  # not delegated to children here; enabling it would move this process around
    except OSError:
        return None
    base = prepare_base(
        parent / f"sls-deploy-{os.getpid()}",
        probe=lambda group: (group / "memory.max").write_text(str(128 * _MIB)),
        setup=lambda folder: (folder / "cgroup.subtree_control").write_text("+memory"),
    )
    return MemoryEnforcement("cgroup-v2", base) if base is not None else None


def _new_group(enforcement: MemoryEnforcement, memory_mb: int) -> Path | None:
    assert enforcement.base is not None
    group = enforcement.base / f"w{next(GROUP_NUMBERS)}"
    limit = str(memory_mb * _MIB)
    try:
        group.mkdir()
        if enforcement.kind == "cgroup-v1":
            (group / "memory.limit_in_bytes").write_text(limit)
            swap = group / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(limit)  # memory + swap: nothing past the limit goes to swap
        else:
            (group / "memory.max").write_text(limit)
            swap = group / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None
    LIVE_GROUPS.add(group)
    return group


def release_all() -> None:
    """Remove this process's folders of worker cgroups (once its workers are stopped; at exit)."""
    if _DETECTED is not None and _DETECTED.base is not None:
        _cleanup(_DETECTED.base)
    for base in OTHER_BASES:
        _cleanup(base)


def _remove_stale(parent: Path) -> None:
    """Remove worker-cgroup folders left by sls-deploy processes that no longer exist (killed hard)."""
    with contextlib.suppress(OSError):
        for folder in parent.glob("sls-deploy-*"):
            pid = folder.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                _cleanup(folder)


def _cleanup(base: Path) -> None:
    with contextlib.suppress(OSError):
        for group in base.iterdir():
            if group.is_dir():
                with contextlib.suppress(OSError):
                    group.rmdir()
        base.rmdir()


def preexec_all(*steps: Callable[[], None] | None) -> Callable[[], None] | None:
    """One preexec function running the given ones in order (None when there are none)."""
    present = [step for step in steps if step is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def run() -> None:
        for step in present:
            step()

    return run


# -- RSS watchdog --------------------------------------------------------------------------------------


def status_kb(pid: int, key: bytes) -> int | None:
    """A kB figure of /proc/<pid>/status (b"VmRSS", b"VmHWM"), or None when the process is gone.

    One raw read: the file fits in a page, and each extra syscall is another GIL hand-off on the
    warm-invoke path (a line-by-line text read measured ~0.2 ms here under load, this ~15 µs).
    """
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        try:
            data = os.read(fd, 16384)
        finally:
            os.close(fd)
        start = data.index(key + b":") + len(key) + 1
        return int(data[start : data.index(b"kB", start)])
    except (OSError, ValueError):
        return None


class _Watchdog:
    """One thread for all workers of this process; it runs only while some worker is registered."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._limits: dict[int, int] = {}  # pid → limit in bytes
        self._killed: set[int] = set()
        self._thread: threading.Thread | None = None

    def add(self, pid: int, limit_bytes: int) -> None:
        with self._cond:
            self._limits[pid] = limit_bytes
            self._killed.discard(pid)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="memory-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def remove(self, pid: int) -> None:
        with self._cond:
            self._limits.pop(pid, None)
            self._killed.discard(pid)

    def killed(self, pid: int) -> bool:
        with self._cond:
            return pid in self._killed

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._limits:
                    self._cond.wait()
                watched = [(pid, limit) for pid, limit in self._limits.items() if pid not in self._killed]
            for pid, limit in watched:
                rss = status_kb(pid, b"VmRSS")
                if rss is not None and rss * 1024 > limit:
                    with self._cond:
                        self._killed.add(pid)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
            with self._cond:
                self._cond.wait(WATCHDOG_INTERVAL_S)


_WATCHDOG: _Watchdog | None = None


def _watchdog() -> _Watchdog:
    global _WATCHDOG
    if _WATCHDOG is None:
        _WATCHDOG = _Watchdog()
    return _WATCHDOG
