"""Converters to ONNX: scikit-learn through skl2onnx (plain tensor outputs), PyTorch through torch.onnx.export;
pickles only with trust_pickle."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from sls_deploy.core.errors import ModelError
from sls_deploy.model.convert import convert_to_onnx, needs_conversion
from sls_deploy.model.onnx_model import inspect_model
from sls_inference.loader import session_options


def digits_pipeline():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x[:600], y[:600])
    return model, x[600:700].astype(np.float32)


def run(path: Path, feeds: dict) -> list:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), session_options(None), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_only_pickles_and_torch_files_need_conversion():
    assert (
        needs_conversion(Path("m.pkl"))
        and needs_conversion(Path("m.joblib"))
        and needs_conversion(Path("m.pt"))
    )
    assert not needs_conversion(Path("m.onnx"))


def test_a_pickle_is_not_opened_without_trust(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "loaded"}))
    with pytest.raises(ModelError) as caught:
        convert_to_onnx(path, tmp_path / "out.onnx")
    assert "--trust-pickle" in caught.value.message and "runs code" in caught.value.hint


def test_a_scikit_learn_pipeline_becomes_an_onnx_model_with_tensor_outputs_and_the_same_predictions(tmp_path):
    model, x = digits_pipeline()
    path = tmp_path / "digits.pkl"
    path.write_bytes(pickle.dumps(model))
    onnx_path = convert_to_onnx(path, tmp_path / "digits.onnx", trust_pickle=True)
    info = inspect_model(onnx_path)
    assert [(s.name, s.dtype) for s in info.outputs] == [
        ("label", "int64"),
        ("probabilities", "float32"),
    ]
    label, probabilities = run(onnx_path, {"input": x})
    assert np.mean(label == model.predict(x)) == 1.0
    assert np.allclose(probabilities, model.predict_proba(x), atol=1e-4)


def test_something_else_in_a_pickle_is_refused_by_type(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(ModelError, match="builtins.dict"):
        convert_to_onnx(path, tmp_path / "out.onnx", trust_pickle=True)


def torch_module():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch, torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()


def test_a_torchscript_file_exports_with_a_dynamic_batch_axis(tmp_path):
    torch, module = torch_module()
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.savez(tmp_path / "samples.npz", input=x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript; still read
        torch.jit.trace(module, torch.from_numpy(x[:1])).save(str(tmp_path / "model.pt"))
    onnx_path = convert_to_onnx(
        tmp_path / "model.pt", tmp_path / "model.onnx", sample=tmp_path / "samples.npz"
    )
    info = inspect_model(onnx_path)
    assert info.inputs[0].shape is not None and not isinstance(info.inputs[0].shape[0], int)
    (got,) = run(onnx_path, {"input": x})
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert np.allclose(got, want, atol=1e-5)


def test_a_pickled_torch_module_needs_trust_and_example_inputs(tmp_path):
    torch, module = torch_module()
    torch.save(module, str(tmp_path / "full.pt"))
    with pytest.raises(ModelError, match="--trust-pickle"):
        convert_to_onnx(tmp_path / "full.pt", tmp_path / "out.onnx")
    with pytest.raises(ModelError, match="needs example inputs"):
        convert_to_onnx(tmp_path / "full.pt", tmp_path / "out.onnx", trust_pickle=True)


def test_a_corrupt_pickle_is_a_model_error_that_says_what_the_file_must_be(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelError) as caught:
        convert_to_onnx(path, tmp_path / "out.onnx", trust_pickle=True)
    assert "cannot be unpickled" in caught.value.message
    assert "scikit-learn estimator or a torch module" in caught.value.hint


def _sign_branch_module():
    """A module whose traced export keeps only the branch its tracing rows (the first two) took."""
    torch = pytest.importorskip("torch")

    class Branch(torch.nn.Module):
        def forward(self, x):
            return x * 2.0 if float(x.sum()) > 0 else x * 3.0

    return torch, Branch()


def test_a_torch_export_that_answers_differently_is_refused_and_removed(tmp_path, monkeypatch):
    torch, module = _sign_branch_module()
    x = np.abs(np.random.default_rng(0).standard_normal((6, 4))).astype(np.float32)
    x[2:] -= 20.0  # the two tracing rows sum above 0 (`x * 2` is exported); all six sum below 0 …
    np.savez(tmp_path / "samples.npz", input=x)
    monkeypatch.setattr("sls_deploy.model.convert._load_torch", lambda path, trust: module)
    (tmp_path / "model.pt").write_bytes(b"stands in for the archive")
    with pytest.raises(ModelError, match=r"disagrees with PyTorch on output 'output' \(batch 6\)") as caught:
        convert_to_onnx(tmp_path / "model.pt", tmp_path / "model.onnx", sample=tmp_path / "samples.npz")
    assert "max |difference|" in caught.value.message
    assert not (tmp_path / "model.onnx").exists()  # … where the module answers x * 3


def test_a_scikit_learn_conversion_is_checked_against_predict_and_predict_proba(tmp_path, monkeypatch):
    from sls_deploy.model import convert

    model, x = digits_pipeline()
    checked = []
    real = convert.check_conversion

    def spy(framework, source, converted, samples, row_share=0.0):
        checked.append((framework, sorted(source(dict(samples.arrays))), row_share))
        return real(framework, source, converted, samples, row_share)

    monkeypatch.setattr(convert, "check_conversion", spy)
    with (tmp_path / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    np.savez(tmp_path / "samples.npz", input=x)
    convert_to_onnx(
        tmp_path / "model.pkl", tmp_path / "m.onnx", trust_pickle=True, sample=tmp_path / "samples.npz"
    )
    assert checked == [("scikit-learn", ["label", "probabilities"], convert.SKLEARN_ROW_SHARE)]


def test_label_flips_on_near_ties_are_tolerated_only_up_to_the_row_share():
    from sls_deploy.model.conversion_check import compare_outputs

    want = {"label": np.zeros(200, np.int64)}
    one_flip, five_flips = np.zeros(200, np.int64), np.zeros(200, np.int64)
    one_flip[7], five_flips[:5] = 1, 1
    assert compare_outputs("scikit-learn", want, {"label": one_flip}, row_share=0.01) == {"label": 1.0}
    with pytest.raises(ModelError, match="output 'label'"):
        compare_outputs("scikit-learn", want, {"label": five_flips}, row_share=0.01)
    with pytest.raises(ModelError, match="no output 'label'"):
        compare_outputs("PyTorch", want, {"output": one_flip})
