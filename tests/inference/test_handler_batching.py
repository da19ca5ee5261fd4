"""SQS batches (one batched session.run, partial failures) and S3 object-created events (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from sls_inference.sources.s3 import s3_output_key
from tests.support.inference_support import (
    DIGITS_REQUEST,
    DIGITS_ROWS,
    FakeContext,
    digits_dir,
    embedding_model,
    fixed_first_dim_model,
    logs,
    make_app,
    s3_event,
    sqs_event,
    write_model_dir,
)


@pytest.fixture(scope="module")
def digits_model_dir(tmp_path_factory):
    return digits_dir(tmp_path_factory.mktemp("digits"))


def rows(start, count=1):
    return {"instances": DIGITS_ROWS[start : start + count].tolist()}


# ---------------------------------------------------------------------------------------------- SQS


def test_one_bad_record_fails_alone_and_the_good_ones_run_in_one_session_run(digits_model_dir):
    app = make_app(digits_model_dir, counting=True)
    event = sqs_event(
        {
            "m1": rows(0),
            "m2": rows(1, 2),
            "bad-shape": {"instances": [[1, 2, 3]]},
            "m3": DIGITS_REQUEST,
            "not-json": "{{{",
        }
    )
    result = app.handle(event, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-shape"}, {"itemIdentifier": "not-json"}]}
    assert app.model.session.runs == [{"input": (4, 64)}]
    predictions = {
        entry["message_id"]: entry["prediction"]
        for entry in logs(app)
        if entry["message"] == "sqs prediction"
    }
    assert set(predictions) == {"m1", "m2", "m3"}
    assert predictions["m1"]["predictions"][0]["label"] == 7
    assert len(predictions["m2"]["predictions"]) == 2
    assert predictions["m3"]["outputs"][0]["data"] == [7]  # an OIP record answers in OIP
    failed = [entry for entry in logs(app) if entry["message"] == "sqs record failed"]
    assert {entry["message_id"] for entry in failed} == {"bad-shape", "not-json"}
    assert failed[0]["error"]["expected"] == "[?, 64]"


def test_the_batched_answers_equal_one_by_one_answers(digits_model_dir):
    app = make_app(digits_model_dir)
    app.handle(sqs_event({f"m{i}": rows(i) for i in range(5)}), FakeContext())
    batched = [entry["prediction"] for entry in logs(app) if entry["message"] == "sqs prediction"]
    alone = [app.predict(rows(i)) for i in range(5)]
    assert batched == json.loads(json.dumps(alone))


def test_a_record_that_onnxruntime_rejects_is_isolated_by_rerunning_the_records_one_by_one(tmp_path):
    app = make_app(
        write_model_dir(tmp_path / "embedding", embedding_model(), name="embedding"), counting=True
    )
    result = app.handle(
        sqs_event({"ok-1": {"instances": [0, 1]}, "oob": {"instances": [99]}, "ok-2": {"instances": [3]}}),
        FakeContext(),
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "oob"}]}
    assert len(app.model.session.runs) == 4  # the failed batched run, then one run per record


def test_records_of_a_model_without_a_batch_dim_run_one_by_one(tmp_path):
    app = make_app(write_model_dir(tmp_path / "fixed", fixed_first_dim_model(), name="fixed"), counting=True)
    grid = {"instances": [[1, 2, 3, 4]] * 3}
    result = app.handle(sqs_event({"a": grid, "b": grid}), FakeContext())
    assert result == {"batchItemFailures": []}
    assert app.model.session.runs == [{"grid": (3, 4)}, {"grid": (3, 4)}]


def test_an_all_good_batch_reports_no_failures(digits_model_dir):
    app = make_app(digits_model_dir)
    assert app.handle(sqs_event({"a": rows(0), "b": rows(1)}), FakeContext()) == {"batchItemFailures": []}


# ---------------------------------------------------------------------------------------------- S3


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):  # a bucket outside us-east-1 needs a LocationConstraint
        monkeypatch.setenv(name, "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="requests")
        yield client


def read_json(s3, key):
    return json.loads(s3.get_object(Bucket="requests", Key=key)["Body"].read())


def test_an_s3_request_object_gets_its_prediction_written_under_the_output_prefix(s3, digits_model_dir):
    s3.put_object(Bucket="requests", Key="inbox/req-1.json", Body=json.dumps(DIGITS_REQUEST).encode())
    app = make_app(digits_model_dir)
    summary = app.handle(s3_event("requests", "inbox/req-1.json"), FakeContext())
    assert summary == {"written": ["predictions/inbox/req-1.json"], "errors": [], "skipped": []}
    answer = read_json(s3, "predictions/inbox/req-1.json")
    assert answer["outputs"][0]["data"] == [7]
    head = s3.head_object(Bucket="requests", Key="predictions/inbox/req-1.json")
    assert head["ContentType"] == "application/json"


def test_a_bad_s3_object_gets_an_error_object_and_the_others_still_succeed(s3, digits_model_dir):
    s3.put_object(Bucket="requests", Key="in/good.json", Body=json.dumps(rows(0)).encode())
    s3.put_object(Bucket="requests", Key="in/bad.json", Body=b"not json")
    s3.put_object(Bucket="requests", Key="in/wrong.json", Body=json.dumps({"instances": [[1]]}).encode())
    app = make_app(digits_model_dir)
    summary = app.handle(s3_event("requests", "in/good.json", "in/bad.json", "in/wrong.json"), FakeContext())
    assert summary["written"] == ["predictions/in/good.json"]
    assert summary["errors"] == ["predictions/in/bad.error.json", "predictions/in/wrong.error.json"]
    assert read_json(s3, "predictions/in/good.json")["predictions"][0]["label"] == 7
    assert read_json(s3, "predictions/in/bad.error.json")["error"]["field"] == "body"
    assert read_json(s3, "predictions/in/wrong.error.json")["error"]["expected"] == "[?, 64]"


def test_objects_under_the_output_prefix_are_skipped_so_results_never_loop(s3, digits_model_dir):
    s3.put_object(Bucket="requests", Key="predictions/x.json", Body=json.dumps(rows(0)).encode())
    app = make_app(digits_model_dir, s3_output_prefix="predictions/")
    summary = app.handle(s3_event("requests", "predictions/x.json"), FakeContext())
    assert summary == {"written": [], "errors": [], "skipped": ["predictions/x.json"]}
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket="requests")["Contents"]]
    assert keys == ["predictions/x.json"]


def test_url_encoded_keys_from_the_event_are_decoded(s3, digits_model_dir):
    s3.put_object(Bucket="requests", Key="in/my request.json", Body=json.dumps(rows(0)).encode())
    summary = make_app(digits_model_dir).handle(s3_event("requests", "in/my+request.json"), FakeContext())
    assert summary["written"] == ["predictions/in/my request.json"]


def test_a_missing_object_is_logged_and_recorded_as_an_error_object(s3, digits_model_dir):
    app = make_app(digits_model_dir)
    summary = app.handle(s3_event("requests", "in/gone.json"), FakeContext())
    assert summary["errors"] == ["predictions/in/gone.error.json"]
    assert read_json(s3, "predictions/in/gone.error.json")["error"]["status"] == 500
    assert any(entry["message"] == "could not read the s3 object" for entry in logs(app))


def test_output_keys_drop_only_the_last_extension():
    assert s3_output_key("a.b/c.d.json", "out/") == "out/a.b/c.d.json"
    assert s3_output_key("a.b/c", "out/", error=True) == "out/a.b/c.error.json"
