"""Slimming: the [[remove]] rules of slim.toml, applied to the installed layer with what each removed (files,
bytes unzipped and zipped), and the check that every shared object left is built for the layer's
architecture and needs no library a rule removed."""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import PackagingError
from ...core.zips import iter_files, write_deterministic_zip
from .elf import ELF_MACHINE_FOR_ARCH, elf_info
from .recipe import SLIM_RULES_NAME, ZIP_PREFIX

_ZIP_END_RECORD_BYTES = 22  # end-of-central-directory record, present once per zip


@dataclass(frozen=True)
class SlimRule:
    name: str
    paths: tuple[str, ...]  # globs relative to the python/ folder
    why: str


@dataclass(frozen=True)
class RuleSaving:
    """What one slim rule removed: files, bytes unzipped, and bytes those files would take in the zip."""

    name: str
    files: int
    unzipped_bytes: int
    zipped_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": self.files,
            "unzipped_bytes": self.unzipped_bytes,
            "zipped_bytes": self.zipped_bytes,
        }


def load_slim_rules(path: Path) -> tuple[SlimRule, ...]:
    """The [[remove]] rules of a slim.toml, validated: each needs a name, a list of paths and a why."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PackagingError(f"slim rules {path} cannot be read: {exc}", "fix the TOML syntax") from exc
    rules = []
    for index, entry in enumerate(data.get("remove", [])):
        paths = entry.get("paths")
        if not entry.get("name") or not entry.get("why") or not isinstance(paths, list) or not paths:
            raise PackagingError(
                f"{path}: rule #{index + 1} needs `name`, `paths` (a non-empty list) and `why`",
                "every removal must say what it removes and why that is safe",
            )
        bad = [p for p in paths if not isinstance(p, str) or p.startswith("/") or ".." in Path(p).parts]
        if bad:
            raise PackagingError(
                f"{path}: rule {entry['name']!r} has paths outside the layer: {bad}",
                "use globs relative to the layer's python/ folder",
            )
        rules.append(SlimRule(name=str(entry["name"]), paths=tuple(paths), why=str(entry["why"]).strip()))
    return tuple(rules)


def zipped_bytes_of(files: list[Path], root: Path, scratch: Path) -> int:
    """Bytes `files` add to the layer zip: zipped with the same writer, minus the end-of-archive record."""
    if not files:
        return 0
    probe = scratch / "probe.zip"
    write_deterministic_zip(((f, ZIP_PREFIX + f.relative_to(root).as_posix()) for f in files), probe)
    size = probe.stat().st_size - _ZIP_END_RECORD_BYTES
    probe.unlink()
    return size


def _files_under(path: Path) -> list[Path]:
    if path.is_dir() and not path.is_symlink():
        return [Path(d) / f for d, _, files in os.walk(path) for f in files]
    return [path]


@dataclass(frozen=True)
class SlimResult:
    savings: tuple[RuleSaving, ...]
    removed_libraries: frozenset[str]  # file names and SONAMEs of the removed ELF files


def apply_slim_rules(root: Path, rules: Iterable[SlimRule], measure_zipped: bool = True) -> SlimResult:
    """Delete what `rules` match below `root`; per rule, count the files and bytes removed (zipped too, by
    zipping them once with the layer's zip writer, when `measure_zipped`)."""
    savings: list[RuleSaving] = []
    removed_libraries: set[str] = set()
    with tempfile.TemporaryDirectory(prefix=".slim-", dir=root.parent) as scratch:
        for rule in rules:
            found = {match for pattern in rule.paths for match in root.glob(pattern)}
            # A path inside another match goes with it (and must not be counted twice).
            matches = sorted(m for m in found if not any(p in found for p in m.parents))
            files = [file for match in matches for file in _files_under(match)]
            zipped = zipped_bytes_of(files, root, Path(scratch)) if measure_zipped else 0
            for file in files:
                info = elf_info(file) if ".so" in file.name else None
                if info is not None:
                    removed_libraries.update(n for n in (file.name, info.soname) if n)
            unzipped = sum(file.lstat().st_size for file in files)
            for match in matches:
                if match.is_dir() and not match.is_symlink():
                    shutil.rmtree(match)
                else:
                    match.unlink()
            savings.append(RuleSaving(rule.name, len(files), unzipped, zipped))
    return SlimResult(savings=tuple(savings), removed_libraries=frozenset(removed_libraries))


def check_shared_objects(root: Path, arch: str, removed_libraries: Iterable[str] = ()) -> int:
    """Fail unless every ELF file below `root` is built for `arch` and none needs a removed library.

    Returns how many ELF files were checked.
    """
    want = ELF_MACHINE_FOR_ARCH[arch]
    removed = set(removed_libraries)
    checked = 0
    for path in iter_files(root):
        info = elf_info(path)
        if info is None:
            continue
        checked += 1
        rel = path.relative_to(root).as_posix()
        if info.machine != want:
            raise PackagingError(
                f"{rel} in the runtime layer is built for {info.machine_name}, not {arch}",
                "a wheel for the wrong platform was installed: check the pip platform tags",
            )
        missing = sorted(removed.intersection(info.needed))
        if missing:
            raise PackagingError(
                f"{rel} needs {', '.join(missing)}, which a slim rule removed",
                f"drop that file from the rules in {SLIM_RULES_NAME} (the layer would fail to import)",
            )
    return checked
