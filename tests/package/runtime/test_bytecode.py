"""Bytecode for the cold-start path, without pip: the probe lists the modules a cold start loads, the
compiler writes reproducible unchecked-hash .pyc for them, and without an interpreter the layer goes
without."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import numpy
import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.resources import function_package_dir, runtime_recipe_dir
from sls_deploy.package.runtime.bytecode import (
    LAMBDA_LAYER_PYTHON_DIR,
    add_cold_start_bytecode,
    compile_bytecode,
    probe_cold_start_modules,
)
from sls_deploy.package.runtime.recipe import COLDSTART_PROBE_NAME
from tests.support.runtime_layer_support import HOST_PYTHON

CACHE_TAG = sys.implementation.cache_tag
SITE_PACKAGES = Path(numpy.__file__).resolve().parents[1]  # this venv's: numpy, onnxruntime, powertools


def _module_imports(path: Path) -> set[str]:
    """Modules a file imports at module level (absolute imports only; not those inside functions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_cold_start_probe_imports_every_layer_module_the_function_imports():
    probe = _module_imports(runtime_recipe_dir() / COLDSTART_PROBE_NAME)
    function = set().union(*(_module_imports(f) for f in function_package_dir().rglob("*.py")))
    from_layer = {
        name
        for name in function
        if name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"
    }
    assert {"numpy", "onnxruntime", "aws_lambda_powertools.logging"} <= from_layer
    assert from_layer <= probe, from_layer - probe


def test_the_probe_lists_the_layer_files_a_cold_start_loads_and_nothing_outside():
    modules = probe_cold_start_modules(
        Path(sys.executable), SITE_PACKAGES, runtime_recipe_dir() / COLDSTART_PROBE_NAME
    )
    assert {
        "numpy/__init__.py",
        "onnxruntime/__init__.py",
        "aws_lambda_powertools/logging/logger.py",
        "aws_lambda_powertools/metrics/provider/cloudwatch_emf/cloudwatch.py",
    } <= set(modules)
    assert all(m.endswith(".py") and not m.startswith(("/", "..")) for m in modules)
    assert not any(m.startswith(("numpy/f2py/", "aws_lambda_powertools/event_handler/")) for m in modules)
    assert list(modules) == sorted(modules)


def test_a_failing_probe_is_reported_with_its_output(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\nprint('looking at', sys.argv[1])\nimport not_in_the_layer\n")
    with pytest.raises(PackagingError, match="(?s)probe failed.*No module named 'not_in_the_layer'"):
        probe_cold_start_modules(Path(sys.executable), tmp_path, probe)


def _pure_site(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUES = {'a', 'b', 'c'}\n")
    (root / "pkg" / "sub" / "mod.py").write_text("def f():\n    return 'mod'\n")
    (root / "pkg" / "unused.py").write_text("x = 1\n")
    return root


def test_bytecode_is_compiled_unchecked_hash_for_the_listed_modules_only_naming_the_lambda_path(tmp_path):
    site = _pure_site(tmp_path / "python")
    version, cache_tag = compile_bytecode(Path(sys.executable), site, ["pkg/sub/mod.py", "pkg/__init__.py"])
    assert (version.rsplit(".", 1)[0], cache_tag) == (HOST_PYTHON, CACHE_TAG)
    pyc = site / "pkg" / "sub" / "__pycache__" / f"mod.{CACHE_TAG}.pyc"
    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, source not checked
    assert f"{LAMBDA_LAYER_PYTHON_DIR}/pkg/sub/mod.py".encode() in data  # not the build folder
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.pyc")) == [
        f"pkg/__pycache__/__init__.{CACHE_TAG}.pyc",
        f"pkg/sub/__pycache__/mod.{CACHE_TAG}.pyc",
    ]


def test_compiling_again_in_another_folder_gives_the_same_bytes(tmp_path):
    sites = [_pure_site(tmp_path / name / "python") for name in ("one", "two")]
    for site in sites:
        compile_bytecode(Path(sys.executable), site, ["pkg/__init__.py", "pkg/sub/mod.py"])
    first, second = (
        {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*.pyc")} for site in sites
    )
    assert first == second and len(first) == 2


def test_a_module_that_does_not_compile_fails_the_build_naming_it(tmp_path):
    site = _pure_site(tmp_path / "python")
    (site / "pkg" / "broken.py").write_text("def f(:\n")
    with pytest.raises(PackagingError, match="broken.py"):
        compile_bytecode(Path(sys.executable), site, ["pkg/broken.py"])


@pytest.fixture
def no_interpreters(tmp_path, monkeypatch):
    """A machine without pyenv versions or pythonX.Y on PATH."""
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))


def test_without_an_interpreter_of_the_target_version_the_layer_gets_no_bytecode_and_says_why(
    tmp_path, no_interpreters
):
    site = _pure_site(tmp_path / "python")
    messages: list[str] = []
    report = add_cold_start_bytecode(site, "x86_64", "3.12", runtime_recipe_dir(), (), messages.append)
    assert report.status == "no-interpreter" and not report.compiled and "python3.12" in report.reason
    assert len(messages) == 1 and "no bytecode" in messages[0] and "python3.12" in messages[0]
    assert not list(site.rglob("*.pyc"))
