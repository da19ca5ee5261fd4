"""The inference handler on direct, Function URL (HTTP v2) and REST (v1) events, with real onnxruntime models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sls_inference import handler as handler_module
from sls_inference.codec import MAX_BODY_BYTES
from sls_inference.sources import EventKind, detect
from tests.support.inference_support import (
    DIGITS_REQUEST,
    DIGITS_ROWS,
    BrokenSession,
    FakeContext,
    body_of,
    broadcast_model,
    digits_dir,
    dtypes_model,
    embedding_model,
    fixed_first_dim_model,
    http_v2,
    log_model,
    logs,
    make_app,
    multi_io_model,
    oip_request,
    rest_v1,
    write_model_dir,
    zipmap_model,
)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return make_app(digits_dir(tmp_path_factory.mktemp("digits")))


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "multi": write_model_dir(root / "multi", multi_io_model(), name="multi"),
        "dtypes": write_model_dir(root / "dtypes", dtypes_model(), name="dtypes"),
        "fixed": write_model_dir(root / "fixed", fixed_first_dim_model(), name="fixed"),
        "log": write_model_dir(root / "log", log_model(), name="log"),
        "log_nan_ok": write_model_dir(root / "log_nan_ok", log_model(), name="log", allow_nan=True),
        "broadcast": write_model_dir(root / "broadcast", broadcast_model(), name="broadcast"),
        "embedding": write_model_dir(root / "embedding", embedding_model(), name="embedding"),
        "zipmap": write_model_dir(root / "zipmap", zipmap_model(), name="zipmap"),
    }


def infer(app, payload):
    """POST over a Function URL; returns (status, parsed body)."""
    response = app.handle(http_v2("POST", "/", payload), FakeContext())
    return response["statusCode"], body_of(response)


# ---------------------------------------------------------------------------------------------- detection


def test_event_shapes_are_detected():
    assert detect(http_v2("GET", "/")) is EventKind.HTTP_V2
    assert detect(rest_v1("GET", "/")) is EventKind.HTTP_V1
    assert detect({"Records": [{"eventSource": "aws:sqs"}]}) is EventKind.SQS
    assert detect({"Records": [{"eventSource": "aws:s3"}]}) is EventKind.S3
    assert detect(DIGITS_REQUEST) is EventKind.DIRECT


# ---------------------------------------------------------------------------------------------- direct


def test_a_direct_invoke_of_the_example_request_answers_seven(digits):
    body = digits.handle(DIGITS_REQUEST, FakeContext())
    assert body["model_name"] == "digits" and body["model_version"] == digits.model.version
    label = next(out for out in body["outputs"] if out["name"] == "label")
    assert label == {"name": "label", "shape": [1], "datatype": "INT64", "data": [7]}


def test_a_direct_invoke_with_a_bad_request_returns_the_error_body_as_payload(digits):
    body = digits.handle(oip_request("input", "FP64", DIGITS_ROWS[:1]), FakeContext())
    assert body == {
        "error": {
            "status": 400,
            "message": "input 'input' has datatype 'FP64' but the model expects FP32",
            "field": "inputs[0].datatype",
            "expected": "FP32",
        }
    }


def test_a_direct_invoke_given_a_json_string_is_parsed(digits):
    body = digits.handle(json.dumps({"instances": DIGITS_ROWS[:2].tolist()}), FakeContext())
    assert len(body["predictions"]) == 2


def test_an_internal_failure_on_a_direct_invoke_raises_so_lambda_counts_an_error(tmp_path):
    app = make_app(digits_dir(tmp_path), session=BrokenSession())
    with pytest.raises(RuntimeError, match="disk on fire"):
        app.handle(DIGITS_REQUEST, FakeContext())


def test_lambda_handler_serves_with_the_module_app(digits, monkeypatch):
    monkeypatch.setattr(handler_module, "_app", digits)
    body = handler_module.lambda_handler({"instances": DIGITS_ROWS[:1].tolist()}, FakeContext())
    assert body["predictions"][0]["label"] == 7


# ---------------------------------------------------------------------------------------------- HTTP


def test_tf_serving_instances_over_a_function_url_answer_one_prediction_per_row(digits):
    status, body = infer(digits, {"instances": DIGITS_ROWS[:3].tolist()})
    assert status == 200 and len(body["predictions"]) == 3
    assert set(body["predictions"][0]) == {"label", "probabilities"} and body["predictions"][0]["label"] == 7


def test_columnar_inputs_answer_columnar_outputs(digits):
    status, body = infer(digits, {"inputs": {"input": DIGITS_ROWS[:2].tolist()}})
    assert status == 200 and np.asarray(body["outputs"]["probabilities"]).shape == (2, 10)


def test_a_base64_encoded_http_v2_body_is_decoded(digits):
    response = digits.handle(http_v2("POST", "/", DIGITS_REQUEST, b64=True), FakeContext())
    assert response["statusCode"] == 200 and response["headers"]["content-type"] == "application/json"
    assert body_of(response)["outputs"][0]["data"] == [7]


def test_a_body_marked_base64_that_is_not_is_a_400(digits):
    event = http_v2("POST", "/", "not base64 {}")
    event["isBase64Encoded"] = True
    response = digits.handle(event, FakeContext())
    assert response["statusCode"] == 400 and body_of(response)["error"]["field"] == "body"


def test_a_rest_api_v1_event_is_served(digits):
    response = digits.handle(rest_v1("POST", "/v2/models/digits/infer", DIGITS_REQUEST), FakeContext())
    assert response["statusCode"] == 200 and body_of(response)["outputs"][0]["data"] == [7]


def test_a_stage_prefix_before_the_v2_path_is_ignored(digits):
    response = digits.handle(http_v2("POST", "/prod/v2/models/digits/infer", DIGITS_REQUEST), FakeContext())
    assert response["statusCode"] == 200


def test_the_versioned_infer_path_serves_the_deployed_version(digits):
    path = f"/v2/models/digits/versions/{digits.model.version}/infer"
    assert digits.handle(http_v2("POST", path, DIGITS_REQUEST), FakeContext())["statusCode"] == 200


def test_a_body_over_six_megabytes_is_a_413(digits):
    big = '{"instances": [' + " " * MAX_BODY_BYTES + "]}"
    for event in (http_v2("POST", "/", big), http_v2("POST", "/", big, b64=True), rest_v1("POST", "/", big)):
        response = digits.handle(event, FakeContext())
        assert response["statusCode"] == 413
        error = body_of(response)["error"]
        assert error["field"] == "body" and str(MAX_BODY_BYTES) in error["expected"]


def test_a_non_json_body_is_a_400_naming_the_body(digits):
    status, body = infer(digits, "inputs=1,2,3")
    assert status == 400 and body["error"]["field"] == "body" and "not valid JSON" in body["error"]["message"]


def test_an_empty_body_is_a_400(digits):
    status, body = infer(digits, None)
    assert status == 400 and "empty" in body["error"]["message"]


def test_get_on_the_inference_path_is_a_405_allowing_post(digits):
    for event in (http_v2("GET", "/predict"), rest_v1("PUT", "/v2/models/digits/infer")):
        response = digits.handle(event, FakeContext())
        assert response["statusCode"] == 405 and response["headers"]["allow"] == "POST"
        assert body_of(response)["error"]["expected"] == "POST"


def test_post_on_a_health_route_is_a_405_allowing_get(digits):
    response = digits.handle(http_v2("POST", "/v2/health/live", {}), FakeContext())
    assert response["statusCode"] == 405 and response["headers"]["allow"] == "GET"


def test_health_and_readiness_routes_answer(digits):
    for path, expected in (
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        ("/v2/models/digits/ready", {"name": "digits", "ready": True}),
    ):
        response = digits.handle(http_v2("GET", path), FakeContext())
        assert response["statusCode"] == 200 and body_of(response) == expected


def test_model_metadata_lists_name_version_platform_and_tensors(digits):
    for path in ("/v2/models/digits", "/", f"/v2/models/digits/versions/{digits.model.version}"):
        body = body_of(digits.handle(http_v2("GET", path), FakeContext()))
        assert body["name"] == "digits" and body["versions"] == [digits.model.version]
        assert body["platform"] == "onnxruntime"
        assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        assert [o["name"] for o in body["outputs"]] == ["label", "probabilities"]


def test_server_metadata_answers_on_v2(digits):
    assert body_of(digits.handle(http_v2("GET", "/v2"), FakeContext()))["name"] == "sls-inference"


def test_another_model_name_is_a_404_naming_the_served_model(digits):
    response = digits.handle(http_v2("POST", "/v2/models/resnet/infer", DIGITS_REQUEST), FakeContext())
    assert response["statusCode"] == 404 and body_of(response)["error"]["expected"] == "digits"


def test_another_version_is_a_404_naming_the_deployed_version(digits):
    response = digits.handle(http_v2("GET", "/v2/models/digits/versions/0/ready"), FakeContext())
    assert response["statusCode"] == 404 and body_of(response)["error"]["expected"] == digits.model.version


def test_client_mistakes_over_http_are_400s_naming_the_field(digits):
    cases = [
        (oip_request("input", "FP64", DIGITS_ROWS[:1]), "inputs[0].datatype", "FP32"),
        (oip_request("pixels", "FP32", DIGITS_ROWS[:1]), "inputs[0].name", ["input"]),
        (oip_request("input", "FP32", DIGITS_ROWS[:1, :63]), "inputs[0].shape", "[?, 64]"),
        (oip_request("input", "FP32", DIGITS_ROWS[0]), "inputs[0].shape", "[?, 64]"),
        (
            {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": [1] * 60}]},
            "inputs[0].data",
            64,
        ),
        ({"instances": [[math.nan] * 64]}, "instances", "finite FP32 numbers"),
    ]
    for payload, field, expected in cases:
        status, body = infer(digits, payload)
        assert status == 400, payload
        assert body["error"]["field"] == field and body["error"]["expected"] == expected


def test_a_json_nan_token_in_the_body_is_a_400(digits):
    text = json.dumps({"instances": [[0] * 63 + [1]]}).replace("1]]", "NaN]]")
    status, body = infer(digits, text)
    assert status == 400 and "NaN" in body["error"]["message"]


def test_an_internal_failure_over_http_is_a_generic_500_with_the_traceback_logged(tmp_path):
    app = make_app(digits_dir(tmp_path), session=BrokenSession())
    status, body = infer(app, DIGITS_REQUEST)
    assert status == 500 and "disk on fire" not in body["error"]["message"]
    assert any(
        entry["level"] == "ERROR" and "disk on fire" in entry.get("exception", "") for entry in logs(app)
    )


# ---------------------------------------------------------------------------------------------- signatures


def test_a_multi_input_multi_output_model_is_served_in_every_format(model_dirs):
    app = make_app(model_dirs["multi"])
    status, body = infer(
        app,
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                {"name": "ids", "datatype": "INT64", "shape": [2], "data": [10, 11]},
            ],
            "outputs": [{"name": "ids_out"}],
        },
    )
    assert status == 200 and body["outputs"] == [
        {"name": "ids_out", "shape": [2], "datatype": "INT64", "data": [10, 11]}
    ]
    status, body = infer(app, {"instances": [{"x": [1, 2, 3], "ids": 5}]})
    assert body == {"predictions": [{"doubled": [2.0, 4.0, 6.0], "ids_out": 5}]}
    status, body = infer(app, {"inputs": {"x": [[1, 1, 1]], "ids": [3]}})
    assert body == {"outputs": {"doubled": [[2.0, 2.0, 2.0]], "ids_out": [3]}}


def test_inputs_disagreeing_on_a_shared_symbolic_dim_are_a_400(model_dirs):
    status, body = infer(make_app(model_dirs["multi"]), {"inputs": {"x": [[1, 2, 3]], "ids": [1, 2]}})
    assert status == 400 and "'batch'" in body["error"]["message"]


def test_a_missing_input_of_a_multi_input_model_is_a_400_naming_it(model_dirs):
    status, body = infer(make_app(model_dirs["multi"]), {"inputs": {"x": [[1, 2, 3]]}})
    assert (
        status == 400 and body["error"]["field"] == "inputs.ids" and body["error"]["expected"] == ["x", "ids"]
    )


def test_bool_string_float16_and_uint8_tensors_round_trip(model_dirs):
    status, body = infer(
        make_app(model_dirs["dtypes"]),
        {
            "inputs": [
                {"name": "flag", "datatype": "BOOL", "shape": [2], "data": [True, False]},
                {"name": "word", "datatype": "BYTES", "shape": [2], "data": ["héllo", "w"]},
                {"name": "half", "datatype": "FP16", "shape": [2, 2], "data": [[0.5, 1], [2, 3]]},
                {"name": "small", "datatype": "UINT8", "shape": [2], "data": [0, 255]},
            ]
        },
    )
    assert status == 200
    outputs = {out["name"]: out for out in body["outputs"]}
    assert outputs["not_flag"]["datatype"] == "BOOL" and outputs["not_flag"]["data"] == [False, True]
    assert outputs["word_out"]["datatype"] == "BYTES" and outputs["word_out"]["data"] == ["héllo", "w"]
    assert outputs["half_twice"]["datatype"] == "FP16" and outputs["half_twice"]["data"] == [
        1.0,
        2.0,
        4.0,
        6.0,
    ]
    assert outputs["small_out"]["data"] == [0, 255]


def test_a_wrong_value_kind_for_a_typed_input_is_a_400_naming_the_datatype(model_dirs):
    app = make_app(model_dirs["dtypes"])
    instances = {"instances": [{"flag": 1, "word": "a", "half": [1, 2], "small": 1}]}
    status, body = infer(app, instances)
    assert (
        status == 400
        and body["error"]["field"] == "instances[*].flag"
        and body["error"]["expected"] == "BOOL"
    )


def test_a_fixed_first_dim_is_enforced(model_dirs):
    app = make_app(model_dirs["fixed"])
    status, body = infer(app, {"instances": [[1, 1, 1, 1]] * 3})
    assert status == 200 and body == {"predictions": [4.0, 4.0, 4.0]}
    status, body = infer(app, {"instances": [[1, 1, 1, 1]] * 2})
    assert (
        status == 400
        and "dim 0 must be 3" in body["error"]["message"]
        and body["error"]["expected"] == "[3, 4]"
    )


def test_nan_in_outputs_is_encoded_as_null(model_dirs):
    status, body = infer(make_app(model_dirs["log"]), {"instances": [1.0, -1.0, 0.0]})
    assert status == 200 and body == {"predictions": [0.0, None, None]}


def test_nan_inputs_pass_when_the_manifest_allows_them(model_dirs):
    status, body = infer(make_app(model_dirs["log_nan_ok"]), '{"instances": [NaN, 1.0]}')
    assert status == 200 and body == {"predictions": [None, 0.0]}
    status, body = infer(make_app(model_dirs["log"]), '{"instances": [NaN, 1.0]}')
    assert status == 400


def test_onnxruntime_failures_caused_by_the_input_are_400s_not_500s(model_dirs):
    status, body = infer(
        make_app(model_dirs["broadcast"]), {"inputs": {"p": [[1, 2, 3]] * 2, "q": [[1, 2, 3]] * 3}}
    )
    assert (
        status == 400
        and "Add" in body["error"]["message"]
        and "onnxruntime_src" not in body["error"]["message"]
    )
    status, body = infer(make_app(model_dirs["embedding"]), {"instances": [1, 99]})
    assert status == 400 and "out of" in body["error"]["message"]


def test_sequence_of_map_outputs_serialize_as_lists_of_objects(model_dirs):
    app = make_app(model_dirs["zipmap"])
    status, body = infer(app, {"instances": [[0.25, 0.75], [0.9, 0.1]]})
    assert status == 200
    assert body["predictions"][0]["label"] == 1
    assert body["predictions"][1]["probabilities"] == pytest.approx({"0": 0.9, "1": 0.1})
    status, body = infer(
        app, {"inputs": [{"name": "probs", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.5]}]}
    )
    probabilities = body["outputs"][1]
    assert probabilities["shape"] == [1] and probabilities["data"] == [{"0": 0.5, "1": 0.5}]
    assert probabilities["datatype"] == "SEQ(MAP(INT64,TENSOR(FLOAT)))"


MALFORMED = [
    "null",
    "3",
    '"text"',
    "[]",
    '{"inputs": 5}',
    '{"inputs": "abc"}',
    '{"inputs": [{"name": "input"}]}',
    '{"inputs": [{"name": 5, "shape": [1], "datatype": "FP32", "data": [1]}]}',
    '{"inputs": [{"name": "input", "shape": "1,64", "datatype": "FP32", "data": []}]}',
    '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": {"a": 1}}]}',
    '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [[1, [2]]]}]}',
    '{"inputs": [{"name": "input", "shape": [true, 64], "datatype": "FP32", "data": []}]}',
    '{"inputs": [[1, 2], {"name": "input"}]}',
    '{"inputs": {"input": "x"}}',
    '{"inputs": {"input": null}}',
    '{"instances": "x"}',
    '{"instances": [{"input": "x"}]}',
    '{"instances": [[1e400]]}',
    '{"instances": []}',
    '{"instances": [[1, 2], {"input": 1}]}',
    '{"instances": [' * 5000 + "]" * 5000 + "}",
    '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1]}], "outputs": "label"}',
    '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [1]}], "outputs": [5]}',
    '{"inputs": [{"name": "input", "shape": [0, 64], "datatype": "FP32", "data": []}], "outputs": [{}]}',
]


@pytest.mark.parametrize("text", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_are_client_errors_never_500s(digits, text):
    status, body = infer(digits, text)
    assert 400 <= status < 500 and body["error"]["message"]
