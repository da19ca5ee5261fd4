"""The runtime layer's recipe: layers/runtime/requirements.txt (pinned) + slim.toml (what to delete, and why)
+ coldstart.py (the cold-start path whose modules get bytecode). Its hash is the sha256 of these files, the
architecture, the Python version and BUILDER_VERSION; a layer is built once per hash into
`<cache_dir>/layers/runtime-<arch>-py<ver>-<hash12>/`. Also the layer's name, its folder in the zip and
which targets can be built.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ...core.errors import PackagingError
from ...core.resources import runtime_recipe_dir
from ..pip import manylinux_platforms

# Bump when the build steps (this package) or pip.py's platform tags change what ends up in the zip (it is
# part of the recipe hash, so cached layers built the old way are not reused). 2: cold-start modules get bytecode.
BUILDER_VERSION = "2"
REQUIREMENTS_NAME = "requirements.txt"
SLIM_RULES_NAME = "slim.toml"
COLDSTART_PROBE_NAME = "coldstart.py"
RECIPE_FILES = (REQUIREMENTS_NAME, SLIM_RULES_NAME, COLDSTART_PROBE_NAME)
ZIP_PREFIX = "python/"  # the layer's files sit under python/ in the zip: /opt/python on Lambda


def check_target(arch: str, python_version: str) -> None:
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
