"""Find a working Python interpreter for a Lambda runtime version ("3.12") on this machine.

Order: an explicit override (config `python`), then pyenv's installed versions (highest patch of X.Y),
then `pythonX.Y` on PATH. Every candidate is run once (`-c 'import sys; print(sys.version_info[:2])'`) to
prove it starts and is the right version: a pyenv shim for a version that is not selected exits with an
error instead. Side effects: starts short subprocesses; reads the environment (PYENV_ROOT, PATH).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError

PROBE_TIMEOUT_S = 20


def parse_version(python_version: str) -> tuple[int, int]:
    """ "3.12" → (3, 12). Raises ConfigError for anything else."""
    match = re.fullmatch(r"(\d+)\.(\d+)", python_version.strip())
    if not match:
        raise ConfigError(
            f"python version {python_version!r} is not of the form X.Y",
            "give the runtime's version, e.g. 3.12",
        )
    return int(match.group(1)), int(match.group(2))


def interpreter_version(interpreter: Path) -> tuple[int, int] | None:
    """(major, minor) of `interpreter` if it runs and reports it; None if it does not start or fails."""
    try:
        proc = subprocess.run(
            [str(interpreter), "-I", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    match = re.fullmatch(r"(\d+) (\d+)", proc.stdout.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def pyenv_root() -> Path | None:
    """$PYENV_ROOT, else what `pyenv root` prints, else ~/.pyenv if it exists."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"]).expanduser()
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            proc = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
            )
            if proc.returncode == 0 and proc.stdout.strip():
                return Path(proc.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def pyenv_candidates(python_version: str, root: Path | None = None) -> list[Path]:
    """`<root>/versions/X.Y.N/bin/python` for every installed patch N, highest first.

    Only plain CPython releases count (3.12.1, not 3.12.1t, 3.12-dev or 3.12.0rc1).
    """
    major, minor = parse_version(python_version)
    root = root if root is not None else pyenv_root()
    versions = root / "versions" if root else None
    if versions is None or not versions.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    pattern = re.compile(rf"{major}\.{minor}\.(\d+)")
    for entry in versions.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and (entry / "bin" / "python").exists():
            found.append((int(match.group(1)), entry / "bin" / "python"))
    return [path for _, path in sorted(found, reverse=True)]


def find_interpreter(python_version: str, override: str = "") -> Path | None:
    """An interpreter that runs and is `python_version` ("3.12"), or None if this machine has none.

    A given `override` (path or command name) must work: if it does not start or is another version,
    ConfigError says so rather than silently using something else.
    """
    wanted = parse_version(python_version)
    if override:
        resolved = shutil.which(override) if os.sep not in override else override
        path = Path(resolved or override).expanduser()
        got = interpreter_version(path)
        if got is None:
            raise ConfigError(
                f"the configured interpreter {override!r} does not run",
                "fix the `python` setting (--python / SLS_DEPLOY_PYTHON) or leave it empty "
                "to use pyenv's or PATH's python" + python_version,
            )
        if got != wanted:
            raise ConfigError(
                f"the configured interpreter {override!r} is Python {got[0]}.{got[1]}, "
                f"the runtime needs {python_version}",
                f"point --python at a python{python_version}, or change --runtime",
            )
        return path.absolute()
    for candidate in pyenv_candidates(python_version):
        if interpreter_version(candidate) == wanted:
            return candidate
    on_path = shutil.which(f"python{wanted[0]}.{wanted[1]}")
    if on_path and interpreter_version(Path(on_path)) == wanted:
        return Path(on_path)
    return None
