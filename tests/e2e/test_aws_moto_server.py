"""The installed `sls-deploy` CLI against an AWS emulator: moto's server in this process (through
AWS_ENDPOINT_URL, with fake credentials), its CloudFormation taught the SAM transform and Lambda aliases
(tests/support/aws_emulator.py). push → dry run → push again (no changes) → list → versions → rollback → remove."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.support.aws_emulator import cloudformation_with_sam

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("sls-deploy")
REGION = "eu-west-1"


@pytest.fixture
def endpoint():
    with cloudformation_with_sam():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def cli(example_project, endpoint, layer_cache_dir):
    """Runs the installed CLI in the example project, against the emulator; returns (exit code, stdout, stderr)."""
    (example_project / "sls-deploy.toml").write_text(f'target = "aws"\nregion = "{REGION}"\n')
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "SLS_DEPLOY_CACHE_DIR": str(layer_cache_dir)}

    def run(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [str(CLI), *args], cwd=example_project, env=env, capture_output=True, text=True, timeout=300
        )
        return done.returncode, done.stdout, done.stderr

    return run


def test_push_repush_versions_rollback_and_remove_through_the_installed_cli(cli):
    assert CLI.is_file(), f"sls-deploy is not installed next to {sys.executable}"
    push = ("push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--json")

    code, out, err = cli(*push)
    assert code == 0, err
    first = json.loads(out)
    assert (first["target"], first["version"], first["changed"]) == ("aws", "1", True)
    assert first["function_id"].startswith(f"arn:aws:lambda:{REGION}:123456789012:function:")
    assert first["function_id"].endswith("-digits")
    assert first["endpoint"].startswith("https://")

    code, out, err = cli(*push, "--dry-run")
    assert code == 0, err
    planned = json.loads(out)
    assert planned["dry_run"] is True and planned["deployment"] is None
    assert planned["plan"]["changes"] == [] and planned["plan"]["uploads"] == []

    code, out, err = cli(*push)
    assert code == 0, err
    again = json.loads(out)
    assert (again["version"], again["changed"]) == ("1", False)

    code, out, err = cli("list", "--json")
    assert code == 0, err
    assert [(d["name"], d["version"], d["target"]) for d in json.loads(out)] == [("digits", "1", "aws")]

    code, out, err = cli("versions", "digits", "--json")
    assert code == 0, err
    versions = json.loads(out)
    assert [(v["version"], v["aliases"]) for v in versions["versions"]] == [("1", ["live"])]
    assert versions["versions"][0]["model_sha256"] == first["model"]["sha256"]

    code, out, err = cli("rollback", "digits", "--json")
    assert code == 1 and "no version before 1" in err and "Traceback" not in err

    code, out, err = cli("rollback", "digits", "--to", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["after"]["version"] == "1"

    code, out, err = cli("remove", "digits", "--purge", "--json")
    assert code == 0, err
    removed = json.loads(out)
    assert (removed["target"], removed["versions"]) == ("aws", ["1"])
    assert len(removed["purged"]) == 3  # runtime layer, model layer, function code

    code, out, err = cli("list", "--json")
    assert (code, json.loads(out)) == (0, [])
