"""Writing settings into the project's config file: the line is edited in place (its comment kept), a new
one goes to the end of its table, everything else stays byte for byte, and config.py reads the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from sls_deploy.core.config import load_config
from sls_deploy.core.config_edit import write_settings
from sls_deploy.core.errors import ConfigError


def test_an_existing_setting_is_replaced_in_place_keeping_its_comment(tmp_path: Path) -> None:
    (tmp_path / "sls-deploy.toml").write_text(
        '# my project\nproject = "demo"\nmemory = 1024   # MB, tuned\ntimeout = 60\n'
    )
    written = write_settings(tmp_path, {"memory": 512})
    assert written == tmp_path / "sls-deploy.toml"
    assert written.read_text() == '# my project\nproject = "demo"\nmemory = 512  # MB, tuned\ntimeout = 60\n'


def test_a_new_setting_goes_before_the_first_table_not_into_it(tmp_path: Path) -> None:
    text = 'project = "demo"\n\n[prices]\nmultiplier = 0.9\n'
    (tmp_path / "sls-deploy.toml").write_text(text)
    write_settings(tmp_path, {"memory": 1769, "arch": "arm64"})
    assert (tmp_path / "sls-deploy.toml").read_text() == (
        'project = "demo"\nmemory = 1769\narch = "arm64"\n\n[prices]\nmultiplier = 0.9\n'
    )
    config = load_config(tmp_path, environ={})
    assert (config.memory, config.arch, config.prices) == (1769, "arm64", {"multiplier": 0.9})


def test_pyprojects_tool_table_is_edited_and_the_rest_of_the_file_is_untouched(tmp_path: Path) -> None:
    text = (
        '[project]\nname = "app"\nversion = "1"\n\n'
        '[tool.sls-deploy]\ntarget = "local"\nmemory = 2048\n\n'
        "[tool.ruff]\nline-length = 110\n"
    )
    (tmp_path / "pyproject.toml").write_text(text)
    write_settings(tmp_path, {"memory": 256, "arch": "arm64"})
    assert (tmp_path / "pyproject.toml").read_text() == text.replace(
        "memory = 2048\n", 'memory = 256\narch = "arm64"\n'
    )
    assert not (tmp_path / "sls-deploy.toml").exists()


def test_a_pyproject_without_the_table_gets_one_appended(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"')
    write_settings(tmp_path, {"memory": 512})
    assert (tmp_path / "pyproject.toml").read_text() == (
        '[project]\nname = "app"\n\n[tool.sls-deploy]\nmemory = 512\n'
    )
    assert load_config(tmp_path, environ={}).memory == 512


def test_a_project_without_a_config_file_gets_an_sls_deploy_toml(tmp_path: Path) -> None:
    write_settings(tmp_path, {"memory": 128, "arch": "x86_64"})
    assert (tmp_path / "sls-deploy.toml").read_text() == 'memory = 128\narch = "x86_64"\n'


def test_a_layout_the_edit_cannot_handle_is_refused_and_the_file_left_alone(tmp_path: Path) -> None:
    text = 'tool.sls-deploy.memory = 1024\n[project]\nname = "app"\n'  # a dotted key, not a table
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match="could not be edited safely") as info:
        write_settings(tmp_path, {"memory": 512})
    assert "memory = 512" in info.value.hint and (tmp_path / "pyproject.toml").read_text() == text
