"""The runtime layer: onnxruntime + numpy + aws-lambda-powertools for one architecture and Python version,
slimmed and zipped under `python/` (→ /opt/python on Lambda), built Docker-free and cached by recipe hash.

Recipe: layers/runtime/requirements.txt (pinned) + slim.toml (what to delete, and why) + coldstart.py (the
cold-start path whose modules get bytecode). The recipe hash is the sha256 of these files, the architecture,
the Python version and BUILDER_VERSION; a layer is built once per hash into
`<cache_dir>/layers/runtime-<arch>-py<ver>-<hash12>/` (runtime-layer.zip + sizes.json) and reused from there.

Bytecode: Lambda's /opt is read-only, so a layer without .pyc recompiles every module it imports on every cold
start. After slimming, the builder runs coldstart.py with an interpreter of the target version to list the
layer modules a cold start loads, and compiles those (unchecked-hash .pyc: no timestamps, so reproducible)
in a fresh interpreter. Without such an interpreter (or where the layer's binaries cannot be imported) the
layer is built without bytecode and sizes.json says why.

Side effects: runs pip (network or pip's cache) and the target interpreter, writes into cache_dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from ..core.artifacts import Artifact
from ..core.errors import PackagingError
from ..core.interpreters import find_interpreter
from ..core.progress import Progress
from ..core.resources import runtime_recipe_dir
from ..core.zips import iter_files, write_deterministic_zip, zip_directory
from .pip import manylinux_platforms, pip_install_for_platform

# Bump when the build steps here or pip.py's platform tags change what ends up in the zip (it is part of
# the recipe hash, so cached layers built the old way are not reused). 2: cold-start modules get bytecode.
BUILDER_VERSION = "2"
REQUIREMENTS_NAME = "requirements.txt"
SLIM_RULES_NAME = "slim.toml"
COLDSTART_PROBE_NAME = "coldstart.py"
RECIPE_FILES = (REQUIREMENTS_NAME, SLIM_RULES_NAME, COLDSTART_PROBE_NAME)
LAYER_ZIP_NAME = "runtime-layer.zip"
SIZES_NAME = "sizes.json"
ZIP_PREFIX = "python/"
KIND: Final = "runtime-layer"
_ZIP_END_RECORD_BYTES = 22  # end-of-central-directory record, present once per zip


# --- ELF inspection (no binutils needed) --------------------------------------------------------------

ELF_MAGIC = b"\x7fELF"
ELF_MACHINES = {3: "i386", 62: "x86_64", 40: "arm", 183: "aarch64"}
ELF_MACHINE_FOR_ARCH = {"x86_64": 62, "arm64": 183}
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME = 0, 1, 5, 14


@dataclass(frozen=True)
class ElfInfo:
    machine: int  # e_machine: 62 x86_64, 183 aarch64
    soname: str
    needed: tuple[str, ...]  # DT_NEEDED entries, in order

    @property
    def machine_name(self) -> str:
        return ELF_MACHINES.get(self.machine, f"machine {self.machine}")


def elf_info(path: Path) -> ElfInfo | None:
    """The architecture, SONAME and DT_NEEDED entries of an ELF file (what `readelf -d` shows); None if
    `path` is not ELF. Reads the program headers and the dynamic segment only."""
    with path.open("rb") as fh:
        ident = fh.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            return None
        is64, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        header = fh.read(48 if is64 else 36)
        if is64:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack(
                order + "HHIQQQIHHH", header[:42]
            )
        else:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack(
                order + "HHIIIIIHHH", header[:30]
            )
        segments = []
        for index in range(phnum):
            fh.seek(phoff + index * phentsize)
            raw = fh.read(phentsize)
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack(order + "IIQQQQQQ", raw[:56])
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = struct.unpack(order + "IIIIIIII", raw[:32])
            segments.append((p_type, p_offset, p_vaddr, p_filesz))
        dynamic = [(off, size) for kind, off, _, size in segments if kind == _PT_DYNAMIC]
        if not dynamic:
            return ElfInfo(machine=machine, soname="", needed=())
        entries = _dynamic_entries(fh, dynamic[0], is64, order)
        strtab_vaddr = next((val for tag, val in entries if tag == _DT_STRTAB), None)
        strtab = _vaddr_to_offset(strtab_vaddr, segments) if strtab_vaddr is not None else None
        if strtab is None:
            return ElfInfo(machine=machine, soname="", needed=())
        needed = tuple(_read_cstring(fh, strtab + val) for tag, val in entries if tag == _DT_NEEDED)
        soname = next((_read_cstring(fh, strtab + val) for tag, val in entries if tag == _DT_SONAME), "")
        return ElfInfo(machine=machine, soname=soname, needed=needed)


def _dynamic_entries(fh: BinaryIO, segment: tuple[int, int], is64: bool, order: str) -> list[tuple[int, int]]:
    offset, size = segment
    fh.seek(offset)
    raw = fh.read(size)
    fmt = order + ("qQ" if is64 else "iI")
    step = struct.calcsize(fmt)
    entries = []
    for pos in range(0, len(raw) - step + 1, step):
        tag, val = struct.unpack_from(fmt, raw, pos)
        if tag == _DT_NULL:
            break
        entries.append((tag, val))
    return entries


def _vaddr_to_offset(vaddr: int, segments: Iterable[tuple[int, int, int, int]]) -> int | None:
    for kind, offset, start, size in segments:
        if kind == _PT_LOAD and start <= vaddr < start + size:
            return vaddr - start + offset
    return None


def _read_cstring(fh: BinaryIO, offset: int, limit: int = 4096) -> str:
    fh.seek(offset)
    return fh.read(limit).split(b"\0", 1)[0].decode("utf-8", "replace")


# --- Slimming ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlimRule:
    name: str
    paths: tuple[str, ...]  # globs relative to the python/ folder
    why: str


@dataclass(frozen=True)
class RuleSaving:
    """What one slim rule removed: files, bytes unzipped, and bytes those files would take in the zip."""

    name: str
    files: int
    unzipped_bytes: int
    zipped_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": self.files,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
        }


def load_slim_rules(path: Path) -> tuple[SlimRule, ...]:
    """The [[remove]] rules of a slim.toml, validated: each needs a name, a list of paths and a why."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackagingError(f"slim rules {path} cannot be read: {exc}", "fix the TOML syntax") from exc
    rules = []
    for index, entry in enumerate(data.get("remove", [])):
        paths = entry.get("paths")
        if not entry.get("name") or not entry.get("why") or not isinstance(paths, list) or not paths:
            raise PackagingError(
                f"{path}: rule #{index + 1} needs `name`, `paths` (a non-empty list) and `why`",
                "every removal must say what it removes and why that is safe",
            )
        bad = [p for p in paths if not isinstance(p, str) or p.startswith("/") or ".." in Path(p).parts]
        if bad:
            raise PackagingError(
                f"{path}: rule {entry['name']!r} has paths outside the layer: {bad}",
                "use globs relative to the layer's python/ folder",
            )
        rules.append(SlimRule(name=str(entry["name"]), paths=tuple(paths), why=str(entry["why"]).strip()))
    return tuple(rules)


def _zipped_bytes(files: list[Path], root: Path, scratch: Path) -> int:
    """Bytes `files` add to the layer zip: zipped with the same writer, minus the end-of-archive record."""
    if not files:
        return 0
    probe = scratch / "probe.zip"
    write_deterministic_zip(((f, ZIP_PREFIX + f.relative_to(root).as_posix()) for f in files), probe)
    size = probe.stat().st_size - _ZIP_END_RECORD_BYTES
    probe.unlink()
    return size


def _files_under(path: Path) -> list[Path]:
    if path.is_dir() and not path.is_symlink():
        return [Path(d) / f for d, _, files in os.walk(path) for f in files]
    return [path]


@dataclass(frozen=True)
class SlimResult:
    savings: tuple[RuleSaving, ...]
    removed_libraries: frozenset[str]  # file names and SONAMEs of the removed ELF files


def apply_slim_rules(root: Path, rules: Iterable[SlimRule], measure_zipped: bool = True) -> SlimResult:
    """Delete what `rules` match below `root`; per rule, count the files and bytes removed (zipped too, by
    zipping them once with the layer's zip writer, when `measure_zipped`)."""
    savings: list[RuleSaving] = []
    removed_libraries: set[str] = set()
    with tempfile.TemporaryDirectory(prefix=".slim-", dir=root.parent) as scratch:
        for rule in rules:
            found = {match for pattern in rule.paths for match in root.glob(pattern)}
            # A path inside another match goes with it (and must not be counted twice).
            matches = sorted(m for m in found if not any(p in found for p in m.parents))
            files = [file for match in matches for file in _files_under(match)]
            zipped = _zipped_bytes(files, root, Path(scratch)) if measure_zipped else 0
            for file in files:
                info = elf_info(file) if ".so" in file.name else None
                if info is not None:
                    removed_libraries.update(n for n in (file.name, info.soname) if n)
            unzipped = sum(file.lstat().st_size for file in files)
            for match in matches:
                if match.is_dir() and not match.is_symlink():
                    shutil.rmtree(match)
                else:
                    match.unlink()
            savings.append(RuleSaving(rule.name, len(files), unzipped, zipped))
    return SlimResult(savings=tuple(savings), removed_libraries=frozenset(removed_libraries))


def check_shared_objects(root: Path, arch: str, removed_libraries: Iterable[str] = ()) -> int:
    """Fail unless every ELF file below `root` is built for `arch` and none needs a removed library.

    Returns how many ELF files were checked.
    """
    want = ELF_MACHINE_FOR_ARCH[arch]
    removed = set(removed_libraries)
    checked = 0
    for path in iter_files(root):
        info = elf_info(path)
        if info is None:
            continue
        checked += 1
        rel = path.relative_to(root).as_posix()
        if info.machine != want:
            raise PackagingError(
                f"{rel} in the runtime layer is built for {info.machine_name}, not {arch}",
                "a wheel for the wrong platform was installed: check the pip platform tags",
            )
        missing = sorted(removed.intersection(info.needed))
        if missing:
            raise PackagingError(
                f"{rel} needs {', '.join(missing)}, which a slim rule removed",
                f"drop that file from the rules in {SLIM_RULES_NAME} (the layer would fail to import)",
            )
    return checked


# --- Bytecode for the cold-start path -------------------------------------------------------------------

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
        zipped = _zipped_bytes(compiled, site, Path(scratch))
    return BytecodeReport(
        status="compiled",
        reason="",
        interpreter=version,
        cache_tag=cache_tag,
        files=len(compiled),
        unzipped_bytes=sum(p.stat().st_size for p in compiled),
        zipped_bytes=zipped,
    )


# --- Recipe, cache and build ---------------------------------------------------------------------------


def _check_target(arch: str, python_version: str) -> None:
    """Any CPython X.Y pip finds wheels for is buildable (the local target may need the host's version);
    which runtimes Lambda offers is the config's business (limits.SUPPORTED_RUNTIMES)."""
    manylinux_platforms(arch)  # raises for an unknown architecture
    if not re.fullmatch(r"3\.\d+", python_version):
        raise PackagingError(
            f"python version {python_version!r} is not of the form 3.X",
            "give the runtime's version, e.g. 3.12",
        )


def recipe_hash(arch: str, python_version: str, recipe_dir: Path | None = None) -> str:
    """sha256 over the recipe files (requirements, slim rules, cold-start probe), arch, Python version and
    BUILDER_VERSION."""
    recipe = recipe_dir or runtime_recipe_dir()
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        content = (recipe / name).read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    digest.update(f"arch={arch}\0python={python_version}\0builder={BUILDER_VERSION}".encode())
    return digest.hexdigest()


def layer_name(arch: str, python_version: str) -> str:
    """The artifact's name, e.g. "runtime-x86_64-py312" (letters, digits, - and _ only, as AWS layer
    names need)."""
    return f"runtime-{arch}-py{python_version.replace('.', '')}"


def runtime_layer_dir(
    cache_dir: Path, arch: str, python_version: str, recipe_dir: Path | None = None
) -> Path:
    digest = recipe_hash(arch, python_version, recipe_dir)
    return Path(cache_dir) / "layers" / f"runtime-{arch}-py{python_version}-{digest[:12]}"


@dataclass(frozen=True)
class RuntimeLayerSizes:
    """What sizes.json (next to a cached runtime-layer.zip) records about the build."""

    arch: str
    python_version: str
    recipe_hash: str
    sha256: str
    naive_unzipped_bytes: int  # as pip installed it
    naive_zipped_bytes: int  # what zipping that would have given
    unzipped_bytes: int  # after slimming, bytecode included (= naive - rules + bytecode)
    zipped_bytes: int
    rules: tuple[RuleSaving, ...]
    packages: dict[str, str]  # distribution name → version, as installed
    build_seconds: dict[str, float]  # pip, slim, bytecode, zip, total
    bytecode: BytecodeReport | None = None  # None: recorded by a builder before version 2

    def to_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "python_version": self.python_version,
            "recipe_hash": self.recipe_hash,
            "sha256": self.sha256,
            "naive_unzipped_bytes": self.naive_unzipped_bytes,
            "naive_zipped_bytes": self.naive_zipped_bytes,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
            "rules": [r.to_json() for r in self.rules],
            "packages": dict(self.packages),
            "build_seconds": dict(self.build_seconds),
            "bytecode": self.bytecode.to_json() if self.bytecode else None,
            "builder_version": BUILDER_VERSION,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuntimeLayerSizes:
        return cls(
            arch=data["arch"],
            python_version=data["python_version"],
            recipe_hash=data["recipe_hash"],
            sha256=data["sha256"],
            naive_unzipped_bytes=int(data["naive_unzipped_bytes"]),
            naive_zipped_bytes=int(data["naive_zipped_bytes"]),
            unzipped_bytes=int(data["unzipped_bytes"]),
            zipped_bytes=int(data["zipped_bytes"]),
            rules=tuple(RuleSaving(**r) for r in data.get("rules", [])),
            packages=dict(data.get("packages", {})),
            build_seconds=dict(data.get("build_seconds", {})),
            bytecode=BytecodeReport.from_json(data["bytecode"]) if data.get("bytecode") else None,
        )


def runtime_layer_sizes(artifact: Artifact) -> RuntimeLayerSizes:
    """The sizes.json recorded next to a runtime layer built by build_runtime_layer."""
    path = artifact.zip_path.with_name(SIZES_NAME)
    try:
        return RuntimeLayerSizes.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PackagingError(
            f"{path} is missing or unreadable: {exc}", "delete the folder to rebuild the runtime layer"
        ) from exc


def _cached(layer_dir: Path, arch: str, python_version: str) -> Artifact | None:
    zip_path, sizes_path = layer_dir / LAYER_ZIP_NAME, layer_dir / SIZES_NAME
    try:
        sizes = json.loads(sizes_path.read_text(encoding="utf-8"))
        if zip_path.stat().st_size != int(sizes["zipped_bytes"]):
            return None
        return Artifact(
            kind=KIND,
            name=layer_name(arch, python_version),
            zip_path=zip_path,
            sha256=str(sizes["sha256"]),
            zipped_bytes=int(sizes["zipped_bytes"]),
            unzipped_bytes=int(sizes["unzipped_bytes"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _tree_bytes(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _installed_packages(root: Path) -> dict[str, str]:
    packages = {}
    for dist_info in sorted(root.glob("*.dist-info")):
        match = re.fullmatch(r"(.+)-([^-]+)\.dist-info", dist_info.name)
        if match:
            packages[match.group(1)] = match.group(2)
    return packages


def _missed_interpreter(layer_dir: Path, python_version: str, python: str) -> bool:
    """True if the cached layer was built without bytecode for want of an interpreter that exists now."""
    try:
        bytecode = json.loads((layer_dir / SIZES_NAME).read_text(encoding="utf-8")).get("bytecode") or {}
    except (OSError, ValueError):
        return False
    return bytecode.get("status") == "no-interpreter" and find_interpreter(python_version, python) is not None


def build_runtime_layer(
    arch: str,
    python_version: str,
    cache_dir: Path,
    progress: Progress | None = None,
    *,
    recipe_dir: Path | None = None,
    python: str = "",
) -> Artifact:
    """The runtime layer for `arch` ("x86_64"/"arm64") and `python_version` ("3.12"): from the cache if this
    recipe was built before, else pip install → slim → check the shared objects → bytecode for the cold-start
    modules → deterministic zip.

    `python` overrides the interpreter that compiles the bytecode (a path or command of `python_version`;
    default: find_interpreter's search). `progress` receives one-line status messages. Raises PackagingError
    when pip or a check fails. A layer cached without bytecode because no interpreter was found is rebuilt
    once one is.
    """
    say = progress or (lambda _message: None)
    _check_target(arch, python_version)
    recipe = recipe_dir or runtime_recipe_dir()
    digest = recipe_hash(arch, python_version, recipe)
    layer_dir = runtime_layer_dir(cache_dir, arch, python_version, recipe)
    cached = _cached(layer_dir, arch, python_version)
    if cached is not None and _missed_interpreter(layer_dir, python_version, python):
        say(
            f"runtime layer {arch}/python{python_version}: rebuilding the cached layer with bytecode "
            f"(a python{python_version} interpreter is available now)"
        )
        shutil.rmtree(layer_dir, ignore_errors=True)
        cached = None
    if cached is not None:
        say(f"runtime layer {arch}/python{python_version}: cached ({layer_dir})")
        return cached
    rules = load_slim_rules(recipe / SLIM_RULES_NAME)
    layer_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{layer_dir.name}-", dir=layer_dir.parent))
    try:
        started = time.perf_counter()
        site = work / "python"
        say(f"runtime layer {arch}/python{python_version}: pip install ({REQUIREMENTS_NAME})")
        pip_install_for_platform(recipe / REQUIREMENTS_NAME, site, arch=arch, python_version=python_version)
        pip_done = time.perf_counter()
        packages = _installed_packages(site)
        naive_unzipped = _tree_bytes(site)
        say(f"runtime layer: slimming {naive_unzipped / 1e6:.1f} MB with {len(rules)} rules")
        slim = apply_slim_rules(site, rules)
        check_shared_objects(site, arch, slim.removed_libraries)
        slim_done = time.perf_counter()
        bytecode = add_cold_start_bytecode(site, arch, python_version, recipe, rules, say, python=python)
        bytecode_done = time.perf_counter()
        staging = work / "out"
        zip_path = staging / LAYER_ZIP_NAME
        say("runtime layer: zipping")
        zip_directory(site, zip_path, prefix=ZIP_PREFIX, include_bytecode=True)
        artifact = Artifact.from_zip(KIND, layer_name(arch, python_version), zip_path)
        done = time.perf_counter()
        sizes = RuntimeLayerSizes(
            arch=arch,
            python_version=python_version,
            recipe_hash=digest,
            sha256=artifact.sha256,
            naive_unzipped_bytes=naive_unzipped,
            naive_zipped_bytes=(
                artifact.zipped_bytes - bytecode.zipped_bytes + sum(s.zipped_bytes for s in slim.savings)
            ),
            unzipped_bytes=artifact.unzipped_bytes,
            zipped_bytes=artifact.zipped_bytes,
            rules=slim.savings,
            packages=packages,
            build_seconds={
                "pip": round(pip_done - started, 2),
                "slim": round(slim_done - pip_done, 2),
                "bytecode": round(bytecode_done - slim_done, 2),
                "zip": round(done - bytecode_done, 2),
                "total": round(done - started, 2),
            },
            bytecode=bytecode,
        )
        (staging / SIZES_NAME).write_text(
            json.dumps(sizes.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        try:
            staging.rename(layer_dir)
        except OSError:
            # Another build finished first (or a broken leftover is in the way): keep a valid one.
            if _cached(layer_dir, arch, python_version) is None:
                shutil.rmtree(layer_dir, ignore_errors=True)
                staging.rename(layer_dir)
        result = _cached(layer_dir, arch, python_version)
        if result is None:
            raise PackagingError(
                f"the runtime layer in {layer_dir} could not be read back",
                "check free disk space and permissions of the cache folder",
            )
        with_bytecode = (
            f", bytecode {bytecode.unzipped_bytes / 1e6:.1f} MB included"
            if bytecode.compiled
            else ", without bytecode"
        )
        say(
            f"runtime layer: {result.unzipped_bytes / 1e6:.1f} MB unzipped "
            f"(pip gave {naive_unzipped / 1e6:.1f} MB{with_bytecode}), {result.zipped_bytes / 1e6:.1f} MB zipped"
        )
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
