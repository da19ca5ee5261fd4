"""Publishing a built layer into the layer cache: the build finishes in a staging folder beside its cache
folder and is moved in with one rename, so a reader never sees half a layer. Side effects: renames and, for
a broken leftover in the way, deletes that folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..core.artifacts import Artifact
from ..core.errors import PackagingError


def publish_layer(
    staging: Path, layer_dir: Path, read_back: Callable[[Path], Artifact | None], what: str
) -> Artifact:
    """Move `staging` to `layer_dir` and return the artifact `read_back(layer_dir)` finds there. When another
    build published first, its valid layer is kept; a broken one is replaced. PackagingError when nothing
    valid can be read back."""
    try:
        staging.rename(layer_dir)
    except OSError:
        if read_back(layer_dir) is None:
            shutil.rmtree(layer_dir, ignore_errors=True)
            staging.rename(layer_dir)
    result = read_back(layer_dir)
    if result is None:
        raise PackagingError(
            f"the {what} in {layer_dir} could not be read back",
            "check free disk space and permissions of the cache folder",
        )
    return result
