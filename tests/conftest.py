"""Fixtures and hooks shared by all test folders: every test runs with fake AWS credentials and region and no
AWS settings of this machine; everything under tests/e2e carries the `e2e` marker."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sls_deploy.core.config import ProjectConfig
from tests.support.aws_helpers import REGION

TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: `-m "not e2e"` must see the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS / "e2e"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No profile, config or credentials file, endpoint or instance role of this machine reaches a test (nor
    the workers and CLIs it starts): fake credentials and the region `REGION` instead."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup on this machine
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def without_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The isolated environment with no credentials at all."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def without_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """The isolated environment with no region at all."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")


@pytest.fixture(scope="session")
def layer_cache_dir() -> Path:
    """Where the slow tests build (and find) runtime layers: $SLS_DEPLOY_CACHE_DIR (the setting the CLI reads
    too; CI sets it per run), else the user's sls-deploy cache. Layers are keyed by recipe hash, so a CI run builds each one once and later tests
    (and later runs with a persisted cache) reuse it."""
    configured = os.environ.get("SLS_DEPLOY_CACHE_DIR")
    path = Path(configured).expanduser() if configured else ProjectConfig(project_dir=Path.cwd()).cache_path
    path.mkdir(parents=True, exist_ok=True)
    return path


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def example_project(tmp_path, monkeypatch, layer_cache_dir) -> Path:
    """An empty project folder (the current directory) holding copies of the example model, samples and
    request, with the session's layer cache as the CLI's cache."""
    for name in ("digits.onnx", "digits-samples.npz", "digits-request.json"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLS_DEPLOY_CACHE_DIR", str(layer_cache_dir))
    return tmp_path
