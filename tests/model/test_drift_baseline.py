"""The push-time drift baseline: features of narrow and wide inputs, bin edges, the watched prediction, and the
model layer that carries it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sls_deploy.model.baseline import DriftBaseline, compute_baseline, quantile_edges
from sls_deploy.model.folder import write_drift_baseline, write_model_dir, zip_model_layer
from sls_deploy.model.samples import Samples
from sls_inference.drift import BASELINE_NAME, Bins, DriftMonitor, encode_baseline
from sls_inference.signature import TensorSpec
from tests.support.drift_support import DIGITS, DIGITS_SAMPLES, digits_model_dir


def samples(generated: bool = False, **arrays: np.ndarray) -> Samples:
    rows = min(a.shape[0] for a in arrays.values())
    return Samples(arrays=arrays, source="generated" if generated else "/data/s.npz", rows=rows)


def spec(name: str, dtype: str, *shape) -> TensorSpec:
    return TensorSpec(name, dtype, tuple(shape))


RNG = np.random.default_rng(7)
FLOAT_X = RNG.normal(size=(200, 4)).astype(np.float32)
REGRESSION = {"y": FLOAT_X.sum(axis=1, keepdims=True)}
REGRESSION_OUTPUTS = (spec("y", "float32", "n", 1),)


def baseline_of(inputs, arrays, outputs=REGRESSION_OUTPUTS, predictions=None, **kw):
    """The baseline of `arrays` for a model with `outputs` (default: a regressor's y)."""
    return compute_baseline(
        samples(**arrays, **kw), inputs, outputs, REGRESSION if predictions is None else predictions
    )


# ---------------------------------------------------------------------------------------------- inputs


def test_a_narrow_model_gets_one_feature_per_element_with_the_samples_counts():
    document = compute_baseline(samples(input=DIGITS_SAMPLES), (spec("input", "float32", None, 64),), (), {})
    features = document["features"]
    assert [f["name"] for f in features][:3] == ["input[0]", "input[1]", "input[2]"] and len(features) == 64
    assert all(sum(f["counts"]) == 64 and len(f["counts"]) == len(f["edges"]) + 1 for f in features)
    assert all(f["edges"] == sorted(set(f["edges"])) for f in features)
    assert document["inputs"] == [{"name": "input", "kind": "values", "width": 64}]


def test_a_continuous_feature_gets_ten_bins_of_about_a_tenth_each():
    edges = quantile_edges(RNG.normal(size=1000))
    assert len(edges) == 9
    counts = Bins([edges]).counts(RNG.normal(size=(1000, 1)))[0]
    assert counts.min() > 50 and counts.max() < 150


def test_a_constant_feature_gets_a_bin_below_around_and_above_its_value():
    document = compute_baseline(samples(input=DIGITS_SAMPLES), (spec("input", "float32", None, 64),), (), {})
    first = document["features"][0]  # pixel 0 is blank in every sample
    assert first["edges"] == [-0.5, 0.5] and first["counts"] == [0, 64, 0]


def test_no_sample_value_sits_on_an_edge_so_small_noise_keeps_every_row_in_its_bin():
    document = compute_baseline(samples(input=DIGITS_SAMPLES), (spec("input", "float32", None, 64),), (), {})
    bins = Bins([f["edges"] for f in document["features"]])
    values = DIGITS_SAMPLES.astype(np.float64)
    assert not (values[:, :, None] == bins.edges[None, :, :]).any()  # per feature
    noisy = values + np.random.default_rng(1).uniform(-0.3, 0.3, values.shape)
    assert np.array_equal(bins.index(noisy), bins.index(values))


def test_wide_inputs_get_per_row_summaries_and_integer_ids_their_length():
    pixels = RNG.uniform(size=(16, 3, 32, 32)).astype(np.float32)
    ids = np.where(RNG.uniform(size=(16, 12)) < 0.3, 0, RNG.integers(1, 1000, (16, 12)))
    document = baseline_of(
        (spec("pixels", "float32", "n", 3, 32, 32), spec("ids", "int64", "n", 12)),
        {"pixels": pixels, "ids": ids},
    )
    names = [f["name"] for f in document["features"]]
    assert names[:5] == ["pixels.mean", "pixels.std", "pixels.min", "pixels.max", "pixels.zeros"]
    assert names[5:] == ["ids.mean", "ids.std", "ids.min", "ids.max", "ids.zeros", "ids.length"]
    length = document["features"][-1]
    lengths = np.count_nonzero(ids, axis=1)
    assert np.array_equal(Bins([length["edges"]]).counts(lengths[:, None].astype(float))[0], length["counts"])


def test_an_input_whose_row_length_varies_is_summarised_even_when_small():
    ids = RNG.integers(1, 50, (20, 6))
    document = baseline_of((spec("ids", "int64", "batch", "sequence"),), {"ids": ids})
    assert document["inputs"][0]["kind"] == "summary"


def test_string_and_bool_inputs_are_skipped_and_listed():
    document = baseline_of(
        (spec("x", "float32", "n", 4), spec("text", "string", "n"), spec("flag", "bool", "n")),
        {"x": FLOAT_X, "text": np.array(["a"] * 200, dtype=object), "flag": np.ones(200, dtype=bool)},
    )
    assert [f["name"] for f in document["features"]] == ["x[0]", "x[1]", "x[2]", "x[3]"]
    assert {s["input"] for s in document["skipped"]} == {"text", "flag"}


# ---------------------------------------------------------------------------------------------- predictions


def test_a_probability_output_is_watched_as_a_histogram_of_argmax_classes():
    document = compute_baseline(
        samples(input=DIGITS_SAMPLES),
        (spec("input", "float32", None, 64),),
        (spec("label", "int64", None), spec("probabilities", "float32", None, 10)),
        {"label": np.arange(64) % 10, "probabilities": np.eye(10, dtype=np.float32)[np.arange(64) % 3]},
    )
    prediction = document["prediction"]
    assert prediction["output"] == "probabilities" and prediction["kind"] == "classes"
    assert prediction["counts"] == [22, 21, 21, 0, 0, 0, 0, 0, 0, 0]


def test_class_scores_are_recognised_by_their_name():
    logits = RNG.normal(size=(200, 5)).astype(np.float32) * 4
    document = baseline_of(
        (spec("x", "float32", "n", 4),),
        {"x": FLOAT_X},
        outputs=(spec("embedding", "float32", "n", 5), spec("logits", "float32", "n", 5)),
        predictions={"embedding": logits, "logits": logits},
    )
    assert (document["prediction"]["output"], document["prediction"]["kind"]) == ("logits", "classes")


def test_an_integer_label_output_is_watched_by_label_with_a_bin_for_new_labels():
    labels = np.array([3, 7, 7, 11] * 50)
    document = baseline_of(
        (spec("x", "float32", "n", 4),),
        {"x": FLOAT_X},
        outputs=(spec("label", "int64", "n"),),
        predictions={"label": labels},
    )
    prediction = document["prediction"]
    assert prediction["kind"] == "labels" and prediction["labels"] == [3, 7, 11]
    assert prediction["counts"] == [50, 100, 50, 0]


def test_a_regressor_or_embedding_is_watched_by_the_mean_of_each_output_row():
    regression = baseline_of((spec("x", "float32", "n", 4),), {"x": FLOAT_X})["prediction"]
    assert regression["kind"] == "mean" and len(regression["edges"]) == 9
    embedding = baseline_of(
        (spec("x", "float32", "n", 4),),
        {"x": FLOAT_X},
        outputs=(spec("vector", "float32", "n", 8),),
        predictions={"vector": RNG.normal(size=(200, 8)).astype(np.float32)},
    )["prediction"]
    assert (embedding["output"], embedding["kind"]) == ("vector", "mean")


# ---------------------------------------------------------------------------------------------- document


def test_the_same_samples_give_the_same_bytes():
    first = encode_baseline(baseline_of((spec("x", "float32", "n", 4),), {"x": FLOAT_X}))
    second = encode_baseline(baseline_of((spec("x", "float32", "n", 4),), {"x": FLOAT_X.copy()}))
    assert first == second


def test_a_baseline_of_generated_samples_says_so():
    document = baseline_of((spec("x", "float32", "n", 4),), {"x": FLOAT_X}, generated=True)
    assert document["generated"] is True and document["samples"] == "generated"
    assert any("generated" in note for note in document["notes"])


def test_the_model_layer_carries_the_baseline_and_model_json_names_it(tmp_path):
    layer = digits_model_dir(tmp_path, every=250, seconds=30)
    manifest = json.loads((layer / "model.json").read_text())
    assert manifest["drift"] == {"baseline": BASELINE_NAME, "every": 250, "seconds": 30}
    monitor = DriftMonitor.from_model_dir(layer, manifest)
    assert monitor is not None and monitor.every == 250 and len(monitor.names) == 64


def test_the_same_model_and_samples_build_the_same_model_layer_zip(tmp_path):
    document = compute_baseline(samples(input=DIGITS_SAMPLES), (spec("input", "float32", None, 64),), (), {})
    baseline = DriftBaseline(document, 100, 60)
    shas = []
    for run in ("a", "b"):
        layer = write_model_dir(
            DIGITS, tmp_path / run / "model", "digits", inputs=(), outputs=(), opset={"": 17}
        )
        write_drift_baseline(layer, baseline.data, baseline.manifest_entry())
        shas.append(zip_model_layer(layer, tmp_path / run, "digits").sha256)
    assert shas[0] == shas[1]


@pytest.mark.parametrize("values", [np.zeros(0), np.array([np.nan, np.inf])])
def test_a_feature_without_finite_values_gets_one_bin(values):
    assert quantile_edges(values) == []
