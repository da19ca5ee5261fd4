"""Where the files that ship with sls-deploy live: the function code and the layer recipes.

In an installed wheel they sit inside the packages; in a source checkout (editable install) at the repo's top.
"""

from __future__ import annotations

from pathlib import Path

import sls_inference

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # sls_deploy/
_REPO_ROOT = _PACKAGE_DIR.parent.parent


def function_package_dir() -> Path:
    """The `sls_inference` package: the function's code, zipped as `sls_inference/...` (handler
    `sls_inference.handler.lambda_handler`)."""
    return Path(sls_inference.__file__).resolve().parent


def runtime_recipe_dir() -> Path:
    """layers/runtime: the pinned requirements and slimming rules of the runtime layer."""
    return _recipe_dir("runtime", "requirements.txt")


def processing_recipe_dir() -> Path:
    """layers/processing: the pinned packages a model's text or image processing adds in its own layer."""
    return _recipe_dir("processing", "text.txt")


def _recipe_dir(name: str, marker: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_bundled" / "layers" / name, _REPO_ROOT / "layers" / name):
        if (candidate / marker).is_file():
            return candidate
    raise FileNotFoundError(f"the {name}-layer recipe (layers/{name}) is missing from this installation")
