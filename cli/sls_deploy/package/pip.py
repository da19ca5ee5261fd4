"""Run pip to install requirements into a folder: for Lambda's platform (cross-installing binary wheels for
an architecture and Python version, Docker-free) or for a given local interpreter.

Side effects: starts `python -m pip`, which downloads (or takes from pip's cache) wheels and writes them into
the target folder. Raises PackagingError with pip's last lines and a hint when pip fails.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import PackagingError

# glibc baselines a wheel may target. onnxruntime 1.3x and numpy 2.4 publish manylinux_2_27/2_28 wheels,
# which need Amazon Linux 2023 (glibc 2.34: the python3.12+ runtimes). pip does not expand manylinux_2_X
# tags to older baselines by itself, so every one from 2_28 down to 2_17 (= manylinux2014) is listed,
# newest first (pip prefers the earlier tags). Stopping at 2_28 keeps the layer loadable on build hosts
# with an older glibc than Lambda's, which is what the local target runs it on.
MANYLINUX_MAX_GLIBC_MINOR = 28
MANYLINUX_MIN_GLIBC_MINOR = 17
MACHINE_FOR_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
OUTPUT_TAIL_LINES = 15
DEFAULT_TIMEOUT_S = 1800
# Never prompt; no self-update nag; installing with --target as root into a private folder is fine.
COMMON_ARGS = ("--no-input", "--disable-pip-version-check", "--root-user-action=ignore")


@dataclass(frozen=True)
class PipResult:
    command: tuple[str, ...]
    output: str  # pip's stdout and stderr, interleaved
    seconds: float


def manylinux_platforms(arch: str) -> tuple[str, ...]:
    """pip --platform tags for a Lambda architecture ("x86_64" or "arm64"), preferred first."""
    if arch not in MACHINE_FOR_ARCH:
        raise PackagingError(f"unknown architecture {arch!r}", "use x86_64 or arm64")
    machine = MACHINE_FOR_ARCH[arch]
    tags = [
        f"manylinux_2_{minor}_{machine}"
        for minor in range(MANYLINUX_MAX_GLIBC_MINOR, MANYLINUX_MIN_GLIBC_MINOR - 1, -1)
    ]
    tags.append(f"manylinux2014_{machine}")
    return tuple(tags)


def _requirement_args(requirements: Path | Sequence[str]) -> list[str]:
    if isinstance(requirements, Path):
        if not requirements.is_file():
            raise PackagingError(
                f"requirements file {requirements} does not exist",
                "reinstall sls-deploy: the runtime recipe ships with it",
            )
        return ["-r", str(requirements)]
    return list(requirements)


def pip_install_for_platform(
    requirements: Path | Sequence[str],
    target: Path,
    *,
    arch: str,
    python_version: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    what: str = "the runtime packages",
) -> PipResult:
    """Install `requirements` (a requirements file, or requirement strings) into `target` as Lambda's
    `python_version` ("3.12") on `arch` would need them: CPython binary wheels only, no bytecode.

    Dependencies are resolved (pin them in the requirements for a reproducible result).
    """
    platform_args = [arg for tag in manylinux_platforms(arch) for arg in ("--platform", tag)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(target),
        "--only-binary=:all:",
        *platform_args,
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--no-compile",
        *COMMON_ARGS,
        *_requirement_args(requirements),
    ]
    return run_pip(command, f"installing {what} for {arch}/python{python_version}", timeout_s)


def pip_install_for_interpreter(
    requirements: Path | Sequence[str],
    target: Path,
    interpreter: Path,
    *,
    only_binary: bool = True,
    compile_bytecode: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> PipResult:
    """Install `requirements` into `target` for `interpreter` on this machine (no --platform flags).

    pip runs from this process's environment with `--python interpreter`, so the interpreter itself does
    not need pip installed.
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(interpreter),
        "install",
        "--target",
        str(target),
        *COMMON_ARGS,
        "--compile" if compile_bytecode else "--no-compile",
    ]
    if only_binary:
        command.append("--only-binary=:all:")
    command += _requirement_args(requirements)
    return run_pip(command, f"installing packages for {interpreter}", timeout_s)


def installed_distributions(site: Path) -> dict[str, str]:
    """Distribution name → version of each .dist-info pip left in `site`."""
    packages = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        match = re.fullmatch(r"(.+)-([^-]+)\.dist-info", dist_info.name)
        if match:
            packages[match.group(1)] = match.group(2)
    return packages


def run_pip(command: Sequence[str], what: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> PipResult:
    """Run a pip command line; PackagingError (with pip's last lines and a hint) unless it succeeds."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PackagingError(
            f"{what}: pip did not finish within {timeout_s:.0f} s",
            "check the network connection to PyPI, then retry",
        ) from exc
    except OSError as exc:
        raise PackagingError(
            f"{what}: could not start pip: {exc}", f"check that {command[0]} works and has pip installed"
        ) from exc
    result = PipResult(command=tuple(command), output=proc.stdout, seconds=time.perf_counter() - started)
    if proc.returncode != 0:
        tail = "\n".join(line for line in proc.stdout.strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise PackagingError(
            f"{what}: pip failed (exit status {proc.returncode}):\n{tail}",
            pip_failure_hint(proc.stdout, command),
        )
    return result


def pip_failure_hint(output: str, command: Sequence[str] = ()) -> str:
    """A fix suggestion for common pip failures, judged from its output."""
    text = output.lower()
    if "no matching distribution" in text or "could not find a version" in text:
        return (
            "a pinned package has no binary wheel for this platform/Python version: check the runtime "
            "and architecture (onnxruntime needs python3.12+; only manylinux wheels can be used)"
        )
    if any(
        word in text
        for word in (
            "connection",
            "temporary failure in name resolution",
            "timed out",
            "network is unreachable",
            "proxy",
        )
    ):
        return "pip could not reach the package index: check the network or proxy settings, then retry"
    if "resolutionimpossible" in text or "conflicting dependencies" in text:
        return "the pinned versions conflict: fix the requirements so that one set of versions satisfies all"
    if command:
        return "run pip by hand to see its full output: " + shlex.join(command)
    return "run pip by hand to see its full output"
