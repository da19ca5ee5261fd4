"""Deterministic zips: the same files give the same bytes whatever their order, timestamps or build folder."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from sls_deploy.core.zips import (
    FIXED_DATE_TIME,
    extract_zip,
    iter_files,
    unzipped_size,
    write_deterministic_zip,
    zip_directory,
)
from sls_inference.integrity import sha256_file


def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    (root / "pkg" / "a.txt").write_text("a\n")
    (root / "pkg" / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"\0" * 16)
    (root / "pkg" / "stray.pyc").write_bytes(b"\0" * 16)
    tool = root / "pkg" / "tool.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    return root


def test_the_same_tree_zips_to_the_same_sha256_even_with_other_timestamps_and_folders(tmp_path):
    first = _tree(tmp_path / "one")
    second = _tree(tmp_path / "two")
    for path in second.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    zip_directory(first, tmp_path / "one.zip", prefix="python/")
    zip_directory(second, tmp_path / "two.zip", prefix="python/")
    assert sha256_file(tmp_path / "one.zip") == sha256_file(tmp_path / "two.zip")


def test_entries_are_sorted_by_name_whatever_order_they_are_given_in(tmp_path):
    root = _tree(tmp_path / "src")
    pairs = [
        (root / "pkg" / "sub" / "b.py", "z/b.py"),
        (root / "pkg" / "a.txt", "a.txt"),
        (root / "pkg" / "__init__.py", "m/__init__.py"),
    ]
    write_deterministic_zip(pairs, tmp_path / "forward.zip")
    write_deterministic_zip(list(reversed(pairs)), tmp_path / "reversed.zip")
    with zipfile.ZipFile(tmp_path / "forward.zip") as zf:
        assert zf.namelist() == ["a.txt", "m/__init__.py", "z/b.py"]
    assert sha256_file(tmp_path / "forward.zip") == sha256_file(tmp_path / "reversed.zip")


def test_timestamps_are_fixed_and_modes_are_0644_or_0755_for_executables(tmp_path):
    root = _tree(tmp_path / "src")
    (root / "pkg" / "a.txt").chmod(0o600)  # a private file still ships readable
    zip_directory(root, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        infos = {info.filename: info for info in zf.infolist()}
    assert {info.date_time for info in infos.values()} == {FIXED_DATE_TIME}
    modes = {name: stat.S_IMODE(info.external_attr >> 16) for name, info in infos.items()}
    assert modes == {
        "pkg/__init__.py": 0o644,
        "pkg/a.txt": 0o644,
        "pkg/sub/b.py": 0o644,
        "pkg/tool.sh": 0o755,
    }


def test_bytecode_and_caches_are_left_out(tmp_path):
    root = _tree(tmp_path / "src")
    names = [p.relative_to(root).as_posix() for p in iter_files(root)]
    assert names == ["pkg/__init__.py", "pkg/a.txt", "pkg/tool.sh", "pkg/sub/b.py"]


def test_a_layer_that_ships_bytecode_can_keep_pycache_while_the_default_still_drops_it(tmp_path):
    root = _tree(tmp_path / "src")
    (root / ".DS_Store").write_text("finder")
    zip_directory(root, tmp_path / "plain.zip")
    zip_directory(root, tmp_path / "with-bytecode.zip", include_bytecode=True)
    with (
        zipfile.ZipFile(tmp_path / "plain.zip") as plain,
        zipfile.ZipFile(tmp_path / "with-bytecode.zip") as full,
    ):
        extra = sorted(set(full.namelist()) - set(plain.namelist()))
        assert set(plain.namelist()) <= set(full.namelist())
    assert extra == ["pkg/__pycache__/__init__.cpython-312.pyc", "pkg/stray.pyc"]


def test_extraction_restores_the_executable_bit_and_sizes_add_up(tmp_path):
    root = _tree(tmp_path / "src")
    zip_directory(root, tmp_path / "out.zip", prefix="python/")
    extract_zip(tmp_path / "out.zip", tmp_path / "opt")
    tool = tmp_path / "opt" / "python" / "pkg" / "tool.sh"
    assert os.access(tool, os.X_OK)
    assert not os.access(tmp_path / "opt" / "python" / "pkg" / "a.txt", os.X_OK)
    assert unzipped_size(tmp_path / "out.zip") == sum(p.stat().st_size for p in iter_files(root))


def test_rewriting_a_zip_replaces_it_without_leaving_a_temporary_file(tmp_path):
    root = _tree(tmp_path / "src")
    zip_directory(root, tmp_path / "out.zip")
    (root / "pkg" / "a.txt").write_text("changed\n")
    before = sha256_file(tmp_path / "out.zip")
    zip_directory(root, tmp_path / "out.zip")
    assert sha256_file(tmp_path / "out.zip") != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip", "src"]
