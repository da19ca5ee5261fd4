"""The runtime layer's recipe, slimming and checks, without running pip (the real build is in
tests/package/test_runtime_layer.py)."""

from __future__ import annotations

import ast
import importlib.util
import json
import platform
import re
import shutil
import sys
import zipfile
from pathlib import Path

import numpy
import onnxruntime
import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.resources import function_package_dir, runtime_recipe_dir
from sls_deploy.core.zips import zip_directory
from sls_deploy.package.runtime_layer import (
    COLDSTART_PROBE_NAME,
    LAMBDA_LAYER_PYTHON_DIR,
    LAYER_ZIP_NAME,
    SIZES_NAME,
    BytecodeReport,
    RuntimeLayerSizes,
    SlimRule,
    add_cold_start_bytecode,
    apply_slim_rules,
    build_runtime_layer,
    check_shared_objects,
    compile_bytecode,
    elf_info,
    load_slim_rules,
    probe_cold_start_modules,
    recipe_hash,
    runtime_layer_dir,
)

HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine()
)
OTHER_ARCH = "arm64" if HOST_ARCH == "x86_64" else "x86_64"
NUMPY_CORE = next((Path(numpy.__file__).parent / "_core").glob("_multiarray_umath.*.so"))
ORT_BINDING = next((Path(onnxruntime.__file__).parent / "capi").glob("onnxruntime_pybind11_state*.so"))


def _copy_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe"
    shutil.copytree(runtime_recipe_dir(), recipe)
    return recipe


def test_every_shipped_slim_rule_says_what_it_removes_and_why():
    rules = load_slim_rules(runtime_recipe_dir() / "slim.toml")
    assert len(rules) >= 5
    assert len({rule.name for rule in rules}) == len(rules)
    assert all(rule.paths and len(rule.why) > 20 for rule in rules)


def test_every_shipped_requirement_is_pinned_to_an_exact_version():
    lines = [
        line.split("#")[0].strip()
        for line in (runtime_recipe_dir() / "requirements.txt").read_text().splitlines()
    ]
    requirements = [line for line in lines if line]
    assert {"onnxruntime==1.32.0", "aws-lambda-powertools==3.37.0"} <= set(requirements)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in requirements), (
        requirements
    )


def test_rules_without_a_reason_or_reaching_outside_the_layer_are_refused(tmp_path):
    (tmp_path / "no-why.toml").write_text('[[remove]]\nname = "x"\npaths = ["a"]\n')
    (tmp_path / "escape.toml").write_text(
        '[[remove]]\nname = "x"\npaths = ["../etc"]\nwhy = "no reason at all, really"\n'
    )
    with pytest.raises(PackagingError, match="needs `name`, `paths`"):
        load_slim_rules(tmp_path / "no-why.toml")
    with pytest.raises(PackagingError, match="outside the layer"):
        load_slim_rules(tmp_path / "escape.toml")


def test_the_recipe_hash_changes_with_every_input_and_only_then(tmp_path):
    recipe = _copy_recipe(tmp_path)
    base = recipe_hash("x86_64", "3.12", recipe)
    assert recipe_hash("x86_64", "3.12", recipe) == base
    assert recipe_hash("arm64", "3.12", recipe) != base
    assert recipe_hash("x86_64", "3.13", recipe) != base
    (recipe / "slim.toml").write_text((recipe / "slim.toml").read_text() + "\n# tweak\n")
    slim_changed = recipe_hash("x86_64", "3.12", recipe)
    assert slim_changed != base
    (recipe / "requirements.txt").write_text((recipe / "requirements.txt").read_text() + "\n# tweak\n")
    requirements_changed = recipe_hash("x86_64", "3.12", recipe)
    assert requirements_changed not in (base, slim_changed)
    (recipe / COLDSTART_PROBE_NAME).write_text((recipe / COLDSTART_PROBE_NAME).read_text() + "\n# tweak\n")
    assert recipe_hash("x86_64", "3.12", recipe) not in (base, slim_changed, requirements_changed)
    assert (
        runtime_layer_dir(tmp_path, "x86_64", "3.12", recipe).name
        == f"runtime-x86_64-py3.12-{recipe_hash('x86_64', '3.12', recipe)[:12]}"
    )


def _fake_site(root: Path) -> Path:
    files = {
        "onnxruntime/__init__.py": "x" * 100,
        "onnxruntime/capi/libonnxruntime.so.1.32.0": "L" * 5000,
        "onnxruntime/capi/_pybind_state.py": "p" * 50,
        "onnxruntime/tools/convert.py": "t" * 300,
        "onnxruntime/ThirdPartyNotices.txt": "licence",
        "numpy/__init__.py": "n" * 10,
        "numpy/__init__.pyi": "s" * 70,
        "numpy/_pytesttester.py": "keep",
        "numpy/_core/tests/test_a.py": "a" * 400,
        "numpy/_core/tests/data/x.csv": "1,2",
        "numpy/_core/_simd.cpython-312-x86_64-linux-gnu.so": "S" * 900,
        "numpy/f2py/__init__.py": "f" * 80,
        "numpy-2.4.6.dist-info/METADATA": "Name: numpy",
        "numpy-2.4.6.dist-info/RECORD": "r" * 60,
        "numpy-2.4.6.dist-info/licenses/LICENSE.txt": "BSD",
        "google/protobuf/__init__.py": "g" * 30,
        "bin/f2py": "#!/usr/bin/python",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _remaining(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_the_shipped_rules_remove_tools_tests_stubs_and_records_but_keep_licences_and_metadata(tmp_path):
    site = _fake_site(tmp_path / "python")
    apply_slim_rules(site, load_slim_rules(runtime_recipe_dir() / "slim.toml"), measure_zipped=False)
    assert _remaining(site) == {
        "onnxruntime/__init__.py",
        "onnxruntime/capi/_pybind_state.py",
        "onnxruntime/ThirdPartyNotices.txt",
        "numpy/__init__.py",
        "numpy/_pytesttester.py",
        "numpy-2.4.6.dist-info/METADATA",
        "numpy-2.4.6.dist-info/licenses/LICENSE.txt",
    }


def test_each_file_counts_once_for_the_first_rule_that_removes_it(tmp_path):
    site = _fake_site(tmp_path / "python")
    rules = [
        SlimRule("numpy core", ("numpy/_core", "numpy/_core/tests"), "why"),
        SlimRule("all tests", ("**/tests",), "why"),
        SlimRule("nothing", ("does/not/exist",), "why"),
    ]
    savings = apply_slim_rules(site, rules, measure_zipped=False).savings
    assert [(s.name, s.files, s.unzipped_bytes) for s in savings] == [
        ("numpy core", 3, 400 + 3 + 900),
        ("all tests", 0, 0),
        ("nothing", 0, 0),
    ]


def test_the_zipped_saving_is_exactly_what_the_removed_files_took_in_the_zip(tmp_path):
    site = _fake_site(tmp_path / "python")
    zip_directory(site, tmp_path / "before.zip", prefix="python/")
    result = apply_slim_rules(site, load_slim_rules(runtime_recipe_dir() / "slim.toml"))
    zip_directory(site, tmp_path / "after.zip", prefix="python/")
    saved = (tmp_path / "before.zip").stat().st_size - (tmp_path / "after.zip").stat().st_size
    assert sum(s.zipped_bytes for s in result.savings) == saved


def test_elf_info_reads_architecture_and_needed_libraries_like_readelf():
    info = elf_info(NUMPY_CORE)
    assert info is not None and info.machine_name == {"x86_64": "x86_64", "arm64": "aarch64"}[HOST_ARCH]
    assert any(name.startswith("libscipy_openblas") for name in info.needed)
    assert "libc.so.6" in info.needed
    assert elf_info(Path(numpy.__file__)) is None


def test_onnxruntimes_python_binding_does_not_need_the_c_library_the_rules_remove():
    info = elf_info(ORT_BINDING)
    assert info is not None
    assert not any(name.startswith("libonnxruntime.so") for name in info.needed), info.needed


def test_removing_a_library_another_one_needs_fails_the_build(tmp_path):
    site = tmp_path / "python"
    (site / "numpy" / "_core").mkdir(parents=True)
    shutil.copy(NUMPY_CORE, site / "numpy" / "_core" / NUMPY_CORE.name)
    openblas = next(n for n in elf_info(NUMPY_CORE).needed if n.startswith("libscipy_openblas"))
    assert check_shared_objects(site, HOST_ARCH) == 1
    with pytest.raises(PackagingError, match=f"needs {re.escape(openblas)}, which a slim rule removed"):
        check_shared_objects(site, HOST_ARCH, {openblas})


def test_a_shared_object_for_another_architecture_fails_the_build(tmp_path):
    site = tmp_path / "python"
    site.mkdir()
    shutil.copy(NUMPY_CORE, site / NUMPY_CORE.name)
    with pytest.raises(PackagingError, match=f"not {OTHER_ARCH}"):
        check_shared_objects(site, OTHER_ARCH)


def _seed_cache(cache: Path, recipe: Path, python_version: str = "3.12", bytecode_status: str = "") -> Path:
    layer_dir = runtime_layer_dir(cache, "x86_64", python_version, recipe)
    layer_dir.mkdir(parents=True)
    zip_path = layer_dir / LAYER_ZIP_NAME
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("python/x.py", "x = 1\n")
    sizes = {"sha256": "c" * 64, "zipped_bytes": zip_path.stat().st_size, "unzipped_bytes": 6}
    if bytecode_status:
        sizes["bytecode"] = BytecodeReport(status=bytecode_status, reason="seeded").to_json()
    (layer_dir / SIZES_NAME).write_text(json.dumps(sizes))
    return zip_path


def test_a_built_layer_is_taken_from_the_cache_without_running_pip(tmp_path):
    recipe = _copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    messages: list[str] = []
    artifact = build_runtime_layer(
        "x86_64", "3.12", tmp_path / "cache", progress=messages.append, recipe_dir=recipe
    )
    assert artifact.zip_path == zip_path and artifact.sha256 == "c" * 64 and artifact.unzipped_bytes == 6
    assert artifact.kind == "runtime-layer" and artifact.name == "runtime-x86_64-py312"
    assert len(messages) == 1 and "cached" in messages[0]


def test_a_damaged_cache_entry_is_rebuilt_not_trusted(tmp_path):
    recipe = _copy_recipe(tmp_path)
    # The rebuild runs pip on a requirement that fails at once, offline: proof the cache was not used.
    (recipe / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    zip_path.write_bytes(b"truncated")
    with pytest.raises(PackagingError, match="pip failed"):
        build_runtime_layer("x86_64", "3.12", tmp_path / "cache", recipe_dir=recipe)
    assert not list((tmp_path / "cache" / "layers").glob(".build-*"))  # no leftovers


@pytest.mark.parametrize(
    ("arch", "version", "match"),
    [("sparc", "3.12", "unknown architecture"), ("x86_64", "3", "not of the form")],
)
def test_an_unknown_target_is_refused_before_anything_is_built(tmp_path, arch, version, match):
    with pytest.raises(PackagingError, match=match):
        build_runtime_layer(arch, version, tmp_path)
    assert not (tmp_path / "layers").exists()


# --- Bytecode for the cold-start path ---------------------------------------------------------------------

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
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


def test_sizes_round_trip_the_bytecode_report_and_older_records_read_without_one():
    report = BytecodeReport(
        status="compiled",
        reason="",
        interpreter="3.12.1",
        cache_tag="cpython-312",
        files=3,
        unzipped_bytes=300,
        zipped_bytes=120,
    )
    sizes = RuntimeLayerSizes(
        arch="x86_64",
        python_version="3.12",
        recipe_hash="h",
        sha256="s",
        naive_unzipped_bytes=10,
        naive_zipped_bytes=5,
        unzipped_bytes=8,
        zipped_bytes=4,
        rules=(),
        packages={},
        build_seconds={},
        bytecode=report,
    )
    assert RuntimeLayerSizes.from_json(json.loads(json.dumps(sizes.to_json()))) == sizes
    old = {k: v for k, v in sizes.to_json().items() if k != "bytecode"}
    assert RuntimeLayerSizes.from_json(old).bytecode is None


def test_a_layer_cached_without_bytecode_for_want_of_an_interpreter_is_rebuilt_once_one_exists(tmp_path):
    recipe = _copy_recipe(tmp_path)
    # The rebuild runs pip on a requirement that fails at once, offline: proof the cache was not used.
    (recipe / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    _seed_cache(tmp_path / "cache", recipe, HOST_PYTHON, bytecode_status="no-interpreter")
    messages: list[str] = []
    with pytest.raises(PackagingError, match="pip failed"):
        build_runtime_layer(
            "x86_64",
            HOST_PYTHON,
            tmp_path / "cache",
            progress=messages.append,
            recipe_dir=recipe,
            python=sys.executable,
        )
    assert "rebuilding the cached layer with bytecode" in messages[0]


@pytest.mark.parametrize("status", ["compiled", "not-importable", "probe-failed"])
def test_other_cached_layers_are_used_as_they_are(tmp_path, status):
    recipe = _copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe, HOST_PYTHON, bytecode_status=status)
    artifact = build_runtime_layer(
        "x86_64", HOST_PYTHON, tmp_path / "cache", recipe_dir=recipe, python=sys.executable
    )
    assert artifact.zip_path == zip_path
