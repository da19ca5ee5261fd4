"""The function code zip: the `sls_inference` package's .py files as `sls_inference/...` (Lambda's /var/task;
handler `sls_inference.handler.lambda_handler`). Side effects: writes `<out_dir>/function-code.zip`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from ..errors import PackagingError
from ..resources import function_package_dir
from .artifacts import Artifact
from .zips import iter_files, write_deterministic_zip

ZIP_NAME = "function-code.zip"
PACKAGE_NAME = "sls_inference"
KIND: Final = "function-code"


def build_function_code(out_dir: Path) -> Artifact:
    """Zip the function's code (only .py files; no caches, tests or data) into `<out_dir>/function-code.zip`."""
    package_dir = function_package_dir()
    files = [path for path in iter_files(package_dir) if path.suffix == ".py"]
    if not any(path.name == "__init__.py" and path.parent == package_dir for path in files):
        raise PackagingError(
            f"{package_dir} holds no {PACKAGE_NAME}/__init__.py",
            "reinstall sls-deploy: the function code ships with it",
        )
    zip_path = Path(out_dir) / ZIP_NAME
    write_deterministic_zip(
        ((path, f"{PACKAGE_NAME}/{path.relative_to(package_dir).as_posix()}") for path in files), zip_path
    )
    return Artifact.from_zip(KIND, PACKAGE_NAME, zip_path)
