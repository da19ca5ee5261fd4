"""Drift on the local target: the example model pushed with its samples, served traffic like the samples and
then shifted traffic, read back from the metric store and with `sls-deploy drift`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.core.config import load_config
from sls_deploy.targets.local.target import LocalTarget

pytestmark = pytest.mark.slow

ROWS = 200  # per request; the function reports every ROWS rows (drift_every), so each request is a window
SHIFTED = [10, 20, 30]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def requests_like(samples: np.ndarray, count: int, shift: bool, seed: int) -> list[bytes]:
    """`count` requests of ROWS rows drawn from the samples with small noise; with `shift`, SHIFTED set to 16."""
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        rows = samples[rng.integers(0, len(samples), ROWS)] + rng.uniform(-0.1, 0.1, (ROWS, samples.shape[1]))
        if shift:
            rows[:, SHIFTED] = 16.0
        bodies.append(json.dumps({"instances": np.round(rows, 3).tolist()}).encode())
    return bodies


def serve(target: LocalTarget, bodies: list[bytes]) -> None:
    for body in bodies:
        result = target.invoke("digits", body)
        assert result.function_error is None and result.error_status is None, result.payload[:300]


def test_traffic_like_the_samples_is_stable_and_shifted_features_are_named_first(
    example_project: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SLS_DEPLOY_DRIFT_EVERY", str(ROWS))
    pushed = run("push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["drift"]["features"] == 64

    quiet = run("drift", "digits")
    assert quiet.exit_code == 0
    assert (
        "no drift windows in the last 1h: the function reports every 200 rows or 60 seconds" in quiet.stdout
    )

    samples = np.load(example_project / "digits-samples.npz")["input"]
    started = time.time()
    with LocalTarget(load_config(example_project)) as target:
        serve(target, requests_like(samples, 2, shift=False, seed=1))
        stable = target.metrics("digits", started)
        assert stable.input_drift_psi is not None and stable.input_drift_psi < 0.1
        report = json.loads(run("drift", "digits", "--json").stdout)
        assert (report["windows"], report["rows"], report["verdict"]) == (2, 2 * ROWS, "stable")

        serve(target, requests_like(samples, 2, shift=True, seed=2))
        shifted = target.metrics("digits", started)
        assert shifted.input_drift_psi is not None and shifted.input_drift_psi > 0.25

    report = json.loads(run("drift", "digits", "--json").stdout)
    assert report["verdict"] == "significant" and report["windows"] == 4 and report["version"] == "1"
    top = {feature["feature"] for feature in report["features"][: len(SHIFTED)]}
    assert top == {f"input[{i}]" for i in SHIFTED}
    assert all(feature["verdict"] == "significant" for feature in report["features"][: len(SHIFTED)])
