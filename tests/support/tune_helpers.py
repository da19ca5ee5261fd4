"""Helpers for the tuning and CPU-share tests: a function doing a fixed amount of CPU work, deployed on the
local target of a small project."""

from __future__ import annotations

import json
from pathlib import Path

from sls_deploy.core.config import ProjectConfig
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import code_zip, function_build, python312_or_skip, worker_runtime_dir

# A fixed amount of pure-Python work per invocation (~20 ms on one full core).
SPIN = """
import os

def handler(event, context):
    total = 0
    for i in range(event.get("loops", 200000)):
        total += i
    return {"total": total, "memory": context.memory_limit_in_mb, "pid": os.getpid()}
"""
REQUEST = json.dumps({"loops": 200_000}).encode()


def spin_project(root: Path, cache_dir: Path) -> ProjectConfig:
    """A project with the function `spin` (1024 MB, 30 s) deployed on the local target."""
    python = python312_or_skip()
    worker_runtime_dir(python, cache_dir)
    config = ProjectConfig(project_dir=root, project="tune", cache_dir=str(cache_dir), python=str(python))
    with LocalTarget(config) as target:
        target.deploy(function_build("spin", code_zip(root / "code", SPIN), timeout=30, memory=1024))
    return config
