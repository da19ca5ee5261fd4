"""Configuration resolves as flag > SLS_DEPLOY_* environment > config file > default."""

from __future__ import annotations

import pytest

from sls_deploy.core.config import ProjectConfig, load_config
from sls_deploy.core.errors import ConfigError
from sls_deploy.template.monitoring import CanarySpec


def test_defaults_apply_without_any_configuration(tmp_path):
    config = load_config(tmp_path, environ={})
    assert (config.target, config.arch, config.runtime, config.memory) == (
        "local",
        "x86_64",
        "python3.12",
        1024,
    )
    assert config.public is False
    assert config.state_path == tmp_path / ".sls-deploy"


def test_pyproject_table_overrides_defaults(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.sls-deploy]\nmemory = 2048\narch = "arm64"\n')
    config = load_config(tmp_path, environ={})
    assert (config.memory, config.arch) == (2048, "arm64")


def test_sls_deploy_toml_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.sls-deploy]\nmemory = 2048\n")
    (tmp_path / "sls-deploy.toml").write_text("memory = 512\n")
    assert load_config(tmp_path, environ={}).memory == 512


def test_environment_overrides_the_file_and_flags_override_the_environment(tmp_path):
    (tmp_path / "sls-deploy.toml").write_text("memory = 512\ntimeout = 10\n")
    env = {"SLS_DEPLOY_MEMORY": "3008", "SLS_DEPLOY_TIMEOUT": "20", "SLS_DEPLOY_PUBLIC": "yes"}
    config = load_config(tmp_path, overrides={"memory": 4096, "timeout": None}, environ=env)
    assert (config.memory, config.timeout, config.public) == (4096, 20, True)


def test_an_unknown_setting_in_the_file_is_named(tmp_path):
    (tmp_path / "sls-deploy.toml").write_text("memroy = 512\n")
    with pytest.raises(ConfigError, match="memroy"):
        load_config(tmp_path, environ={})


def test_a_value_of_the_wrong_type_names_its_source(tmp_path):
    with pytest.raises(ConfigError, match="SLS_DEPLOY_MEMORY"):
        load_config(tmp_path, environ={"SLS_DEPLOY_MEMORY": "lots"})


@pytest.mark.parametrize(
    ("key", "value"),
    [("memory", 64), ("timeout", 901), ("arch", "sparc"), ("runtime", "python3.9"), ("target", "gcp")],
)
def test_values_outside_lambdas_range_are_refused_with_a_hint(tmp_path, key, value):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, overrides={key: value}, environ={})
    assert err.value.hint


def test_snapstart_and_provisioned_concurrency_together_are_refused_as_lambda_does():
    with pytest.raises(ConfigError, match="snapstart") as info:
        ProjectConfig(snapstart=True, provisioned=2).validated()
    assert "--provisioned" in info.value.hint


def test_a_canary_mode_other_than_canary_or_linear_is_refused():
    with pytest.raises(ConfigError, match="canary_mode"):
        ProjectConfig(canary_mode="blue-green").validated()


def test_a_canary_on_aws_must_be_a_whole_percentage_codedeploy_can_shift():
    from sls_deploy.pipeline import canary_spec

    assert canary_spec(ProjectConfig(target="aws", canary_minutes=10), 10.0) == CanarySpec(10, 10, "canary")
    assert canary_spec(ProjectConfig(), 2.5) == CanarySpec(2, 5, "canary")  # local splits 2.5 %; template 2 %
    with pytest.raises(ConfigError, match="whole percentage"):
        canary_spec(ProjectConfig(target="aws"), 2.5)
