"""The runtime layer's recipe, slimming and checks, without running pip (the real build is in
tests/functional/test_runtime_layer.py)."""

from __future__ import annotations

import json
import platform
import re
import shutil
import zipfile
from pathlib import Path

import numpy
import onnxruntime
import pytest

from sls_deploy.errors import PackagingError
from sls_deploy.package.runtime_layer import (
    LAYER_ZIP_NAME,
    SIZES_NAME,
    SlimRule,
    apply_slim_rules,
    build_runtime_layer,
    check_shared_objects,
    elf_info,
    load_slim_rules,
    recipe_hash,
    runtime_layer_dir,
)
from sls_deploy.package.zips import zip_directory
from sls_deploy.resources import runtime_recipe_dir

HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine())
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
    lines = [line.split("#")[0].strip() for line in (runtime_recipe_dir() / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert {"onnxruntime==1.32.0", "aws-lambda-powertools==3.37.0"} <= set(requirements)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line) for line in requirements), requirements


def test_rules_without_a_reason_or_reaching_outside_the_layer_are_refused(tmp_path):
    (tmp_path / "no-why.toml").write_text('[[remove]]\nname = "x"\npaths = ["a"]\n')
    (tmp_path / "escape.toml").write_text('[[remove]]\nname = "x"\npaths = ["../etc"]\nwhy = "no reason at all, really"\n')
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
    assert recipe_hash("x86_64", "3.12", recipe) not in (base, slim_changed)
    assert runtime_layer_dir(tmp_path, "x86_64", "3.12", recipe).name == f"runtime-x86_64-py3.12-{recipe_hash('x86_64', '3.12', recipe)[:12]}"


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
        "onnxruntime/__init__.py", "onnxruntime/capi/_pybind_state.py", "onnxruntime/ThirdPartyNotices.txt",
        "numpy/__init__.py", "numpy/_pytesttester.py", "numpy-2.4.6.dist-info/METADATA",
        "numpy-2.4.6.dist-info/licenses/LICENSE.txt",
    }


def test_each_file_counts_once_for_the_first_rule_that_removes_it(tmp_path):
    site = _fake_site(tmp_path / "python")
    rules = [SlimRule("numpy core", ("numpy/_core", "numpy/_core/tests"), "why"),
             SlimRule("all tests", ("**/tests",), "why"),
             SlimRule("nothing", ("does/not/exist",), "why")]
    savings = apply_slim_rules(site, rules, measure_zipped=False).savings
    assert [(s.name, s.files, s.unzipped_bytes) for s in savings] == [
        ("numpy core", 3, 400 + 3 + 900), ("all tests", 0, 0), ("nothing", 0, 0)]


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


def _seed_cache(cache: Path, recipe: Path) -> Path:
    layer_dir = runtime_layer_dir(cache, "x86_64", "3.12", recipe)
    layer_dir.mkdir(parents=True)
    zip_path = layer_dir / LAYER_ZIP_NAME
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("python/x.py", "x = 1\n")
    (layer_dir / SIZES_NAME).write_text(json.dumps({
        "sha256": "c" * 64, "zipped_bytes": zip_path.stat().st_size, "unzipped_bytes": 6}))
    return zip_path


def test_a_built_layer_is_taken_from_the_cache_without_running_pip(tmp_path):
    recipe = _copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    messages: list[str] = []
    artifact = build_runtime_layer("x86_64", "3.12", tmp_path / "cache", progress=messages.append,
                                   recipe_dir=recipe)
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


@pytest.mark.parametrize(("arch", "version", "match"), [("sparc", "3.12", "unknown architecture"),
                                                        ("x86_64", "3", "not of the form")])
def test_an_unknown_target_is_refused_before_anything_is_built(tmp_path, arch, version, match):
    with pytest.raises(PackagingError, match=match):
        build_runtime_layer(arch, version, tmp_path)
    assert not (tmp_path / "layers").exists()
