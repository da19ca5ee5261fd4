"""LocalTarget.prepare: the build as this machine runs it, the project's architecture and Python left to the
template."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sls_deploy.core.config import load_config
from sls_deploy.package.runtime import host_layer_arch
from sls_deploy.targets.local import prepare
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import code_zip, function_build, layer_zip, python312_or_skip

OTHER_ARCH = {"x86_64": "arm64", "arm64": "x86_64"}


def test_a_build_this_machine_runs_as_it_is_is_left_alone(tmp_path: Path) -> None:
    python = python312_or_skip()
    if host_layer_arch() != "x86_64":
        pytest.skip("the helper's build is for x86_64")
    config = load_config(tmp_path, {"python": str(python)})
    code = code_zip(tmp_path / "code", "def handler(event, context):\n    return event\n")
    build = function_build("m", code, (layer_zip(tmp_path / "rt", {"a.txt": "x"}, "runtime"),))

    prepared = LocalTarget(config).prepare(build)

    assert prepared.function is build
    assert prepared.interpreter == str(python)
    assert prepared.warnings == ()


def test_another_architecture_and_a_missing_python_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = host_layer_arch()
    if host is None:
        pytest.skip("this machine cannot import manylinux layers")
    monkeypatch.setattr(prepare.interpreters, "find_interpreter", lambda version, explicit="": None)
    config = load_config(tmp_path, {"arch": OTHER_ARCH[host]})

    runtime = prepare.local_runtime(config)

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (runtime.arch, runtime.python_version, runtime.interpreter) == (host, here, sys.executable)
    assert f"this machine is {host}" in runtime.warnings[0]
    assert f"the template keeps {OTHER_ARCH[host]}" in runtime.warnings[0]
    assert f"no python{config.python_version} interpreter found" in runtime.warnings[1]
