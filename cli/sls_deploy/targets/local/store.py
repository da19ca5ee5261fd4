"""The content-addressed half of the local state folder: artifacts/<sha256>.zip (deployed zips, copied in
once) and extracted/<sha256>/ (each zip extracted once, read-only files), and layers merged into an /opt.

Side effects: only below the state folder.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

from sls_inference.integrity import sha256_file

from ...core.artifacts import Artifact
from ...core.errors import TargetError
from ...core.zips import extract_zip


def _make_read_only(root: Path) -> None:
    """Drop write bits, as Lambda mounts /var/task and /opt read-only (root ignores them, others do not)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            mode = path.stat().st_mode
            path.chmod(stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


class ArtifactStore:
    """The artifacts and extracted trees below `root` (the project's state folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- artifacts ---------------------------------------------------------------------------------------
    def artifact_path(self, sha256: str) -> Path:
        return self.root / "artifacts" / f"{sha256}.zip"

    def store_artifact(self, artifact: Artifact) -> Path:
        """Copy the zip in under its sha256 (once); checks the file still has the hash it was built with."""
        dest = self.artifact_path(artifact.sha256)
        if dest.is_file():
            return dest
        if not artifact.zip_path.is_file():
            raise TargetError(
                f"the {artifact.kind} zip {artifact.zip_path} is missing",
                "build it again (sls-deploy push rebuilds everything it needs)",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(artifact.zip_path, tmp)
        actual = sha256_file(tmp)
        if actual != artifact.sha256:
            tmp.unlink()
            raise TargetError(
                f"{artifact.zip_path} changed after it was built (sha256 {actual[:12]}…, "
                f"expected {artifact.sha256[:12]}…)",
                "build it again, then deploy",
            )
        tmp.replace(dest)
        return dest

    def extracted(self, sha256: str) -> Path:
        """The zip with this sha256, extracted once into extracted/<sha256>/ (read-only files)."""
        dest = self.root / "extracted" / sha256
        if dest.is_dir():
            return dest
        zip_path = self.artifact_path(sha256)
        if not zip_path.is_file():
            raise TargetError(
                f"artifact {sha256[:12]}… is missing from {self.root / 'artifacts'}",
                "push the function again to restore it",
            )
        tmp = dest.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
        tmp.mkdir(parents=True)
        try:
            extract_zip(zip_path, tmp)
            _make_read_only(tmp)
            tmp.rename(dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not dest.is_dir():  # not a concurrent extraction that won the rename
                raise
        return dest

    def merge_layers(self, layer_sha256s: Iterable[str], dest: Path) -> None:
        """Hard-link the extracted layers, in order, into `dest` (a later layer overwrites an earlier one)."""
        for sha in layer_sha256s:
            layer = self.extracted(sha)
            for dirpath, _, filenames in os.walk(layer):
                rel = Path(dirpath).relative_to(layer)
                (dest / rel).mkdir(parents=True, exist_ok=True)
                for filename in filenames:
                    target = dest / rel / filename
                    if target.exists():
                        target.unlink()
                    _link_or_copy(Path(dirpath) / filename, target)
