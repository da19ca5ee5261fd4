"""The local worker's runtime dir (Lambda's /var/runtime): awslambdaric + boto3 for the worker's Python.

Built once per (Python X.Y, host machine, pinned requirements) with `pip install --target` for the worker's
interpreter (package/pip.py: the host's pip with `--python <interpreter>`, so that interpreter needs no pip)
and cached under `<cache>/local-runtime/python<X.Y>-<machine>-<hash>/`. The packages are for the HOST
machine: the worker runs here.

Side effects: runs pip (network: PyPI), writes the cache directory (atomically: a temporary folder renamed
into place under an fcntl lock, so concurrent builds do not collide).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from ...core.errors import PackagingError, TargetError
from ...core.fsutil import file_lock
from ...core.interpreters import interpreter_version
from ...core.progress import Progress, quiet
from ...package.pip import pip_install_for_interpreter

# Pinned: the emulator's protocol handling (error reporting without an error-type header) is checked against
# this version. boto3 because Lambda's python runtime ships it in /var/runtime too.
REQUIREMENTS = ("awslambdaric==4.2.2", "boto3==1.44.8")
MARKER = ".sls-deploy-runtime.json"


def host_machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def runtime_dir_path(cache_root: Path, python_version: str, machine: str | None = None) -> Path:
    machine = machine or host_machine()
    digest = hashlib.sha256(json.dumps([python_version, machine, *REQUIREMENTS]).encode()).hexdigest()[:12]
    return cache_root / "local-runtime" / f"python{python_version}-{machine}-{digest}"


def is_built(path: Path) -> bool:
    return (path / MARKER).is_file()


def ensure_runtime_dir(
    interpreter: Path, python_version: str, cache_root: Path, progress: Progress = quiet
) -> Path:
    """The runtime dir for `interpreter` (a Python `python_version`), built on first use."""
    path = runtime_dir_path(cache_root, python_version)
    if is_built(path):
        return path
    with file_lock(path.with_name(path.name + ".lock")):
        if is_built(path):  # built by a concurrent process while we waited
            return path
        actual = interpreter_version(interpreter)
        if actual is None:
            raise TargetError(
                f"the worker interpreter {interpreter} does not run",
                "set SLS_DEPLOY_PYTHON to a working python" + python_version,
            )
        if f"{actual[0]}.{actual[1]}" != python_version:
            raise TargetError(
                f"{interpreter} is Python {actual[0]}.{actual[1]}, not {python_version}",
                f"point SLS_DEPLOY_PYTHON at a python{python_version} interpreter",
            )
        progress(
            f"installing the local Lambda runtime ({', '.join(REQUIREMENTS)}) for python{python_version}"
        )
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            # Bytecode compiled, as in Lambda's /var/runtime (the function's own trees stay without it).
            pip_install_for_interpreter(list(REQUIREMENTS), tmp, interpreter, compile_bytecode=True)
        except PackagingError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TargetError(
                f"could not install the local Lambda runtime for python{python_version}: {exc.message}",
                exc.hint,
            ) from exc
        check = subprocess.run(
            [str(interpreter), "-S", "-c", "import awslambdaric, boto3"],
            env={"PYTHONPATH": str(tmp), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise TargetError(
                f"the local Lambda runtime built for python{python_version} does not import:\n"
                f"{check.stderr.strip()[-800:]}",
                "report this as a bug",
            )
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "requirements": list(REQUIREMENTS),
                    "python": python_version,
                    "machine": host_machine(),
                    "built_at": time.time(),
                },
                indent=1,
            )
        )
        shutil.rmtree(path, ignore_errors=True)  # a half-built leftover without a marker
        tmp.rename(path)
    return path
