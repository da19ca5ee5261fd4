"""Shared by the runtime layer's tests: this machine's layer architecture and Python version, one of numpy's
shared objects to read, and a copy of the recipe to edit."""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

import numpy

from sls_deploy.core.resources import runtime_recipe_dir

HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine()
)
NUMPY_CORE = next((Path(numpy.__file__).parent / "_core").glob("_multiarray_umath.*.so"))
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def copy_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe"
    shutil.copytree(runtime_recipe_dir(), recipe)
    return recipe
