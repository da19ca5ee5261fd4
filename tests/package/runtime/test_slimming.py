"""The slim rules (the shipped ones and what is refused), what applying them removes and counts, and the
shared-object check after slimming."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.resources import runtime_recipe_dir
from sls_deploy.core.zips import zip_directory
from sls_deploy.package.runtime.elf import elf_info
from sls_deploy.package.runtime.slimming import (
    SlimRule,
    apply_slim_rules,
    check_shared_objects,
    load_slim_rules,
)
from tests.support.runtime_layer_support import HOST_ARCH, NUMPY_CORE

OTHER_ARCH = "arm64" if HOST_ARCH == "x86_64" else "x86_64"


def test_every_shipped_slim_rule_says_what_it_removes_and_why():
    rules = load_slim_rules(runtime_recipe_dir() / "slim.toml")
    assert len(rules) >= 5
    assert len({rule.name for rule in rules}) == len(rules)
    assert all(rule.paths and len(rule.why) > 20 for rule in rules)


def test_rules_without_a_reason_or_reaching_outside_the_layer_are_refused(tmp_path):
    (tmp_path / "no-why.toml").write_text('[[remove]]\nname = "x"\npaths = ["a"]\n')
    (tmp_path / "escape.toml").write_text(
        '[[remove]]\nname = "x"\npaths = ["../etc"]\nwhy = "no reason at all, really"\n'
    )
    with pytest.raises(PackagingError, match="needs `name`, `paths`"):
        load_slim_rules(tmp_path / "no-why.toml")
    with pytest.raises(PackagingError, match="outside the layer"):
        load_slim_rules(tmp_path / "escape.toml")


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
