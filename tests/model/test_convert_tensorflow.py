"""TensorFlow models to ONNX through tf2onnx: a Keras file and a SavedModel folder keep their input and output
names and a symbolic batch axis, onnxruntime answers as TensorFlow does, and what cannot be converted (no
extra installed, a Lambda layer without trust, outputs that disagree) is a ModelError that says so."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.core.errors import ModelError, SampleError
from sls_deploy.model.convert import convert_to_onnx, needs_conversion
from sls_deploy.model.onnx_model import inspect_model
from sls_inference.loader import session_options

TOLERANCE = 1e-4

pytestmark = pytest.mark.filterwarnings(
    # TensorFlow 2.21's variables and eager tensors define __array__(dtype) without numpy 2's copy keyword;
    # numpy warns each time Keras turns one into an array (saving weights, model(x) results).
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def import_keras():
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    import keras

    keras.utils.set_random_seed(0)
    return keras


def dense_classifier(keras):
    """Two Dense layers on 8 features, trained for a few epochs on a rule of the features."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    features = keras.Input(shape=(8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(features)
    probabilities = keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden)
    model = keras.Model(features, probabilities)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return model, x


def conv_classifier(keras):
    """A Conv2D + pooling + Dense model on 12x12 one-channel images (NHWC, as Keras takes them)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((128, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(np.int64)
    image = keras.Input(shape=(12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(image)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    scores = keras.layers.Dense(2, activation="softmax", name="scores")(h)
    model = keras.Model(image, scores)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model, x


def save_both(model, folder: Path) -> tuple[Path, Path]:
    """The model as a .keras file and as a SavedModel folder (Keras's model.export)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    model.export(str(folder / "saved"), verbose=False)
    return folder / "model.keras", folder / "saved"


def run_onnx(path: Path, feeds: dict) -> list:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), session_options(None), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def max_difference_at_batches(onnx_path: Path, model, x: np.ndarray, input_name: str) -> float:
    """Largest |onnxruntime - Keras| over batches of 1 and 7 rows."""
    worst = 0.0
    for rows in (1, 7):
        (got,) = run_onnx(onnx_path, {input_name: x[:rows]})
        want = np.asarray(model(x[:rows], training=False))
        assert got.shape == want.shape == (rows, want.shape[1])
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def test_keras_files_and_saved_model_folders_need_conversion(tmp_path):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "other").mkdir()
    assert needs_conversion(tmp_path / "m.keras") and needs_conversion(tmp_path / "m.h5")
    assert needs_conversion(tmp_path / "saved")
    assert not needs_conversion(tmp_path / "other")


def test_without_the_tensorflow_extra_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` raises ImportError
    path = tmp_path / "model.keras"
    path.write_bytes(b"PK")
    with pytest.raises(ModelError) as caught:
        convert_to_onnx(path, tmp_path / "model.onnx")
    assert "needs tensorflow and tf2onnx" in caught.value.message
    assert "pip install 'sls-deploy[tensorflow]'" in caught.value.hint


def test_a_missing_keras_file_says_it_does_not_exist(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        convert_to_onnx(tmp_path / "nope.keras", tmp_path / "model.onnx")


def test_a_folder_that_is_neither_a_saved_model_nor_a_compressed_model_is_refused_with_both_kinds(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "notes.txt").write_text("not a model")
    result = CliRunner().invoke(main, ["build", "weights"], catch_exceptions=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "not a compressed model" in result.output and "saved_model.pb" in result.output


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    keras = import_keras()
    model, x = dense_classifier(keras)
    keras_file, saved = save_both(model, tmp_path_factory.mktemp("dense"))
    return model, x, keras_file, saved


def test_a_keras_dense_classifier_converts_with_its_names_and_a_symbolic_batch(dense, tmp_path):
    model, x, keras_file, _ = dense
    onnx_path = convert_to_onnx(keras_file, tmp_path / "model.onnx")
    info = inspect_model(onnx_path)
    assert [(s.name, s.shape) for s in info.inputs] == [("features", ("batch", 8))]
    assert [(s.name, s.shape) for s in info.outputs] == [("probabilities", ("batch", 3))]
    assert info.producer.startswith("tf2onnx")
    assert max_difference_at_batches(onnx_path, model, x, "features") < TOLERANCE


def test_a_saved_model_folder_converts_with_its_signature_names(dense, tmp_path):
    model, x, _, saved = dense
    onnx_path = convert_to_onnx(saved, tmp_path / "model.onnx")
    info = inspect_model(onnx_path)
    # Keras's model.export names the signature's outputs output_0, output_1, ...
    assert [(s.name, s.shape) for s in info.inputs] == [("features", ("batch", 8))]
    assert [(s.name, s.shape) for s in info.outputs] == [("output_0", ("batch", 3))]
    assert max_difference_at_batches(onnx_path, model, x, "features") < TOLERANCE


def test_a_legacy_h5_file_converts_too(dense, tmp_path):
    model, x, _, _ = dense
    model.save(tmp_path / "model.h5")  # Keras logs that .h5 is a legacy format; it still loads it
    onnx_path = convert_to_onnx(tmp_path / "model.h5", tmp_path / "model.onnx")
    assert max_difference_at_batches(onnx_path, model, x, "features") < TOLERANCE


def test_the_conversion_is_checked_on_the_given_samples(dense, tmp_path):
    _, x, keras_file, _ = dense
    np.savez(tmp_path / "samples.npz", features=x[:4, :5])
    with pytest.raises(SampleError, match=r"has shape \[4, 5\], the model expects"):
        convert_to_onnx(keras_file, tmp_path / "model.onnx", sample=tmp_path / "samples.npz")
    assert not (tmp_path / "model.onnx").exists()
    np.savez(tmp_path / "samples.npz", features=x[:16])
    assert convert_to_onnx(keras_file, tmp_path / "model.onnx", sample=tmp_path / "samples.npz").is_file()


def test_outputs_that_disagree_with_tensorflow_are_refused_with_the_largest_difference(dense, tmp_path):
    import tensorflow as tf

    from sls_deploy.model.convert_tensorflow import compare, trace_keras

    _, x, keras_file, _ = dense
    traced = trace_keras(tf, keras_file, trust_pickle=False)
    want = traced.function(tf.constant(x[:4]))["probabilities"].numpy()

    def off_by_a_little(feeds):
        return {"probabilities": want + 0.01}

    with pytest.raises(ModelError, match=r"output 'probabilities' .* max \|difference\| 0\.01"):
        compare(tf, traced, off_by_a_little, {"features": x[:4]})


def test_a_lambda_layer_is_only_loaded_with_trust(tmp_path):
    keras = import_keras()
    features = keras.Input(shape=(4,), name="features")
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(features)
    keras.Model(features, doubled).save(tmp_path / "lambda.keras")
    with pytest.raises(ModelError) as caught:
        convert_to_onnx(tmp_path / "lambda.keras", tmp_path / "model.onnx")
    assert "Lambda layer" in caught.value.message and "--trust-pickle" in caught.value.hint
    onnx_path = convert_to_onnx(tmp_path / "lambda.keras", tmp_path / "model.onnx", trust_pickle=True)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    (got,) = run_onnx(onnx_path, {"features": x})
    assert np.array_equal(got, x * 2.0)


def test_a_model_with_two_inputs_and_two_outputs_keeps_every_name(tmp_path):
    keras = import_keras()
    age = keras.Input(shape=(1,), name="age")
    visits = keras.Input(shape=(3,), name="visits")
    joined = keras.layers.Concatenate()([age, visits])
    risk = keras.layers.Dense(1, activation="sigmoid", name="risk")(joined)
    segment = keras.layers.Dense(4, activation="softmax", name="segment")(joined)
    keras.Model([age, visits], [risk, segment]).save(tmp_path / "two.keras")
    info = inspect_model(convert_to_onnx(tmp_path / "two.keras", tmp_path / "two.onnx"))
    assert [(s.name, s.shape) for s in info.inputs] == [("age", ("batch", 1)), ("visits", ("batch", 3))]
    assert [(s.name, s.shape) for s in info.outputs] == [("risk", ("batch", 1)), ("segment", ("batch", 4))]


def test_a_small_conv2d_model_converts_in_both_formats(tmp_path):
    keras = import_keras()
    model, x = conv_classifier(keras)
    keras_file, saved = save_both(model, tmp_path)
    for source in (keras_file, saved):
        onnx_path = convert_to_onnx(source, tmp_path / f"{source.stem}.onnx")
        info = inspect_model(onnx_path)
        assert [(s.name, s.shape) for s in info.inputs] == [("image", ("batch", 12, 12, 1))]
        assert max_difference_at_batches(onnx_path, model, x, "image") < TOLERANCE


def test_compress_takes_a_keras_file_and_a_saved_model_folder(dense, example_project):
    _, x, keras_file, saved = dense
    np.savez(example_project / "rows.npz", features=x[:64])
    for source, out in ((keras_file, "from-keras"), (saved, "from-saved-model")):
        result = CliRunner().invoke(
            main,
            [
                "compress",
                str(source),
                "-s",
                "rows.npz",
                "-o",
                out,
                "--name",
                "dense",
                "--compress",
                "fp16",
                "--force",
                "--json",
            ],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["compression"]["method"] == "fp16"
        assert [i["name"] for i in report["model"]["inputs"]] == ["features"]
        assert (example_project / out / "model.onnx").is_file()


@pytest.mark.slow
def test_push_deploys_a_keras_file_and_the_function_answers_as_keras_does(dense, example_project):
    model, x, keras_file, _ = dense
    np.savez(example_project / "rows.npz", features=x[:64])
    pushed = CliRunner().invoke(
        main, ["push", str(keras_file), "--name", "dense", "-s", "rows.npz", "--json"], catch_exceptions=False
    )
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["version"] == "1"
    rows = x[100:105]
    request = json.dumps({"instances": rows.tolist()})
    answered = CliRunner().invoke(
        main, ["invoke", "dense", "--data", request, "--json"], catch_exceptions=False
    )
    assert answered.exit_code == 0, answered.output
    predictions = json.loads(answered.stdout)["payload"]["predictions"]
    got = np.array([p["probabilities"] if isinstance(p, dict) else p for p in predictions], np.float32)
    assert np.abs(got - np.asarray(model(rows, training=False))).max() < TOLERANCE
