"""`sls-deploy serve`'s gateway end to end: real models and functions on real workers, called with boto3's
`lambda` client, the AWS CLI, plain HTTP (function URLs, Open Inference Protocol) and Triton's client."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sls_deploy.core.config import ProjectConfig
from sls_deploy.core.errors import ConfigError
from sls_deploy.targets.local.gateway import Gateway
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import python312_or_skip, wait_until_gone, worker_runtime_dir
from tests.support.serve_helpers import EXAMPLES, affine, deploy_project, wait_for

pytestmark = pytest.mark.slow

DIGITS_REQUEST = (EXAMPLES / "digits-request.json").read_bytes()
API_KEY = "s3cret-key"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, layer_cache_dir: Path) -> ProjectConfig:
    python = python312_or_skip()
    worker_runtime_dir(python, layer_cache_dir)
    return deploy_project(tmp_path_factory.mktemp("serve") / "project", python, layer_cache_dir)


@pytest.fixture(scope="module")
def gateway(project: ProjectConfig) -> Iterator[Gateway]:
    with Gateway(LocalTarget(project), port=0).start() as served:
        yield served


def lambda_client(url: str, key: str = "local") -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[Any]:
    lambda_api = lambda_client(gateway.url)
    yield lambda_api
    lambda_api.close()


def request(
    gateway: Gateway, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """(status, headers — case-insensitive, get_all for repeated ones —, body) of one request."""
    host, port = gateway.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


def label_of(answer: dict[str, Any]) -> list[int]:
    return next(o for o in answer["outputs"] if o["name"] == "label")["data"]


# -- Lambda's Invoke API -----------------------------------------------------------------------------------


def test_boto3_invokes_both_models_and_gets_their_predictions(client: Any) -> None:
    digits = client.invoke(FunctionName="digits", Qualifier="live", Payload=DIGITS_REQUEST)
    rows = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]])
    request = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": rows.ravel().tolist()}]}
    summed = client.invoke(FunctionName="affine", Payload=json.dumps(request).encode())
    assert digits["StatusCode"] == 200 and digits["ExecutedVersion"] == "1" and "FunctionError" not in digits
    assert label_of(json.loads(digits["Payload"].read())) == [7]
    assert summed["ExecutedVersion"] == "$LATEST"  # unqualified means $LATEST, as on Lambda
    output = json.loads(summed["Payload"].read())["outputs"][0]
    np.testing.assert_allclose(np.reshape(output["data"], output["shape"]), affine(rows), rtol=1e-6)


def test_a_function_is_found_by_arn_partial_arn_and_its_aws_function_name(client: Any) -> None:
    for name in (
        "arn:aws:lambda:us-east-1:000000000000:function:digits:live",
        "000000000000:function:digits",
        "digits:1",
        "serve-digits",  # the name its template gives it on AWS: <project>-<model>
    ):
        answer = client.invoke(FunctionName=name, Payload=DIGITS_REQUEST)
        assert label_of(json.loads(answer["Payload"].read())) == [7], name


def test_log_type_tail_returns_the_invocations_log_and_a_client_context_reaches_the_function(
    client: Any,
) -> None:
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    answer = client.invoke(FunctionName="echo", Payload=b'{"n": 1}', LogType="Tail", ClientContext=context)
    log = base64.b64decode(answer["LogResult"]).decode()
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id}") and f"REPORT RequestId: {request_id}" in log
    body = json.loads(answer["Payload"].read())
    assert body["arn"].endswith(":function:echo") and body["custom"] == {"k": "v"}


def test_an_unknown_function_or_version_raises_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="iris"):
        client.invoke(FunctionName="iris", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="digits:7"):
        client.invoke(FunctionName="digits", Qualifier="7", Payload=b"{}")


def test_a_handler_exception_is_an_unhandled_function_error_with_lambdas_payload(client: Any) -> None:
    answer = client.invoke(FunctionName="echo", Payload=b'{"action": "raise", "x": 3}')
    body = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input: 3"


def test_a_second_concurrent_request_past_reserved_concurrency_is_too_many_requests(
    client: Any, gateway: Gateway
) -> None:
    first: list[Any] = []
    thread = threading.Thread(
        target=lambda: first.append(
            client.invoke(FunctionName="single", Payload=b'{"action": "sleep", "seconds": 1.5}')
        )
    )
    thread.start()
    assert wait_for(lambda: gateway.target.pool.in_flight("single") == 1)
    with pytest.raises(client.exceptions.TooManyRequestsException) as info:
        client.invoke(FunctionName="single", Payload=b"{}")
    thread.join(30)
    first[0]["Payload"].read()
    assert info.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert first and "FunctionError" not in first[0]


def test_payload_limits_and_bad_json_are_refused_as_lambda_refuses_them(client: Any) -> None:
    with pytest.raises(ClientError) as too_large:
        client.invoke(FunctionName="echo", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="echo", Payload=b"{not json")
    assert too_large.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_an_event_invocation_is_accepted_and_runs_in_the_background(client: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    event = {"action": "write", "path": str(marker)}
    answer = client.invoke(FunctionName="echo", InvocationType="Event", Payload=json.dumps(event).encode())
    dry = client.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b"{}")
    assert answer["StatusCode"] == 202 and dry["StatusCode"] == 204
    assert wait_for(marker.exists)


def test_the_aws_cli_invokes_both_models(gateway: Gateway, tmp_path: Path) -> None:
    aws = shutil.which("aws") or str(Path(sys.executable).with_name("aws"))
    if not Path(aws).exists():
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    version = subprocess.run([aws, "--version"], capture_output=True, text=True, check=True)
    binary = ["--cli-binary-format", "raw-in-base64-out"] if "aws-cli/2" in version.stdout else []
    affine_request = tmp_path / "affine.json"
    affine_request.write_text(json.dumps({"instances": [[1.0, 1.0, 1.0]]}))
    answers = {}
    for name, request in (("digits", EXAMPLES / "digits-request.json"), ("affine", affine_request)):
        out = tmp_path / f"{name}.out"
        done = subprocess.run(
            [aws, "lambda", "invoke", "--endpoint-url", gateway.url, "--function-name", name, "--qualifier",
             "live", "--payload", f"fileb://{request}", *binary, str(out)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["StatusCode"] == 200
        answers[name] = json.loads(out.read_text())
    assert label_of(answers["digits"]) == [7]
    np.testing.assert_allclose(answers["affine"]["predictions"], affine(np.ones((1, 3))), rtol=1e-6)


# -- function URLs and the Open Inference Protocol ---------------------------------------------------------


def test_a_function_url_request_becomes_a_payload_2_event_and_its_answer_the_http_response(
    gateway: Gateway,
) -> None:
    status, headers, body = request(
        gateway,
        "POST",
        "/url/echo/some/path?b=2&a=1&a=3",
        body=b"\x00\x01binary",
        headers={"Content-Type": "application/octet-stream", "Cookie": "c1=x; c2=y", "X-Thing": "v"},
    )
    event = json.loads(body)["event"]
    assert status == 201 and headers["x-echo"] == "yes"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert (event["version"], event["rawPath"], event["rawQueryString"]) == (
        "2.0",
        "/some/path",
        "b=2&a=1&a=3",
    )
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert event["cookies"] == ["c1=x", "c2=y"] and "cookie" not in event["headers"]
    assert event["headers"]["x-thing"] == "v"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == b"\x00\x01binary"
    status, headers, body = request(gateway, "GET", "/url/echo/binary")
    assert status == 200 and headers["content-type"] == "image/png" and body == b"\x89PNG\x00\x01"


def test_a_function_url_of_a_failing_function_is_a_502_and_an_unknown_one_a_404(gateway: Gateway) -> None:
    status, _, body = request(gateway, "GET", "/url/echo/raise")
    assert status == 502 and "RuntimeError: url boom" in json.loads(body)["error"]["message"]
    status, _, body = request(gateway, "GET", "/url/nothing-here/")
    assert status == 404 and json.loads(body)["error"]["status"] == 404


def test_the_oip_routes_answer_health_metadata_readiness_and_inference(gateway: Gateway) -> None:
    assert request(gateway, "GET", "/v2/health/live")[0] == 200
    status, _, body = request(gateway, "GET", "/v2/health/ready")
    assert status == 200 and json.loads(body) == {"ready": True}
    status, _, body = request(gateway, "GET", "/v2/models/digits")
    metadata = json.loads(body)
    assert status == 200 and metadata["name"] == "digits" and "1" in metadata["versions"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert json.loads(request(gateway, "GET", "/v2/models/affine/ready")[2])["ready"] is True
    for path in ("/v2/models/digits/infer", "/v2/models/digits/versions/1/infer"):
        status, _, body = request(gateway, "POST", path, body=DIGITS_REQUEST)
        assert status == 200 and label_of(json.loads(body)) == [7], path
    status, _, body = request(gateway, "POST", "/v2/models/digits/versions/9/infer", body=DIGITS_REQUEST)
    assert status == 404 and "9" in json.loads(body)["error"]["message"]
    status, _, body = request(gateway, "POST", "/v2/models/unknown/infer", body=DIGITS_REQUEST)
    assert status == 404


def test_tritons_http_client_works_against_the_gateway(gateway: Gateway) -> None:
    pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed")
    host, port = gateway.address
    script = f"""
import json, numpy as np, tritonclient.http as t
client = t.InferenceServerClient(url="{host}:{port}")
row = np.asarray(json.load(open({str(EXAMPLES / "digits-request.json")!r}))["inputs"][0]["data"], np.float32)
as_json, as_binary = t.InferInput("input", [1, 64], "FP32"), t.InferInput("input", [1, 64], "FP32")
as_json.set_data_from_numpy(row.reshape(1, 64), binary_data=False)
as_binary.set_data_from_numpy(row.reshape(1, 64))  # the client's default: raw tensor bytes
json_result = client.infer("digits", [as_json], outputs=[t.InferRequestedOutput("label", binary_data=False)])
binary_result = client.infer("digits", [as_binary], model_version="1")  # binary outputs asked for
print(json.dumps({{"live": client.is_server_live(), "ready": client.is_server_ready(),
                  "model_ready": client.is_model_ready("digits"),
                  "inputs": client.get_model_metadata("digits")["inputs"],
                  "labels": [json_result.as_numpy("label").tolist(), binary_result.as_numpy("label").tolist()]}}))
"""
    # In a child process: tritonclient brings gevent, which must not patch this test process.
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    assert answer["inputs"][0]["name"] == "input" and answer["labels"] == [[7], [7]]


# -- API key and binding -----------------------------------------------------------------------------------


def test_an_api_key_is_required_on_every_route_in_each_routes_error_shape(project: ProjectConfig) -> None:
    with Gateway(LocalTarget(project), port=0, api_key=API_KEY).start() as keyed:
        wrong, right = lambda_client(keyed.url, key="wrong"), lambda_client(keyed.url, key=API_KEY)
        with pytest.raises(ClientError) as refused:
            wrong.invoke(FunctionName="echo", Payload=b"{}")
        allowed = right.invoke(FunctionName="echo", Payload=b"{}")
        allowed["Payload"].read()
        wrong.close()
        right.close()
        no_key = request(keyed, "GET", "/v2/models/echo/ready")
        with_header = request(keyed, "GET", "/v2/health/live", headers={"x-api-key": API_KEY})
        with_bearer = request(keyed, "GET", "/v2/health/live", headers={"Authorization": f"Bearer {API_KEY}"})
    assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert allowed["StatusCode"] == 200
    assert no_key[0] == 403 and json.loads(no_key[2])["error"]["status"] == 403
    assert with_header[0] == 200 and with_bearer[0] == 200


def test_without_an_api_key_only_a_loopback_address_is_served(project: ProjectConfig) -> None:
    target = LocalTarget(project)
    with pytest.raises(ConfigError, match="without an API key") as info:
        Gateway(target, host="0.0.0.0", port=0)
    assert "--api-key" in info.value.hint


@contextlib.contextmanager
def serve_process(project: ProjectConfig, cache_dir: Path) -> Iterator[tuple[subprocess.Popen[str], dict]]:
    """`sls-deploy serve --port 0 --json` in its own process; yields it and its banner."""
    env = {**os.environ, "SLS_DEPLOY_CACHE_DIR": str(cache_dir), "SLS_DEPLOY_PYTHON": project.python}
    command = [
        sys.executable,
        "-m",
        "sls_deploy.commands",
        "-C",
        str(project.project_dir),
        "serve",
        "--port",
        "0",
    ]
    with subprocess.Popen(
        [*command, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:  # the banner as JSON, up to its closing brace
                lines.append(line)
                if line == "}\n":
                    break
            yield proc, json.loads("".join(lines))
        finally:
            if proc.poll() is None:
                proc.kill()


def worker_pid(info: dict) -> int:
    """Invoke echo through a served gateway; the pid of the worker that ran it."""
    host, port = info["url"].removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", "/2015-03-31/functions/echo/invocations", body=b"{}")
    pid = json.loads(connection.getresponse().read())["pid"]
    connection.close()
    return pid


def test_serve_prints_its_endpoints_and_ctrl_c_stops_it_with_its_workers(
    project: ProjectConfig, layer_cache_dir: Path
) -> None:
    with serve_process(project, layer_cache_dir) as (proc, info):
        assert {"digits", "affine", "echo"} <= {f["name"] for f in info["functions"]}
        assert info["memory_enforcement"]
        pid = worker_pid(info)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    assert wait_until_gone(pid), "the worker outlived the server"


def test_a_server_killed_hard_leaves_no_worker_and_no_cgroup_behind(
    project: ProjectConfig, layer_cache_dir: Path
) -> None:
    with serve_process(project, layer_cache_dir) as (proc, info):
        pid = worker_pid(info)
        memory_cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        proc.kill()
        proc.wait()
    assert wait_until_gone(pid, timeout_s=10), "the worker outlived its killed server"
    folder = next(
        (line.split(":", 2)[2].strip() for line in memory_cgroup.splitlines() if ":memory:" in line), ""
    )
    if "/sls-deploy-" not in folder:
        pytest.skip("no memory cgroup on this machine: nothing to leave behind")
    owner = Path("/sys/fs/cgroup/memory" + folder).parent
    assert wait_for(lambda: not owner.exists()), f"{owner} was left behind"
