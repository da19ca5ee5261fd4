"""measure_invocations keeps each invocation's REPORT; an error answer stops it; trimming drops both ends."""

from __future__ import annotations

import json

import pytest

from sls_deploy.core.errors import InvocationError, SlsDeployError
from sls_deploy.core.records import InvokeResult, Report
from sls_deploy.monitor.measure import Measurement, measure_invocations, sample_request


class ScriptedFunction:
    """Answers invocations from a script of (duration ms, init ms or None, payload, function error)."""

    def __init__(self, script: list[tuple[float, float | None, bytes, str | None]]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, bytes, str]] = []

    def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult:
        self.calls.append((name, payload, qualifier))
        duration, init, answer, error = self.script.pop(0)
        report = Report(
            request_id=str(len(self.calls)),
            duration_ms=duration,
            billed_duration_ms=int(-(-duration // 1)),
            memory_size_mb=1024,
            max_memory_used_mb=100 + len(self.calls),
            init_duration_ms=init,
        )
        return InvokeResult(name, "1", 200, answer, error, report)


OK = b'{"outputs": []}'


def test_each_invocation_keeps_its_duration_billed_duration_and_cold_start_init():
    function = ScriptedFunction([(10.2, 400.0, OK, None), (3.4, None, OK, None), (2.9, None, OK, None)])
    steps: list[str] = []
    measured = measure_invocations(function, "digits", b"{}", 3, progress=steps.append)
    assert measured.durations_ms == (10.2, 3.4, 2.9)
    assert measured.billed_ms == (11, 4, 3)
    assert measured.init_ms == (400.0,) and measured.cold_starts == 1
    assert (measured.memory_mb, measured.max_memory_mb, measured.errors) == (1024, 103, 0)
    assert function.calls == [("digits", b"{}", "live")] * 3
    assert steps[-1] == "invoking digits:live (3/3)"


def test_trimming_drops_the_fastest_and_slowest_fifth_keeping_pairs_together():
    durations = tuple(float(d) for d in (50, 1, 5, 4, 3, 2, 6, 7, 8, 9))
    measured = Measurement("f", "live", 1024, durations, tuple(int(d) * 10 for d in durations))
    trimmed = measured.trimmed()
    # 10 invocations: the 2 fastest (1, 2) and the 2 slowest (9, 50) go
    assert sorted(trimmed.durations_ms) == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert sorted(trimmed.billed_ms) == [30, 40, 50, 60, 70, 80]
    assert trimmed.mean_billed_ms == 55.0
    assert (measured.p50_ms, measured.p90_ms) == (5.0, 9.0)


def test_a_4xx_answer_stops_the_measurement_and_names_the_answer():
    bad = json.dumps({"error": {"status": 400, "message": "input has shape [1, 3]"}}).encode()
    function = ScriptedFunction([(1.0, None, OK, None), (1.0, None, bad, None), (1.0, None, OK, None)])
    with pytest.raises(InvocationError, match=r"invocation 2 of 3 .*status 400.*shape \[1, 3\]"):
        measure_invocations(function, "digits", b"{}", 3)
    assert len(function.calls) == 2


def test_a_function_error_stops_the_measurement():
    crash = b'{"errorMessage": "boom", "errorType": "RuntimeError"}'
    function = ScriptedFunction([(1.0, None, crash, "Unhandled")])
    with pytest.raises(InvocationError, match="Unhandled.*boom"):
        measure_invocations(function, "digits", b"{}", 5)


def test_server_errors_are_counted_and_only_all_of_them_fail_the_measurement():
    failed = json.dumps({"error": {"status": 500, "message": "run failed"}}).encode()
    measured = measure_invocations(
        ScriptedFunction([(1.0, None, failed, None), (2.0, None, OK, None)]), "f", b"", 2
    )
    assert (measured.errors, measured.count) == (1, 2)
    with pytest.raises(InvocationError, match="all 2 invocations"):
        measure_invocations(ScriptedFunction([(1.0, None, failed, None)] * 2), "f", b"", 2)


def test_a_sample_request_has_one_row_of_each_input_of_the_signature(tmp_path):
    signature = {"inputs": [{"name": "input", "dtype": "float32", "shape": [None, 64]}], "outputs": []}
    (tmp_path / "model.json").write_text(json.dumps({"signature": signature}))
    (spec,) = json.loads(sample_request(tmp_path))["inputs"]
    assert (spec["name"], spec["shape"], spec["datatype"], len(spec["data"])) == (
        "input",
        [1, 64],
        "FP32",
        64,
    )


def test_a_missing_model_folder_asks_for_a_payload(tmp_path):
    with pytest.raises(SlsDeployError, match="no model signature") as info:
        sample_request(tmp_path / "nothing")
    assert "--payload" in info.value.hint


def _manifest(tmp_path, inputs, processing):
    tmp_path.mkdir(parents=True, exist_ok=True)
    signature = {"inputs": inputs, "outputs": [{"name": "scores", "dtype": "float32", "shape": [None, 10]}]}
    (tmp_path / "model.json").write_text(json.dumps({"signature": signature, "processing": processing}))
    return tmp_path


def test_a_text_or_image_model_is_measured_with_the_request_its_clients_send(tmp_path):
    import base64
    import io

    from PIL import Image

    token_inputs = [{"name": "input_ids", "dtype": "int64", "shape": [None, None]}]
    text = _manifest(tmp_path / "t", token_inputs, {"version": 1, "text": {"tokenizer": "tokenizer.json"}})
    assert isinstance(json.loads(sample_request(text))["text"], str)
    image_inputs = [{"name": "image", "dtype": "float32", "shape": [None, 3, 224, 224]}]
    image = _manifest(tmp_path / "i", image_inputs, {"version": 1, "image": {}})
    decoded = Image.open(io.BytesIO(base64.b64decode(json.loads(sample_request(image))["image"])))
    assert (decoded.format, decoded.mode, decoded.size) == ("JPEG", "RGB", (640, 480))
    labels = {"version": 1, "labels": {"file": "labels.json"}}
    labels_only = _manifest(tmp_path / "l", [{"name": "x", "dtype": "float32", "shape": [None, 4]}], labels)
    assert json.loads(sample_request(labels_only))["inputs"][0]["shape"] == [1, 4]


def test_a_custom_handlers_model_asks_for_a_payload(tmp_path):
    inputs = [{"name": "x", "dtype": "float32", "shape": [None, 4]}]
    folder = _manifest(tmp_path, inputs, {"version": 1, "handler": {"module": "handler/h.py"}})
    with pytest.raises(SlsDeployError, match="custom handler") as info:
        sample_request(folder)
    assert "--payload" in info.value.hint
