"""Helpers for the local-target tests: a python3.12 to run workers, its runtime dir, tiny zips."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.core.records import FunctionBuild
from sls_deploy.core.zips import write_deterministic_zip
from sls_deploy.targets.local import runtime_dir

PYTHON_VERSION = "3.12"


def python312_or_skip() -> Path:
    found = find_interpreter(PYTHON_VERSION)
    if found is None:
        pytest.skip(f"no python{PYTHON_VERSION} on this machine: the local worker tests need one")
    return found


def worker_runtime_dir(python: Path, cache_dir: Path) -> Path:
    """awslambdaric + boto3 for python3.12, built once into the shared test cache (tests/conftest.py's
    `layer_cache_dir`; pip, ~10 s the first time)."""
    return runtime_dir.ensure_runtime_dir(python, PYTHON_VERSION, cache_dir)


def code_zip(folder: Path, source: str, module: str = "app") -> Artifact:
    """A function-code zip holding one module."""
    src = folder / f"{module}.py"
    folder.mkdir(parents=True, exist_ok=True)
    src.write_text(source, encoding="utf-8")
    zip_path = folder / "code.zip"
    write_deterministic_zip([(src, f"{module}.py")], zip_path)
    return Artifact.from_zip("function-code", "code", zip_path)


def layer_zip(folder: Path, files: dict[str, str], name: str = "layer") -> Artifact:
    """A layer zip with the given files (arcname → text)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for index, (arcname, text) in enumerate(sorted(files.items())):
        path = folder / f"file{index}"
        path.write_text(text, encoding="utf-8")
        sources.append((path, arcname))
    zip_path = folder / f"{name}.zip"
    write_deterministic_zip(sources, zip_path)
    return Artifact.from_zip("model-layer", name, zip_path)


def function_build(
    name: str,
    code: Artifact,
    layers: tuple[Artifact, ...] = (),
    timeout: int = 3,
    memory: int = 512,
    environment: dict[str, str] | None = None,
) -> FunctionBuild:
    return FunctionBuild(
        name=name,
        code=code,
        layers=layers,
        handler="app.handler",
        runtime=f"python{PYTHON_VERSION}",
        arch="x86_64",
        memory=memory,
        timeout=timeout,
        environment=dict(environment or {}),
        model_sha256="0" * 64,
    )


def process_state(pid: int) -> str | None:
    """The /proc state letter of a process (R, S, Z, …), or None when it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def wait_until_gone(pid: int, timeout_s: float = 5.0) -> bool:
    """True when the process is gone or a zombie (dead; reaping it is its new parent's business)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process_state(pid) in (None, "Z", "X"):
            return True
        time.sleep(0.02)
    return False


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
