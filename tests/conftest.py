"""Fixtures shared by all test folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sls_deploy.core.config import ProjectConfig


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
