"""prune:S on a model that came from PyTorch fine-tunes the pruned model with the mask held, distilling from the
original on the calibration rows, and the gate judges the result on validation rows it never trained on; an
ONNX-only model is pruned as before, with a note that recovery needs the source."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.compress import CompressionPolicy
from sls_deploy.core.errors import ConfigError
from sls_deploy.model import graphs
from sls_deploy.model.convert import TorchSource, convert_to_onnx
from sls_deploy.model.onnx_model import inspect_model
from sls_deploy.model.samples import load_samples
from sls_deploy.pipeline.intake import model_intake
from tests.support.compress_models import compress_file

torch = pytest.importorskip("torch")

CLASSES, FEATURES, HIDDEN = 10, 16, 64  # 16×64 and 64×64 weights are pruned; the 64×10 one is too small


def _blobs(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten overlapping Gaussian classes: many rows lie near a boundary, so pruning alone flips them."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLASSES, FEATURES)) * 0.7
    labels = rng.integers(0, CLASSES, rows)
    return (centres[labels] + rng.standard_normal((rows, FEATURES)) * 0.7).astype(np.float32), labels


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An MLP classifier (logits) trained on synthetic data, saved with torch.save, and 1,000 rows it was not
    trained on as samples."""
    folder = tmp_path_factory.mktemp("classifier")
    x, y = _blobs(2400)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES),
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    features, labels = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(features), labels).backward()
        optimizer.step()
    torch.save(module.eval(), str(folder / "mlp.pt"))
    np.savez(folder / "samples.npz", input=x[1400:])
    return folder / "mlp.pt", folder / "samples.npz"


def _compress(
    onnx_path: Path,
    samples: Path,
    work: Path,
    source: TorchSource | None,
    steps: int,
    spec: str = "prune:0.7",
):
    policy = CompressionPolicy(spec, metric="top1", force=True, max_slowdown=100.0, finetune_steps=steps)
    rows = load_samples(samples, inspect_model(onnx_path).inputs)
    return compress_file(onnx_path, rows, policy, work, source=source)


def _candidate(result, label: str = "prune:0.7"):
    return next(c for c in result.report.candidates if c.method == label)


def _converted(model: Path, samples: Path, tmp_path: Path, trust: bool = True) -> Path:
    return convert_to_onnx(model, tmp_path / "converted.onnx", trust_pickle=trust, sample=samples)


def _assert_mask_held(path: Path, fraction: float) -> int:
    """Every weight prune:`fraction` prunes has at least round(fraction·size) exact zeros; how many there are."""
    model = onnx.load(str(path))
    weights = graphs.weight_initializers(model.graph)
    for weight in weights:
        values = graphs.to_array(weight)
        assert np.count_nonzero(values == 0) >= round(fraction * values.size), weight.name
    return len(weights)


def test_recovery_raises_agreement_on_the_validation_rows_well_above_pruning_alone(classifier, tmp_path):
    model, samples = classifier
    converted = _converted(model, samples, tmp_path)
    source = TorchSource(model, trust_pickle=True)
    pruned = _candidate(_compress(converted, samples, tmp_path / "pruned", source, steps=0))
    recovered_result = _compress(converted, samples, tmp_path / "recovered", source, steps=200)
    recovered = _candidate(recovered_result)
    assert pruned.agreement.rows == recovered.agreement.rows == 300  # the validation rows of the split
    assert pruned.agreement.value < 0.9, "pruning alone should clearly hurt in this setup"
    assert recovered.agreement.value >= pruned.agreement.value + 0.1
    assert recovered.agreement.value >= 0.93
    notes = " | ".join(recovered.notes)
    before, after = map(
        float, re.search(r"300 validation rows.*?: ([0-9.]+) pruned, ([0-9.]+) pruned and", notes).groups()
    )
    assert before == pytest.approx(pruned.agreement.value, abs=1e-4)  # the same mask, the same rows
    assert after == pytest.approx(recovered.agreement.value, abs=1e-4)
    assert "200 fine-tuning steps in" in notes and "on 560 calibration rows" in notes
    assert "140 more calibration rows held back from training" in notes  # the 700 the split left to calibrate
    assert "shrinks the zipped layer only" in notes
    assert any("--finetune-steps 0" in n for n in pruned.notes)
    assert _assert_mask_held(recovered_result.path, 0.7) == 2


def test_an_onnx_only_model_is_pruned_as_before_and_the_note_says_recovery_needs_the_source(
    classifier, tmp_path
):
    model, samples = classifier
    converted = _converted(model, samples, tmp_path)
    without = _candidate(_compress(converted, samples, tmp_path / "onnx", None, steps=200))
    with_zero_steps = _candidate(
        _compress(converted, samples, tmp_path / "zero", TorchSource(model, True), steps=0)
    )
    assert without.agreement.value == with_zero_steps.agreement.value
    note = next(n for n in without.notes if n.startswith("no recovery"))
    assert "needs its PyTorch source" in note and ".pt" in note
    assert not any("fine-tuning steps in" in n for n in without.notes)


def test_a_torchscript_cnn_is_fine_tuned_too_and_its_exported_weights_keep_the_mask(tmp_path):
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),  # 144 weights: too small to prune
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 8 * 8, 4),
    )
    images = np.random.default_rng(1).standard_normal((600, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():  # batch-norm statistics that are not the identity
        cnn.train()(torch.from_numpy(images))
    cnn.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; still read
        torch.jit.trace(cnn, torch.from_numpy(images[:1])).save(str(tmp_path / "cnn.pt"))
    np.savez(tmp_path / "images.npz", input=images)
    converted = _converted(tmp_path / "cnn.pt", tmp_path / "images.npz", tmp_path, trust=False)
    source = TorchSource(tmp_path / "cnn.pt", trust_pickle=False)  # TorchScript: no pickle to trust
    result = _compress(converted, tmp_path / "images.npz", tmp_path / "work", source, 60, "prune:0.6")
    candidate = _candidate(result, "prune:0.6")
    assert candidate.verdict != "failed", candidate.reason
    notes = " | ".join(candidate.notes)
    before, after = map(
        float, re.search(r": ([0-9.]+) pruned, ([0-9.]+) pruned and recovered", notes).groups()
    )
    assert after >= before and "60 fine-tuning steps" in notes
    assert _assert_mask_held(result.path, 0.6) == 2  # the second conv (batch norm folded in) and the linear


def test_a_converted_torch_model_keeps_its_source_for_recovery_and_an_onnx_file_has_none(
    classifier, tmp_path
):
    model, samples = classifier
    intake = model_intake(model, "mlp", samples, tmp_path, True, lambda _: None)
    assert intake.source == TorchSource(model, trust_pickle=True)
    again = model_intake(intake.info.path, "mlp", samples, tmp_path / "again", False, lambda _: None)
    assert again.source is None


def test_a_negative_step_count_is_a_config_error():
    with pytest.raises(ConfigError, match="finetune-steps"):
        CompressionPolicy("prune:0.5", finetune_steps=-1)


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_finetune_steps_reaches_the_recovery_from_the_command_line(example_project, classifier):
    model, samples = classifier
    common = ("--trust-pickle", "-s", str(samples), "--compress", "prune:0.7", "--metric", "top1", "--force")
    result = _cli("compress", str(model), "-o", "out", *common, "--finetune-steps", "30", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["method"]: row for row in json.loads(result.stdout)["compression"]["report"]}
    assert any(n.startswith("recovery: 30 fine-tuning steps") for n in rows["prune:0.7"]["notes"])
    result = _cli("compress", str(model), "-o", "out0", *common, "--finetune-steps", "0", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["method"]: row for row in json.loads(result.stdout)["compression"]["report"]}
    assert any("--finetune-steps 0" in n for n in rows["prune:0.7"]["notes"])
    refused = _cli("compress", str(model), "-o", "bad", *common, "--finetune-steps", "-1")
    assert refused.exit_code == 2 and "finetune-steps" in refused.output
