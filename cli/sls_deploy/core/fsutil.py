"""Small file-system primitives shared by the state, cache and build folders: atomic writes and file locks.

Side effects: exactly the files named by the caller (plus a temporary file next to them).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _tmp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(path)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def link_or_copy(src: Path, dest: Path) -> None:
    """Make `dest` hold `src`'s bytes: a hard link where possible (same file system), else a copy; atomic."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(dest)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    tmp.replace(dest)


@contextmanager
def file_lock(lock_path: Path, shared: bool = False) -> Iterator[None]:
    """An advisory lock (fcntl) held for the block: exclusive, or shared with other shared holders; others
    taking it wait. Each call opens the file anew, so threads of one process exclude each other too."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
