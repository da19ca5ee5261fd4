"""The inference codec: JSON requests → validated numpy feeds, results → JSON, errors that name the field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sls_inference import batching, codec
from sls_inference.codec import InferenceRequest, RequestError
from sls_inference.signature import TensorSpec

DIGITS_IN = (TensorSpec("input", "float32", (None, 64)),)
DIGITS_OUT = (TensorSpec("label", "int64", (None,)), TensorSpec("probabilities", "float32", (None, 10)))
MULTI_IN = (TensorSpec("x", "float32", ("batch", 3)), TensorSpec("ids", "int64", ("batch",)))
MULTI_OUT = (TensorSpec("doubled", "float32", ("batch", 3)), TensorSpec("ids_out", "int64", ("batch",)))


def decode(payload, inputs=DIGITS_IN, outputs=DIGITS_OUT, allow_nan=False):
    return codec.decode_request(payload, inputs, outputs, allow_nan)


def rejected(payload, inputs=DIGITS_IN, outputs=DIGITS_OUT, allow_nan=False) -> RequestError:
    with pytest.raises(RequestError) as caught:
        decode(payload, inputs, outputs, allow_nan)
    return caught.value


def oip(data, shape, datatype="FP32", name="input"):
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


ROW = list(range(64))


# ---------------------------------------------------------------------------------------------- OIP


def test_oip_flat_data_is_reshaped_to_the_declared_shape_and_cast_to_the_model_dtype():
    request = decode(oip(ROW + ROW, [2, 64]))
    assert request.style == "oip" and request.rows == 2
    assert request.feeds["input"].dtype == np.float32 and request.feeds["input"].shape == (2, 64)


def test_oip_nested_data_matching_the_shape_is_accepted():
    request = decode(oip([ROW, ROW], [2, 64]))
    assert request.feeds["input"].shape == (2, 64)


def test_oip_request_id_and_output_selection_are_kept():
    payload = {**oip(ROW, [1, 64]), "id": "abc", "outputs": [{"name": "probabilities"}]}
    request = decode(payload)
    assert request.id == "abc" and request.output_names == ("probabilities",)


def test_a_wrong_datatype_is_rejected_naming_the_input_and_the_expected_datatype():
    err = rejected(oip(ROW, [1, 64], datatype="FP64"))
    assert err.status == 400 and err.field == "inputs[0].datatype" and err.expected == "FP32"
    assert "'input'" in err.message and "FP32" in err.message


def test_an_unknown_input_name_is_rejected_listing_the_models_inputs():
    err = rejected(oip(ROW, [1, 64], name="pixels"))
    assert err.field == "inputs[0].name" and err.expected == ["input"] and "'pixels'" in err.message


def test_a_missing_input_is_rejected_naming_it():
    err = rejected(oip([[1, 2, 3]], [1, 3], name="x"), inputs=MULTI_IN, outputs=MULTI_OUT)
    assert err.status == 400 and err.field == "inputs.ids" and "missing input 'ids'" in err.message


def test_an_input_given_twice_is_rejected():
    payload = {"inputs": oip(ROW, [1, 64])["inputs"] * 2}
    assert "twice" in rejected(payload).message


def test_data_with_too_few_values_for_the_shape_is_rejected_with_the_needed_count():
    err = rejected(oip(ROW[:63], [1, 64]))
    assert err.field == "inputs[0].data" and err.expected == 64 and "63 values" in err.message


def test_nested_data_that_disagrees_with_the_shape_is_rejected():
    err = rejected(oip([ROW[:32], ROW[32:]], [1, 64]))
    assert err.field == "inputs[0].data" and err.expected == [1, 64] and "[2, 32]" in err.message


def test_a_shape_of_the_wrong_rank_is_rejected_with_the_models_shape():
    err = rejected(oip(ROW, [64]))
    assert err.field == "inputs[0].shape" and err.expected == "[?, 64]" and "rank" in err.message


def test_a_wrong_fixed_dim_is_rejected_naming_the_dim_and_its_size():
    err = rejected(oip(ROW[:63], [1, 63]))
    assert err.expected == "[?, 64]" and "dim 1 must be 64" in err.message


def test_a_shape_that_is_not_a_list_of_sizes_is_rejected():
    err = rejected(oip(ROW, [1, -64]))
    assert err.field == "inputs[0].shape"


def test_an_unknown_output_in_the_selection_is_rejected_listing_the_outputs():
    err = rejected({**oip(ROW, [1, 64]), "outputs": [{"name": "logits"}]})
    assert err.field == "outputs[0].name" and err.expected == ["label", "probabilities"]


def test_an_empty_oip_input_list_names_the_missing_input():
    assert "missing input 'input'" in rejected({"inputs": []}).message


# ---------------------------------------------------------------------------------------------- values


def test_integers_are_fine_for_a_float_input():
    assert decode(oip([1] * 64, [1, 64])).feeds["input"].dtype == np.float32


def test_nan_from_a_json_nan_token_is_rejected_for_float_inputs():
    payload = codec.parse_json(
        '{"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1, NaN]}]}'
    )
    err = rejected(payload, inputs=(TensorSpec("input", "float32", (None, 2)),))
    assert err.status == 400 and err.field == "inputs[0].data" and "NaN" in err.message


def test_infinity_is_rejected_for_float_inputs():
    payload = codec.parse_json('{"instances": [[1, Infinity]]}')
    err = rejected(payload, inputs=(TensorSpec("input", "float32", (None, 2)),))
    assert err.field == "instances" and "Infinity" in err.message


def test_nan_is_accepted_when_the_manifest_allows_it():
    request = decode(
        {"instances": [[1.0, math.nan]]}, inputs=(TensorSpec("input", "float32", (None, 2)),), allow_nan=True
    )
    assert np.isnan(request.feeds["input"][0, 1])


def test_a_value_too_large_for_float16_is_rejected():
    err = rejected({"instances": [1e6]}, inputs=(TensorSpec("h", "float16", ("n",)),))
    assert "FP16" in err.message


def test_non_integers_are_rejected_for_an_int_input():
    err = rejected({"inputs": {"x": [[1, 2, 3]], "ids": [1.5]}}, inputs=MULTI_IN, outputs=MULTI_OUT)
    assert err.field == "inputs.ids" and err.expected == "INT64" and "integers" in err.message


def test_out_of_range_values_are_rejected_for_narrow_int_inputs():
    err = rejected({"instances": [1, 300]}, inputs=(TensorSpec("small", "uint8", ("n",)),))
    assert err.expected == "UINT8 in [0, 255]" and "300" in err.message
    err = rejected({"instances": [-1]}, inputs=(TensorSpec("small", "uint8", ("n",)),))
    assert "-1" in err.message


def test_bool_inputs_take_only_true_and_false():
    spec = (TensorSpec("flag", "bool", ("n",)),)
    assert decode({"instances": [True, False]}, inputs=spec).feeds["flag"].dtype == np.bool_
    err = rejected({"instances": [1, 0]}, inputs=spec)
    assert err.expected == "BOOL" and "true/false" in err.message


def test_string_inputs_take_only_strings_and_become_object_arrays():
    spec = (TensorSpec("word", "string", ("n",)),)
    assert decode({"instances": ["a", "b"]}, inputs=spec).feeds["word"].dtype == object
    assert rejected({"instances": [1, 2]}, inputs=spec).expected == "BYTES"


def test_null_values_are_rejected():
    err = rejected({"instances": [ROW[:63] + [None]]})
    assert "null" in err.message


def test_ragged_rows_are_rejected():
    err = rejected({"instances": [ROW, ROW[:10]]})
    assert err.field == "instances" and "ragged" in err.message and err.expected == "[?, 64]"


def test_inputs_sharing_a_named_dim_must_agree_on_its_size():
    err = rejected(
        {"inputs": {"x": [[1, 2, 3], [4, 5, 6]], "ids": [1, 2, 3]}}, inputs=MULTI_IN, outputs=MULTI_OUT
    )
    assert "'batch'" in err.message and err.field == "inputs.ids" and err.expected == "batch = 2"


# ---------------------------------------------------------------------------------------------- TF-Serving


def test_instances_of_a_single_input_model_are_rows():
    request = decode({"instances": [ROW, ROW, ROW]})
    assert request.style == "instances" and request.rows == 3 and request.feeds["input"].shape == (3, 64)


def test_instances_of_a_multi_input_model_are_objects_by_input_name():
    request = decode(
        {"instances": [{"x": [1, 2, 3], "ids": 7}, {"x": [4, 5, 6], "ids": 8}]}, MULTI_IN, MULTI_OUT
    )
    assert request.feeds["x"].shape == (2, 3) and request.feeds["ids"].tolist() == [7, 8]


def test_plain_rows_for_a_multi_input_model_are_rejected_listing_the_inputs():
    err = rejected({"instances": [[1, 2, 3]]}, MULTI_IN, MULTI_OUT)
    assert err.field == "instances" and set(err.expected) == {"x", "ids"}


def test_an_instance_missing_an_input_is_rejected_naming_the_instance_and_input():
    err = rejected({"instances": [{"x": [1, 2, 3], "ids": 1}, {"x": [1, 2, 3]}]}, MULTI_IN, MULTI_OUT)
    assert err.field == "instances[1].ids"


def test_instances_of_the_wrong_width_are_rejected_with_the_expected_shape():
    err = rejected({"instances": [ROW[:63]]})
    assert err.field == "instances" and "dim 1 must be 64" in err.message


def test_columnar_inputs_by_name_and_as_a_bare_list_are_accepted():
    assert decode({"inputs": {"input": [ROW]}}).style == "columnar"
    assert decode({"inputs": [ROW]}).style == "columnar_list"


def test_a_request_without_inputs_or_instances_is_rejected_with_the_accepted_formats():
    err = rejected({"input": [ROW]})
    assert err.field == "inputs" and "instances" in err.expected


def test_a_request_that_is_not_an_object_is_rejected():
    assert rejected([ROW]).field == "body"


# ---------------------------------------------------------------------------------------------- JSON text


def test_non_json_bodies_are_a_400_naming_the_body():
    with pytest.raises(RequestError) as caught:
        codec.parse_json(b"inputs=1")
    assert caught.value.status == 400 and caught.value.field == "body"


def test_bodies_over_six_megabytes_are_a_413():
    with pytest.raises(RequestError) as caught:
        codec.parse_json(b" " * (codec.MAX_BODY_BYTES + 1))
    assert caught.value.status == 413 and str(codec.MAX_BODY_BYTES) in caught.value.message


def test_the_body_limit_mirrors_the_cli_limits_table():
    from sls_deploy.core import limits

    assert codec.MAX_BODY_BYTES == limits.MAX_SYNC_PAYLOAD_BYTES


def test_non_finite_output_floats_become_null_so_the_json_stays_valid():
    values = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    assert codec.to_json_value(values) == [1.0, None, None, None]
    assert codec.dumps({"v": codec.to_json_value(values)}) == '{"v":[1.0,null,null,null]}'


def test_dumps_refuses_nan_that_was_not_encoded():
    with pytest.raises(ValueError):
        codec.dumps({"v": math.nan})


def test_sequences_of_maps_become_lists_of_objects_with_string_keys():
    value = [{0: np.float32(0.25), 1: 0.75}, {0: math.nan, 1: 1.0}]
    assert codec.to_json_value(value) == [{"0": 0.25, "1": 0.75}, {"0": None, "1": 1.0}]


def test_float16_and_string_outputs_are_plain_json_values():
    assert codec.to_json_value(np.array([0.5, 2.0], np.float16)) == [0.5, 2.0]
    assert codec.to_json_value(np.array(["a", b"b"], dtype=object)) == ["a", "b"]
    json.dumps(codec.to_json_value(np.array([0.5], np.float16)))


def test_the_error_body_is_one_schema_with_optional_field_and_expected():
    assert RequestError("bad", field="inputs", expected="FP32").to_body() == {
        "error": {"status": 400, "message": "bad", "field": "inputs", "expected": "FP32"}
    }
    assert codec.error_body(500, "oops") == {"error": {"status": 500, "message": "oops"}}


# ---------------------------------------------------------------------------------------------- responses


def _request(style, rows=2, request_id=None):
    return InferenceRequest(style=style, feeds={}, output_names=None, rows=rows, id=request_id)


LABELS = np.array([7, 3], np.int64)
PROBS = np.arange(20, dtype=np.float32).reshape(2, 10)


def test_oip_responses_carry_flat_data_shape_datatype_model_and_id():
    body = codec.encode_response(
        _request("oip", request_id="r1"), DIGITS_OUT, [LABELS, PROBS], "digits", "v1"
    )
    assert body["model_name"] == "digits" and body["model_version"] == "v1" and body["id"] == "r1"
    label, probs = body["outputs"]
    assert label == {"name": "label", "shape": [2], "datatype": "INT64", "data": [7, 3]}
    assert probs["shape"] == [2, 10] and probs["datatype"] == "FP32" and len(probs["data"]) == 20


def test_oip_non_tensor_outputs_keep_the_signature_type_and_a_list_of_objects():
    spec = TensorSpec("probabilities", "seq(map(int64,tensor(float)))", ())
    body = codec.encode_response(_request("oip", rows=1), (spec,), [[{0: 0.5, 1: 0.5}]], "m", "1")
    assert body["outputs"][0] == {
        "name": "probabilities",
        "shape": [1],
        "datatype": "SEQ(MAP(INT64,TENSOR(FLOAT)))",
        "data": [{"0": 0.5, "1": 0.5}],
    }


def test_predictions_of_a_multi_output_model_are_one_object_per_row():
    body = codec.encode_response(_request("instances"), DIGITS_OUT, [LABELS, PROBS], "digits", "1")
    assert [p["label"] for p in body["predictions"]] == [7, 3]
    assert body["predictions"][1]["probabilities"] == PROBS[1].tolist()


def test_predictions_of_a_single_output_model_are_its_rows():
    body = codec.encode_response(_request("instances"), DIGITS_OUT[:1], [LABELS], "digits", "1")
    assert body == {"predictions": [7, 3]}


def test_columnar_responses_follow_the_request_form():
    assert codec.encode_response(_request("columnar"), DIGITS_OUT[:1], [LABELS], "d", "1") == {
        "outputs": {"label": [7, 3]}
    }
    assert codec.encode_response(_request("columnar_list"), DIGITS_OUT[:1], [LABELS], "d", "1") == {
        "outputs": [7, 3]
    }
    both = codec.encode_response(_request("columnar_list"), DIGITS_OUT, [LABELS, PROBS], "d", "1")
    assert set(both["outputs"]) == {"label", "probabilities"}


def test_model_metadata_reports_dynamic_dims_as_minus_one():
    meta = codec.model_metadata("digits", "abc", DIGITS_IN, DIGITS_OUT)
    assert meta["platform"] == "onnxruntime" and meta["versions"] == ["abc"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]


# ---------------------------------------------------------------------------------------------- batching


def test_requests_concatenate_only_when_every_input_has_a_symbolic_first_dim():
    assert batching.batchable(DIGITS_IN) and batching.batchable(MULTI_IN)
    assert not batching.batchable((TensorSpec("grid", "float32", (3, 4)),))


def test_batch_keys_match_for_requests_with_equal_trailing_dims_and_differ_otherwise():
    one, three = decode({"instances": [ROW]}), decode({"instances": [ROW] * 3})
    other = decode({"instances": [[1.0, 2.0]]}, inputs=(TensorSpec("input", "float32", (None, 2)),))
    assert batching.batch_key(one) == batching.batch_key(three) != batching.batch_key(other)


def test_batched_outputs_split_back_per_request_or_refuse_when_rows_do_not_add_up():
    parts = batching.split_rows([np.arange(3), [{"a": 1}, {"a": 2}, {"a": 3}]], [1, 2])
    assert parts is not None and parts[1][0].tolist() == [1, 2] and parts[1][1] == [{"a": 2}, {"a": 3}]
    assert batching.split_rows([np.arange(4)], [1, 2]) is None
