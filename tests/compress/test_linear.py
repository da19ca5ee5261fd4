"""The product's quantization formula Q(x) = round((x − x_min)/(x_max − x_min)·(2ⁿ−1)), checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sls_deploy.compress.linear import linear_quantize


def test_per_tensor_8_bit_codes_follow_the_formula():
    # range [-1, 2]: step 3/255, zero point 1/(3/255) = 85; Q(x) = round((x + 1)·85)
    q = linear_quantize(np.array([-1.0, 0.0, 0.4, 1.0, 2.0], np.float32), bits=8)
    assert q.codes.tolist() == [0, 85, 119, 170, 255]
    assert q.zero_point.item() == 85
    assert q.scale.item() == pytest.approx(3 / 255)


def test_per_tensor_4_bit_codes_follow_the_formula():
    # range [-1, 2]: step 3/15 = 0.2, zero point 5; Q(0.65) = round(8.25) = 8
    q = linear_quantize(np.array([-1.0, 0.0, 0.65, 2.0], np.float32), bits=4)
    assert q.codes.tolist() == [0, 5, 8, 15]
    assert q.zero_point.item() == 5
    assert q.scale.item() == pytest.approx(0.2)


def test_per_channel_4_bit_gives_each_row_its_own_range():
    x = np.array([[-1.0, 0.0, 0.65, 2.0], [0.0, 0.3, 0.6, 1.5]], np.float32)
    q = linear_quantize(x, bits=4, axis=0)
    # row 1: range [0, 1.5], step 0.1, zero point 0
    assert q.codes.tolist() == [[0, 5, 8, 15], [0, 3, 6, 15]]
    assert q.zero_point.tolist() == [5, 0]
    assert q.scale.tolist() == pytest.approx([0.2, 0.1])


def test_per_channel_8_bit_along_the_last_axis():
    x = np.array([[-1.0, 0.0], [2.0, 0.5]], np.float32)
    q = linear_quantize(x, bits=8, axis=1)
    assert q.codes.tolist() == [[0, 0], [255, 255]]
    assert q.zero_point.tolist() == [85, 0]
    assert q.scale.tolist() == pytest.approx([3 / 255, 0.5 / 255])


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("value", [0.5, -2.0, 0.0])
def test_a_constant_tensor_where_max_equals_min_comes_back_exactly(bits, value):
    x = np.full((3, 4), value, np.float32)
    q = linear_quantize(x, bits=bits)
    assert np.allclose(q.dequantize(), x, rtol=1e-6, atol=0)
    assert np.all(q.codes == q.codes.flat[0])


def test_a_constant_channel_next_to_a_varying_one():
    x = np.array([[0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]], np.float32)
    q = linear_quantize(x, bits=8, axis=0)
    assert q.codes[0].tolist() == [q.zero_point[0]] * 3
    assert np.array_equal(q.dequantize()[0], x[0])


@pytest.mark.parametrize("bits,axis", [(8, None), (8, 1), (4, None), (4, 0)])
def test_zero_stays_exactly_zero_and_the_error_is_within_one_step(bits, axis):
    x = np.random.default_rng(0).standard_normal((16, 24)).astype(np.float32)
    x[::3, ::2] = 0.0
    q = linear_quantize(x, bits=bits, axis=axis)
    back = q.dequantize()
    assert np.all(back[x == 0] == 0)
    step = q.scale if axis is None else np.expand_dims(q.scale, 1 - axis)
    assert np.all(np.abs(back - x) <= step * (1 + 1e-5))
    assert q.codes.max() <= 2**bits - 1


def test_only_8_and_4_bits_are_offered():
    with pytest.raises(ValueError):
        linear_quantize(np.ones(3, np.float32), bits=2)
