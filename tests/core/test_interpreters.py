"""Finding a python3.X: override first, then pyenv's highest working patch, then PATH; every candidate is run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sls_deploy.core.errors import ConfigError
from sls_deploy.core.interpreters import (
    find_interpreter,
    interpreter_version,
    parse_version,
    pyenv_candidates,
)


def _fake_python(path: Path, version: str = "3 12", exit_code: int = 0) -> Path:
    """A script that answers the version probe like an interpreter (or fails like a refusing pyenv shim)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if exit_code:
        path.write_text(f"#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit {exit_code}\n")
    else:
        path.write_text(f"#!/bin/sh\necho '{version}'\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """An isolated machine: a pyenv root and a PATH that hold only what the test puts there."""
    root, bin_dir = tmp_path / "pyenv", tmp_path / "bin"
    (root / "versions").mkdir(parents=True)
    bin_dir.mkdir()
    monkeypatch.setenv("PYENV_ROOT", str(root))
    monkeypatch.setenv("PATH", str(bin_dir))
    return root, bin_dir


def test_the_highest_installed_patch_of_pyenv_wins(machine):
    root, _ = machine
    for patch in ("3.12.1", "3.12.10", "3.12.9", "3.13.0"):
        _fake_python(
            root / "versions" / patch / "bin" / "python", "3 13" if patch.startswith("3.13") else "3 12"
        )
    assert find_interpreter("3.12") == root / "versions" / "3.12.10" / "bin" / "python"
    assert find_interpreter("3.13") == root / "versions" / "3.13.0" / "bin" / "python"


def test_free_threaded_dev_and_release_candidate_builds_are_not_candidates(machine):
    root, _ = machine
    for name in ("3.12.1", "3.12.5t", "3.12-dev", "3.12.0rc1", "3.120.1"):
        _fake_python(root / "versions" / name / "bin" / "python")
    assert pyenv_candidates("3.12") == [root / "versions" / "3.12.1" / "bin" / "python"]


def test_a_broken_pyenv_version_is_skipped_for_the_next_patch(machine):
    root, _ = machine
    _fake_python(root / "versions" / "3.12.4" / "bin" / "python", exit_code=1)
    _fake_python(root / "versions" / "3.12.2" / "bin" / "python")
    assert find_interpreter("3.12") == root / "versions" / "3.12.2" / "bin" / "python"


def test_without_pyenv_the_python_on_path_is_used_if_it_runs(machine):
    _, bin_dir = machine
    _fake_python(bin_dir / "python3.12")
    assert find_interpreter("3.12") == bin_dir / "python3.12"


def test_a_refusing_pyenv_shim_on_path_means_no_interpreter(machine):
    _, bin_dir = machine
    _fake_python(bin_dir / "python3.12", exit_code=127)
    assert find_interpreter("3.12") is None


def test_a_path_python_reporting_another_version_is_not_taken(machine):
    _, bin_dir = machine
    _fake_python(bin_dir / "python3.12", "3 11")
    assert find_interpreter("3.12") is None


def test_an_override_is_used_before_pyenv(machine, tmp_path):
    root, _ = machine
    _fake_python(root / "versions" / "3.12.9" / "bin" / "python")
    chosen = _fake_python(tmp_path / "custom" / "python")
    assert find_interpreter("3.12", override=str(chosen)) == chosen


def test_an_override_by_command_name_is_looked_up_on_path(machine):
    _, bin_dir = machine
    _fake_python(bin_dir / "mypython")
    assert find_interpreter("3.12", override="mypython") == bin_dir / "mypython"


def test_an_override_of_the_wrong_version_is_an_error_not_a_silent_fallback(machine, tmp_path):
    root, _ = machine
    _fake_python(root / "versions" / "3.12.9" / "bin" / "python")
    wrong = _fake_python(tmp_path / "py311", "3 11")
    with pytest.raises(ConfigError, match="is Python 3.11, the runtime needs 3.12"):
        find_interpreter("3.12", override=str(wrong))


def test_an_override_that_does_not_run_is_an_error(machine, tmp_path):
    with pytest.raises(ConfigError, match="does not run"):
        find_interpreter("3.12", override=str(tmp_path / "missing" / "python"))


def test_the_running_interpreter_reports_its_own_version():
    assert interpreter_version(Path(sys.executable)) == sys.version_info[:2]


@pytest.mark.parametrize("text", ["3", "3.12.1", "python3.12", ""])
def test_versions_must_be_major_dot_minor(text):
    with pytest.raises(ConfigError):
        parse_version(text)
