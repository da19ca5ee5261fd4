"""The recipe: pinned requirements, a hash that follows every input, and the targets that can be built."""

from __future__ import annotations

import re

import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.resources import runtime_recipe_dir
from sls_deploy.package.runtime.build import build_runtime_layer
from sls_deploy.package.runtime.recipe import COLDSTART_PROBE_NAME, recipe_hash, runtime_layer_dir
from tests.support.runtime_layer_support import copy_recipe


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


def test_the_recipe_hash_changes_with_every_input_and_only_then(tmp_path):
    recipe = copy_recipe(tmp_path)
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


@pytest.mark.parametrize(
    ("arch", "version", "match"),
    [("sparc", "3.12", "unknown architecture"), ("x86_64", "3", "not of the form")],
)
def test_an_unknown_target_is_refused_before_anything_is_built(tmp_path, arch, version, match):
    with pytest.raises(PackagingError, match=match):
        build_runtime_layer(arch, version, tmp_path)
    assert not (tmp_path / "layers").exists()
