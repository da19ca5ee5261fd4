"""A model's processing layer: what its pre- and post-processing imports beyond the runtime layer — tokenizers
for a text model, Pillow for an image model, a custom handler's `--requirements` — for one architecture and
Python version, built Docker-free like the runtime layer and cached by recipe hash.

The recipe is layers/processing (text.txt, image.txt: pinned) plus the user's requirements file; the runtime
layer's pins constrain the user's resolution, and every distribution the runtime layer already holds is
removed again, so the layer never ships a second numpy. See layers/processing/README.md.

Side effects: runs pip (network or pip's cache) and, when found, an interpreter of the target version (to
compile bytecode); writes into `<cache_dir>/layers/`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..core.artifacts import Artifact
from ..core.errors import PackagingError
from ..core.interpreters import find_interpreter
from ..core.jsonable import Jsonable
from ..core.progress import Progress
from ..core.resources import processing_recipe_dir, runtime_recipe_dir
from ..core.zips import zip_directory
from .layer_cache import publish_layer
from .pip import installed_distributions, pip_install_for_platform
from .runtime.bytecode import compile_bytecode
from .runtime.recipe import REQUIREMENTS_NAME, ZIP_PREFIX, check_target
from .runtime.slimming import check_shared_objects

KIND: Final = "processing-layer"
LAYER_ZIP_NAME = "processing-layer.zip"
INFO_NAME = "layer.json"
NEEDS = ("text", "image")  # each names a pinned file in layers/processing: text.txt, image.txt
# Bump when the build steps change what ends up in the zip (part of the recipe hash).
BUILDER_VERSION = "1"


@dataclass(frozen=True)
class ProcessingLayerInfo(Jsonable):
    """What layer.json (next to a cached processing-layer.zip) records about the build."""

    needs: tuple[str, ...]
    packages: dict[str, str]  # distribution → version, as the layer holds them
    removed: tuple[str, ...]  # distributions pip installed that the runtime layer already holds
    bytecode: bool  # compiled for the target Python (False: no interpreter of that version here)
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    builder_version: str = BUILDER_VERSION


def recipe_hash(
    needs: Sequence[str], requirements: Path | None, arch: str, python_version: str, recipe_dir: Path
) -> str:
    """sha256 over the pinned files of `needs`, the user's requirements file, the runtime layer's pins (they
    constrain the resolution and decide what is removed), arch, Python version and BUILDER_VERSION."""
    digest = hashlib.sha256()
    parts = [(f"{need}.txt", recipe_dir / f"{need}.txt") for need in sorted(needs)]
    parts.append(("runtime", runtime_recipe_dir() / REQUIREMENTS_NAME))
    if requirements is not None:
        parts.append(("requirements", requirements))
    for label, path in parts:
        content = path.read_bytes()
        digest.update(f"{label}\0{len(content)}\0".encode())
        digest.update(content)
    digest.update(f"arch={arch}\0python={python_version}\0builder={BUILDER_VERSION}".encode())
    return digest.hexdigest()


def layer_name(arch: str, python_version: str, digest: str) -> str:
    """The artifact's name, e.g. "processing-x86_64-py312-1a2b3c4d" (AWS layer-name characters only)."""
    return f"processing-{arch}-py{python_version.replace('.', '')}-{digest[:8]}"


def build_processing_layer(
    needs: Sequence[str],
    requirements: Path | None,
    arch: str,
    python_version: str,
    cache_dir: Path,
    progress: Progress | None = None,
    *,
    recipe_dir: Path | None = None,
    python: str = "",
) -> Artifact | None:
    """The processing layer for `needs` ("text", "image") and a custom handler's `requirements` file, built for
    `arch`/`python_version` (from the cache when this recipe was built before); None when there is nothing to
    put in it. `python` overrides the interpreter that compiles the bytecode. Raises PackagingError when pip
    fails, a requirement conflicts with the runtime layer's pins, or a binary is for another architecture."""
    say = progress or (lambda _message: None)
    unknown = sorted(set(needs) - set(NEEDS))
    if unknown:
        raise PackagingError(f"unknown processing need(s) {unknown}", f"use {', '.join(NEEDS)}")
    if not needs and requirements is None:
        return None
    if requirements is not None and not Path(requirements).is_file():
        raise PackagingError(f"requirements file {requirements} does not exist", "check --requirements")
    check_target(arch, python_version)
    recipe = recipe_dir or processing_recipe_dir()
    digest = recipe_hash(needs, requirements, arch, python_version, recipe)
    name = layer_name(arch, python_version, digest)
    layer_dir = Path(cache_dir).absolute() / "layers" / f"processing-{arch}-py{python_version}-{digest[:12]}"
    cached = _cached(layer_dir, name)
    if cached is not None:
        say(f"processing layer {arch}/python{python_version}: cached ({layer_dir})")
        return cached
    layer_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{layer_dir.name}-", dir=layer_dir.parent))
    try:
        site = work / "python"
        _install(needs, requirements, recipe, site, arch, python_version, say)
        removed = _remove_distributions(site, _runtime_pins())
        check_shared_objects(site, arch)
        bytecode = _compile(site, python_version, python, say)
        staging = work / "out"
        zip_path = staging / LAYER_ZIP_NAME
        zip_directory(site, zip_path, prefix=ZIP_PREFIX, include_bytecode=True)
        artifact = Artifact.from_zip(KIND, name, zip_path)
        info = ProcessingLayerInfo(
            needs=tuple(needs),
            packages=installed_distributions(site),
            removed=removed,
            bytecode=bytecode,
            sha256=artifact.sha256,
            zipped_bytes=artifact.zipped_bytes,
            unzipped_bytes=artifact.unzipped_bytes,
        )
        (staging / INFO_NAME).write_text(json.dumps(info.to_json(), indent=2, sort_keys=True) + "\n")
        result = publish_layer(staging, layer_dir, lambda folder: _cached(folder, name), "processing layer")
        say(
            f"processing layer: {', '.join(f'{k} {v}' for k, v in info.packages.items())}; "
            f"{info.unzipped_bytes / 1e6:.1f} MB unzipped, {info.zipped_bytes / 1e6:.1f} MB zipped"
            + (f" (removed {', '.join(removed)}: the runtime layer holds them)" if removed else "")
        )
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install(
    needs: Sequence[str],
    requirements: Path | None,
    recipe: Path,
    site: Path,
    arch: str,
    python_version: str,
    say: Progress,
) -> None:
    """Pinned built-ins without their dependencies, then the user's requirements resolved under the runtime
    layer's and the built-ins' pins (into a folder of their own: pip --target does not merge)."""
    if needs:
        say(f"processing layer {arch}/python{python_version}: pip install {', '.join(needs)}")
        args = ["--no-deps", *(arg for need in needs for arg in ("-r", str(recipe / f"{need}.txt")))]
        pip_install_for_platform(
            args, site, arch=arch, python_version=python_version, what="the processing packages"
        )
    if requirements is None:
        return
    say(f"processing layer {arch}/python{python_version}: pip install -r {requirements}")
    constraints = [runtime_recipe_dir() / REQUIREMENTS_NAME, *(recipe / f"{need}.txt" for need in needs)]
    args = ["-r", str(requirements), *(arg for path in constraints for arg in ("-c", str(path)))]
    user_site = site.parent / "requirements"
    try:
        pip_install_for_platform(
            args, user_site, arch=arch, python_version=python_version, what=f"the packages of {requirements}"
        )
    except PackagingError as exc:
        if "conflict" not in str(exc).lower() and "resolutionimpossible" not in str(exc).lower():
            raise
        raise PackagingError(
            f"{requirements} asks for a version the runtime layer pins otherwise:\n{exc.message}",
            f"require the versions of {runtime_recipe_dir() / REQUIREMENTS_NAME} (or leave them unpinned)",
        ) from exc
    site.mkdir(parents=True, exist_ok=True)
    for entry in sorted(user_site.iterdir()):
        if not (site / entry.name).exists():  # a built-in the requirements pulled again: the same pin
            entry.rename(site / entry.name)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _runtime_pins() -> set[str]:
    """The distributions (normalized names) the runtime layer's requirements pin."""
    names = set()
    for line in (runtime_recipe_dir() / REQUIREMENTS_NAME).read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==", line)
        if match:
            names.add(_normalize(match.group(1)))
    return names


def _remove_distributions(site: Path, names: Iterable[str]) -> tuple[str, ...]:
    """Delete the installed distributions in `names` (their RECORD's files and their .dist-info)."""
    wanted, removed = set(names), []
    for dist_info in sorted(site.glob("*.dist-info")):
        dist = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        if _normalize(dist) not in wanted:
            continue
        record = dist_info / "RECORD"
        lines = record.read_text(encoding="utf-8").splitlines() if record.is_file() else []
        for line in lines:
            relative = line.rsplit(",", 2)[0]
            path = (site / relative).resolve()
            if path.is_relative_to(site.resolve()) and path.is_file():
                path.unlink()
        shutil.rmtree(dist_info, ignore_errors=True)
        removed.append(dist)
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    return tuple(removed)


def _compile(site: Path, python_version: str, python: str, say: Progress) -> bool:
    interpreter = find_interpreter(python_version, python)
    if interpreter is None:
        say(f"processing layer: no bytecode (no python{python_version} here); cold starts will compile it")
        return False
    modules = [p.relative_to(site).as_posix() for p in site.rglob("*.py")]
    compile_bytecode(interpreter, site, modules)
    return True


def _cached(layer_dir: Path, name: str) -> Artifact | None:
    zip_path = layer_dir / LAYER_ZIP_NAME
    try:
        info = json.loads((layer_dir / INFO_NAME).read_text(encoding="utf-8"))
        if zip_path.stat().st_size != int(info["zipped_bytes"]):
            return None
        return Artifact(
            KIND, name, zip_path, str(info["sha256"]), int(info["zipped_bytes"]), int(info["unzipped_bytes"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def processing_layer_info(artifact: Artifact) -> dict[str, Any]:
    """The layer.json recorded next to a processing layer built by build_processing_layer."""
    path = artifact.zip_path.with_name(INFO_NAME)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackagingError(
            f"{path} is missing or unreadable: {exc}", "delete the folder to rebuild"
        ) from exc
    return data
