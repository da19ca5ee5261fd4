"""Sample inputs are read from .npz/.npy/.json and checked against the signature, or generated from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sls_deploy.core.errors import SampleError
from sls_deploy.model.samples import generate_samples, load_samples
from sls_inference.signature import TensorSpec

IMAGE = (TensorSpec("input", "float32", (None, 64)),)
TWO = (TensorSpec("ids", "int64", ("batch", "seq")), TensorSpec("mask", "bool", ("batch", "seq")))


def test_an_npz_with_the_input_names_is_read_as_is(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, input=np.ones((3, 64), np.float32))
    samples = load_samples(path, IMAGE)
    assert samples.rows == 3 and samples.arrays["input"].dtype == np.float32


def test_a_single_array_feeds_a_single_input_model_whatever_its_key(tmp_path):
    path = tmp_path / "s.npy"
    np.save(path, np.ones((2, 64), np.float64))
    samples = load_samples(path, IMAGE)
    assert samples.arrays["input"].dtype == np.float32  # safe widening/narrowing between float types


def test_a_json_request_is_decoded_like_the_handler_decodes_it(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"instances": [[0] * 64, [1] * 64]}))
    assert load_samples(path, IMAGE).arrays["input"].shape == (2, 64)


def test_names_that_do_not_match_the_inputs_are_listed(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, ids=np.ones((2, 4), np.int64), attention=np.ones((2, 4), bool))
    with pytest.raises(SampleError, match="attention"):
        load_samples(path, TWO)


def test_a_wrong_shape_names_the_expected_one(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, input=np.ones((3, 63), np.float32))
    with pytest.raises(SampleError, match=r"\[\?, 64\]"):
        load_samples(path, IMAGE)


def test_floats_are_not_silently_truncated_into_an_integer_input(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, ids=np.full((2, 4), 1.5), mask=np.ones((2, 4), bool))
    with pytest.raises(SampleError, match="int64"):
        load_samples(path, TWO)


def test_an_unknown_format_is_refused_with_the_formats_that_work(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(SampleError) as err:
        load_samples(path, IMAGE)
    assert ".npz" in err.value.hint


def test_generated_samples_follow_the_signature_with_symbolic_dims():
    samples = generate_samples(TWO, rows=5)
    assert samples.generated and samples.rows == 5
    assert samples.arrays["ids"].shape == (5, 1) and samples.arrays["ids"].dtype == np.int64
    assert samples.arrays["mask"].dtype == np.bool_
