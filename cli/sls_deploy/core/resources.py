"""Where the files that ship with sls-deploy live: the function code and the runtime-layer recipe.

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
    for candidate in (_PACKAGE_DIR / "_bundled" / "layers" / "runtime", _REPO_ROOT / "layers" / "runtime"):
        if (candidate / "requirements.txt").is_file():
            return candidate
    raise FileNotFoundError("the runtime-layer recipe (layers/runtime) is missing from this installation")
