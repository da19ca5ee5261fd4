"""Building the runtime layer: pip install → slim → check the shared objects → bytecode for the cold-start
modules → deterministic zip, stored as runtime-layer.zip + sizes.json (what the build measured) in the
recipe's cache folder and reused from there.

Side effects: runs pip (network or pip's cache) and the target interpreter, writes into cache_dir.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ...core.artifacts import Artifact
from ...core.errors import PackagingError
from ...core.interpreters import find_interpreter
from ...core.progress import Progress
from ...core.resources import runtime_recipe_dir
from ...core.zips import zip_directory
from ..layer_cache import publish_layer
from ..pip import installed_distributions, pip_install_for_platform
from .bytecode import BytecodeReport, add_cold_start_bytecode
from .recipe import (
    BUILDER_VERSION,
    REQUIREMENTS_NAME,
    SLIM_RULES_NAME,
    ZIP_PREFIX,
    check_target,
    layer_name,
    recipe_hash,
    runtime_layer_dir,
)
from .slimming import RuleSaving, apply_slim_rules, check_shared_objects, load_slim_rules

LAYER_ZIP_NAME = "runtime-layer.zip"
SIZES_NAME = "sizes.json"
KIND: Final = "runtime-layer"


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
    check_target(arch, python_version)
    recipe = recipe_dir or runtime_recipe_dir()
    digest = recipe_hash(arch, python_version, recipe)
    # Absolute: pip and the cold-start probe run in scratch folders, where a relative path names nothing.
    layer_dir = runtime_layer_dir(Path(cache_dir).absolute(), arch, python_version, recipe)
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
        packages = installed_distributions(site)
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
        result = publish_layer(
            staging, layer_dir, lambda folder: _cached(folder, arch, python_version), "runtime layer"
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
