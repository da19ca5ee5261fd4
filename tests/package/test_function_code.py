"""The function code zip: the sls_inference package's .py files only, under sls_inference/, deterministic."""

from __future__ import annotations

import zipfile
from pathlib import PurePosixPath

import pytest

from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.core.resources import function_package_dir
from sls_deploy.package.function_code import build_function_code


def test_the_zip_holds_every_python_file_of_the_package_and_nothing_else(tmp_path):
    artifact = build_function_code(tmp_path)
    assert artifact.kind == "function-code" and artifact.zip_path == tmp_path / "function-code.zip"
    with zipfile.ZipFile(artifact.zip_path) as zf:
        names = zf.namelist()
    package = function_package_dir()
    expected = sorted(
        "sls_inference/" + p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert names == expected
    assert {"sls_inference/__init__.py", "sls_inference/loader.py", "sls_inference/signature.py"} <= set(
        names
    )


def test_building_twice_gives_the_same_bytes(tmp_path):
    assert build_function_code(tmp_path / "a").sha256 == build_function_code(tmp_path / "b").sha256


def test_with_the_runtimes_python_the_zip_also_holds_reproducible_bytecode_of_every_module(tmp_path):
    if find_interpreter("3.12") is None:
        pytest.skip("no python3.12 on this machine")
    first = build_function_code(tmp_path / "a", "3.12")
    with zipfile.ZipFile(first.zip_path) as zf:
        names = set(zf.namelist())
    sources = {name for name in names if name.endswith(".py")}
    # Each module's bytecode sits in the __pycache__ of its own folder (subpackages too).
    assert sources and all(
        str(PurePosixPath(name).parent / "__pycache__" / f"{PurePosixPath(name).stem}.cpython-312.pyc")
        in names
        for name in sources
    )
    assert build_function_code(tmp_path / "b", "3.12").sha256 == first.sha256
