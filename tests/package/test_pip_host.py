"""pip for a local interpreter (the local target's worker runtime): installs into a folder that interpreter
imports from in isolation, although that interpreter's own pip is never used."""

from __future__ import annotations

import subprocess

import pytest

from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.package.pip import pip_install_for_interpreter

pytestmark = pytest.mark.slow


def test_awslambdaric_installed_for_python312_imports_from_the_target_folder_alone(tmp_path):
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no python3.12 interpreter on this machine (install it with pyenv to run this test)")
    target = tmp_path / "runtime"
    result = pip_install_for_interpreter(["awslambdaric==4.2.2"], target, interpreter)
    assert "Successfully installed" in result.output
    assert list(target.glob("runtime_client.cpython-312-*.so"))
    probe = f"import sys; sys.path[:0] = [{str(target)!r}]; import awslambdaric.bootstrap; print(awslambdaric.__file__)"
    proc = subprocess.run(
        [str(interpreter), "-I", "-S", "-B", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(target))
