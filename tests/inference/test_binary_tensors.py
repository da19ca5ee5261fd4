"""Requests in the KServe/Triton binary tensor extension: JSON header + raw tensor bytes."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from sls_inference.codec import RequestError, binary_tensors
from tests.support.inference_support import DIGITS_ROWS, FakeContext, digits_dir, make_app


def binary_body(inputs: list[tuple[dict, bytes]], **extra: object) -> tuple[bytes, str]:
    header = json.dumps({"inputs": [item for item, _ in inputs], **extra}).encode()
    return header + b"".join(data for _, data in inputs), str(len(header))


def test_binary_inputs_get_their_values_back_in_input_order() -> None:
    floats = np.array([[1.5, -2.0], [3.0, 4.25]], dtype=np.float32)
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"hi", b"\xc3\xa9t\xc3\xa9"))
    body, length = binary_body(
        [
            ({"name": "a", "shape": [2, 2], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
             floats.tobytes()),
            ({"name": "b", "shape": [1], "datatype": "INT64", "data": [7]}, b""),
            ({"name": "c", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(words)}},
             words),
        ]
    )  # fmt: skip
    payload = binary_tensors.decode_request(body, length)
    np.testing.assert_array_equal(payload["inputs"][0]["data"], floats.ravel())
    assert payload["inputs"][1]["data"] == [7] and payload["inputs"][2]["data"] == ["hi", "été"]


@pytest.mark.parametrize(
    ("size", "extra", "length_delta", "message"),
    [
        (12, b"", 0, "only 8 bytes"),
        (4, b"\x00\x00\x00\x00", 0, "no input's binary_data_size claims"),
        (6, b"", 0, "not a whole number"),
        (8, b"", 10_000, "Inference-Header-Content-Length"),
    ],
)
def test_binary_data_that_does_not_match_its_declared_sizes_is_a_400(
    size: int, extra: bytes, length_delta: int, message: str
) -> None:
    data = np.zeros(2, np.float32).tobytes()
    body, length = binary_body(
        [({"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": size}}, data)]
    )
    with pytest.raises(RequestError, match=message) as info:
        binary_tensors.decode_request(body + extra, str(int(length) + length_delta))
    assert info.value.status == 400


def test_a_function_url_request_with_binary_tensors_is_answered_in_json(tmp_path) -> None:
    app = make_app(digits_dir(tmp_path), function_name="digits")
    row = DIGITS_ROWS[:1].astype(np.float32)
    body, length = binary_body(
        [({"name": "input", "shape": [1, 64], "datatype": "FP32", "parameters": {"binary_data_size": 256}},
          row.tobytes())],
        parameters={"binary_data_output": True},
    )  # fmt: skip
    event = {
        "version": "2.0",
        "rawPath": "/v2/models/digits/infer",
        "headers": {"inference-header-content-length": length, "content-type": "application/octet-stream"},
        "requestContext": {"http": {"method": "POST", "path": "/v2/models/digits/infer"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    response = app.handle(event, FakeContext())
    answer = json.loads(response["body"])
    assert response["statusCode"] == 200
    label = next(o for o in answer["outputs"] if o["name"] == "label")
    expected = app.predict({"instances": row.tolist()})["predictions"][0]["label"]
    assert label["data"] == [expected]
