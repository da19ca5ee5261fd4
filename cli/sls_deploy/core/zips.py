"""Deterministic zips: sorted entries, fixed timestamps and modes, so unchanged inputs give the same sha256.

Side effects: writes the zip file it is asked to write (atomically, through a temporary file).
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_NAMES = frozenset({"__pycache__", ".DS_Store"})
SKIP_SUFFIXES = (".pyc", ".pyo")


def iter_files(root: Path, include_bytecode: bool = False) -> Iterable[Path]:
    """Files below `root` in sorted order, without caches and compiled bytecode; with `include_bytecode`,
    `__pycache__` folders and `.pyc` files are kept (for a layer that ships bytecode it compiled itself)."""
    skip_dirs = SKIP_NAMES - {"__pycache__"} if include_bytecode else SKIP_NAMES
    skip_suffixes = () if include_bytecode else SKIP_SUFFIXES
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for name in sorted(filenames):
            if name in SKIP_NAMES or name.endswith(skip_suffixes):
                continue
            yield Path(dirpath) / name


def write_deterministic_zip(
    sources: Iterable[tuple[Path, str]], zip_path: Path, compresslevel: int = 9
) -> None:
    """Write `(file, arcname)` pairs into `zip_path`, entries sorted by arcname, timestamps fixed."""
    entries = sorted(sources, key=lambda pair: pair[1])
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this writer's own: processes building the same zip at once (concurrent pushes) must
    # not write into one file; the last rename wins with identical bytes.
    tmp = zip_path.with_name(f"{zip_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for path, arcname in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the mode bits are honoured on extraction
            with path.open("rb") as src, zf.open(info, "w") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
    tmp.replace(zip_path)


def zip_directory(root: Path, zip_path: Path, prefix: str = "", include_bytecode: bool = False) -> None:
    """Zip everything below `root` (as iter_files lists it), each entry named `prefix` + its path relative
    to `root`."""
    files = iter_files(root, include_bytecode=include_bytecode)
    write_deterministic_zip(((p, prefix + p.relative_to(root).as_posix()) for p in files), zip_path)


def unzipped_size(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as zf:
        return sum(info.file_size for info in zf.infolist())


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Extract keeping the unix mode bits (zipfile drops them), as Lambda does when it mounts a layer."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(target, mode)
