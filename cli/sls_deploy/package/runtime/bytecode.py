"""Bytecode for the cold-start path: Lambda's /opt is read-only, so a layer without .pyc recompiles every
module it imports on every cold start. After slimming, coldstart.py runs with an interpreter of the target
version to list the layer modules a cold start loads, and those are compiled (unchecked-hash .pyc: no
timestamps, so reproducible) in a fresh interpreter. Without such an interpreter (or where the layer's
binaries cannot be imported) the layer gets no bytecode and the report says why.

Side effects: runs the target interpreter (and pip, to probe another architecture's layer).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import PackagingError
from ...core.interpreters import find_interpreter
from ...core.progress import Progress
from ..pip import pip_install_for_platform
from .recipe import COLDSTART_PROBE_NAME, REQUIREMENTS_NAME
from .slimming import SlimRule, apply_slim_rules, zipped_bytes_of

LAMBDA_LAYER_PYTHON_DIR = (
    "/opt/python"  # the file names compiled into the bytecode (tracebacks use the real one)
)
PROBE_TIMEOUT_S = 180
COMPILE_TIMEOUT_S = 600
_OUTPUT_TAIL_LINES = 12
# The probe sees what a Lambda function sees (powertools reads some of these at import or first use).
_PROBE_ENVIRONMENT = {
    "LANG": "C.UTF-8",
    "TZ": ":UTC",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
    "POWERTOOLS_SERVICE_NAME": "coldstart",
    "POWERTOOLS_METRICS_NAMESPACE": "SlsDeploy",
}
_HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}

# Runs in a fresh target interpreter: same start state and PYTHONHASHSEED every build, because marshal marks
# objects (FLAG_REF) by their reference count, which depends on what the process did before (measured on
# 3.12: compiling after other imports changed 9 of 495 .pyc files by one byte; two fresh runs never differ).
# Files are compiled in sorted order; the embedded file name is the Lambda path, not the build folder's.
_COMPILE_SCRIPT = r"""
import importlib.util, json, os, platform, py_compile, sys
site, prefix = sys.argv[1:3]
for rel in sorted(json.load(sys.stdin)):
    source = os.path.join(site, rel)
    py_compile.compile(source, cfile=importlib.util.cache_from_source(source, optimization=""),
                       dfile=prefix + "/" + rel, doraise=True, optimize=0,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print(json.dumps({"version": platform.python_version(), "cache_tag": sys.implementation.cache_tag}))
"""


@dataclass(frozen=True)
class BytecodeReport:
    """The bytecode a runtime layer ships (sizes.json "bytecode").

    status: "compiled", or why not: "no-interpreter" (no python of the target version here: retried once one
    is installed), "not-importable" (this machine cannot load the layer's Linux binaries), "probe-failed".
    """

    status: str
    reason: str  # one line for people; "" when compiled
    interpreter: str = ""  # full version of the interpreter that compiled it, e.g. "3.12.1"
    cache_tag: str = ""  # e.g. "cpython-312": the .pyc files are __pycache__/<module>.<cache_tag>.pyc
    files: int = 0
    unzipped_bytes: int = 0
    zipped_bytes: int = 0

    @property
    def compiled(self) -> bool:
        return self.status == "compiled"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "interpreter": self.interpreter,
            "cache_tag": self.cache_tag,
            "files": self.files,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
            "invalidation_mode": "unchecked-hash",
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BytecodeReport:
        return cls(
            status=str(data["status"]),
            reason=str(data.get("reason", "")),
            interpreter=str(data.get("interpreter", "")),
            cache_tag=str(data.get("cache_tag", "")),
            files=int(data.get("files", 0)),
            unzipped_bytes=int(data.get("unzipped_bytes", 0)),
            zipped_bytes=int(data.get("zipped_bytes", 0)),
        )


def host_layer_arch() -> str | None:
    """The layer architecture whose binaries this machine can import: its own on Linux, None elsewhere
    (the layer holds manylinux shared objects)."""
    if not sys.platform.startswith("linux"):
        return None
    return _HOST_ARCH.get(platform.machine().lower())


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_OUTPUT_TAIL_LINES:])


def _run_in_scratch(
    argv: list[str],
    env: dict[str, str],
    scratch: str,
    timeout_s: float,
    what: str,
    hint: str,
    stdin: str = "",
) -> str:
    """Run a target interpreter with `argv` in the folder `scratch`; its combined output, or PackagingError
    (naming `what` failed, with the output's last lines and `hint`) when it cannot start or exits non-zero."""
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            cwd=scratch,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PackagingError(
            f"{what} could not run with {argv[0]}: {exc}", "check that the interpreter starts"
        ) from exc
    if proc.returncode != 0:
        raise PackagingError(
            f"{what} failed with {argv[0]} (exit status {proc.returncode}):\n{_tail(proc.stdout)}", hint
        )
    return proc.stdout


def probe_cold_start_modules(interpreter: Path, site: Path, probe: Path) -> tuple[str, ...]:
    """The `.py` files (relative to `site`) of the layer modules a cold start loads: runs `probe`
    (layers/runtime/coldstart.py) isolated with `interpreter` and only `site` importable.

    Raises PackagingError (with the probe's last output lines) when it fails.
    """
    with tempfile.TemporaryDirectory(prefix="sls-coldstart-") as scratch:
        output = Path(scratch) / "modules.json"
        _run_in_scratch(
            [str(interpreter), "-I", "-S", "-B", str(probe), str(site), str(output)],
            dict(_PROBE_ENVIRONMENT),
            scratch,
            PROBE_TIMEOUT_S,
            "the cold-start probe",
            f"run `{interpreter} -I -S {probe} <layer>/python out.json` to see why",
        )
        if not output.is_file():
            raise PackagingError(
                f"the cold-start probe with {interpreter} wrote no module list", "report this as a bug"
            )
        modules = json.loads(output.read_text(encoding="utf-8"))
    return tuple(sorted(str(rel) for rel in modules))


def compile_bytecode(
    interpreter: Path, site: Path, modules: Iterable[str], prefix: str = LAMBDA_LAYER_PYTHON_DIR
) -> tuple[str, str]:
    """Compile `modules` (.py paths relative to `site`) into their `__pycache__/*.pyc`, unchecked-hash, in a
    fresh `interpreter` (which must be the layer's Python version: .pyc magic numbers differ per version).
    `prefix`: where `site` is on Lambda (the file names tracebacks show).

    Returns (interpreter version, cache tag). Raises PackagingError when compiling fails.
    """
    with tempfile.TemporaryDirectory(prefix="sls-compile-") as scratch:
        # Not -I: it implies -E, which would ignore PYTHONHASHSEED; the environment is explicit instead.
        stdout = _run_in_scratch(
            [str(interpreter), "-s", "-S", "-B", "-c", _COMPILE_SCRIPT, str(site), prefix],
            {"PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8"},
            scratch,
            COMPILE_TIMEOUT_S,
            "compiling the runtime layer's bytecode",
            "the message above names the file that does not compile",
            stdin=json.dumps(sorted(modules)),
        )
    info = json.loads(stdout.strip().splitlines()[-1])
    return str(info["version"]), str(info["cache_tag"])


def _skipped(status: str, reason: str, say: Progress) -> BytecodeReport:
    say(f"runtime layer: no bytecode ({reason}); cold starts will compile the layer's modules each time")
    return BytecodeReport(status=status, reason=reason)


def add_cold_start_bytecode(
    site: Path,
    arch: str,
    python_version: str,
    recipe: Path,
    rules: Iterable[SlimRule],
    say: Progress,
    *,
    python: str = "",
) -> BytecodeReport:
    """Compile bytecode for the layer modules the cold-start probe loads, into `site`.

    The probe imports the layer, so it runs on the layer itself when this machine can load its binaries, and
    on a scratch install of the same recipe for this machine's architecture otherwise (the pure-Python files
    are the same in both wheels); the file list is then applied to `site`. `python` overrides the
    interpreter (find_interpreter rules). Where that is impossible, nothing is compiled and the report says
    why.
    """
    interpreter = find_interpreter(python_version, python)
    if interpreter is None:
        return _skipped(
            "no-interpreter",
            f"no python{python_version} interpreter on this machine to compile "
            f"with; install one (e.g. `pyenv install {python_version}`) and build again",
            say,
        )
    host = host_layer_arch()
    if host is None:
        return _skipped(
            "not-importable",
            f"this machine ({sys.platform}/{platform.machine()}) cannot import "
            "the layer's manylinux binaries to find the cold-start modules",
            say,
        )
    probe = recipe / COLDSTART_PROBE_NAME
    try:
        if host == arch:
            modules = probe_cold_start_modules(interpreter, site, probe)
        else:
            say(f"runtime layer: installing the {host} packages to find the cold-start modules")
            with tempfile.TemporaryDirectory(prefix=".probe-", dir=site.parent) as scratch:
                host_site = Path(scratch) / "python"
                pip_install_for_platform(
                    recipe / REQUIREMENTS_NAME, host_site, arch=host, python_version=python_version
                )
                apply_slim_rules(host_site, rules, measure_zipped=False)
                modules = probe_cold_start_modules(interpreter, host_site, probe)
    except PackagingError as exc:
        return _skipped("probe-failed", f"the cold-start probe failed: {exc.message.splitlines()[-1]}", say)
    present = [rel for rel in modules if (site / rel).is_file()]
    say(f"runtime layer: compiling {len(present)} cold-start modules with {interpreter}")
    version, cache_tag = compile_bytecode(interpreter, site, present)
    compiled = sorted(site.rglob(f"__pycache__/*.{cache_tag}.pyc"))
    with tempfile.TemporaryDirectory(prefix=".pyc-", dir=site.parent) as scratch:
        zipped = zipped_bytes_of(compiled, site, Path(scratch))
    return BytecodeReport(
        status="compiled",
        reason="",
        interpreter=version,
        cache_tag=cache_tag,
        files=len(compiled),
        unzipped_bytes=sum(p.stat().st_size for p in compiled),
        zipped_bytes=zipped,
    )
