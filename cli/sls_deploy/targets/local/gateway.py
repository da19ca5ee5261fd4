"""The local gateway (`sls-deploy serve`): one HTTP/1.1 server in front of every deployed function of a project.

Routes (FUNCTION is a deployed model's name, e.g. digits):

=====================================================  =====================================================
``POST /2015-03-31/functions/FUNCTION/invocations``    Lambda's Invoke API (invoke_api.py): boto3 / AWS CLI
``GET  /2015-03-31/functions/``                        Lambda's ListFunctions (each function's $LATEST)
``ANY  /url/FUNCTION[:QUALIFIER]/PATH``                the function URL of FUNCTION (alias live by default):
                                                       the handler gets a payload 2.0 event for ``/PATH``
``GET  /v2``, ``/v2/health/live``, ``/v2/health/ready``  Open Inference Protocol v2 server routes (answered here)
``GET  /v2/models/FUNCTION[/versions/V][/ready]``      OIP model metadata / readiness, and
``POST /v2/models/FUNCTION[/versions/V]/infer``        inference: a function URL event with the same path,
                                                       to the alias live, or to version V
``GET  /``                                             what this gateway serves, as JSON
=====================================================  =====================================================

API key (`api_key`): every request must carry it as `x-api-key: KEY`, `Authorization: Bearer KEY`, or as the
access key id of an AWS SigV4 `Authorization` header (so boto3 and the AWS CLI pass it as their access key;
signatures themselves are never checked). A missing or wrong key is a 403 in each route's own error shape.
Without a key the gateway only binds to a loopback address.

Threads: one per client connection; a request is parsed, run (pool → worker, in the same thread) and
answered by it, so a warm invocation has no thread hand-off here. Every response is one send with
Content-Length; connections stay open (HTTP/1.1 keep-alive) and sockets have TCP_NODELAY.

Side effects: listens on a TCP port; starts and stops worker processes through the target's pool.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sls_inference.codec import error_body

from ... import __version__
from ...core import limits
from ...core.errors import ConfigError, InvocationError, NotDeployedError, ThrottledError
from ...core.jsonable import Jsonable
from ...core.names import ALIAS
from . import function_url, http11, invoke_api
from .resolve_cache import ResolveCache
from .routing import Resolved
from .sandbox import detect_memory_enforcement
from .target import LocalTarget

MAX_REQUEST_BYTES = (
    2 * limits.MAX_SYNC_PAYLOAD_BYTES
)  # read whole up to here, so routes answer in their shape
URL_PREFIX = "/url/"
OIP_PREFIX = "/v2"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint(Jsonable):
    """How to reach one function through the gateway."""

    name: str
    version: str  # the version `live` points at
    invoke_path: str
    function_url: str
    oip_infer_url: str


@dataclass(frozen=True)
class GatewayInfo:
    """What `serve` prints when it starts."""

    url: str
    endpoints: tuple[Endpoint, ...]
    api_key_required: bool
    idle_seconds: int
    memory_enforcement: str
    region: str
    cpu_enforcement: str = ""  # how workers get Lambda's CPU share (emulate_cpu), or that they do not

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "functions": [e.to_json() for e in self.endpoints],
            "api_key_required": self.api_key_required,
            "idle_seconds": self.idle_seconds,
            "memory_enforcement": self.memory_enforcement,
            "cpu_enforcement": self.cpu_enforcement,
            "region": self.region,
        }


class _Reply(Exception):
    """A finished answer raised from inside a route (errors in the route's own shape)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> bytes:
    return http11.response(status, json.dumps(payload).encode(), headers=headers)


def _oip_error(status: int, message: str) -> bytes:
    return _json_reply(status, error_body(status, message))


class Gateway:
    """The HTTP server of one LocalTarget. `serve_forever()` (blocking) or `start()` (a thread); `close()`
    stops it and every worker."""

    def __init__(
        self, target: LocalTarget, host: str = "127.0.0.1", port: int = 3001, api_key: str | None = None
    ) -> None:
        if not api_key and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve on {host} without an API key: anyone who reaches this machine could run "
                "the functions",
                "bind to 127.0.0.1 (the default), or pass --api-key KEY (clients then send it)",
            )
        self.target = target
        self.api_key = api_key or None
        self._region = target.region
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        try:
            self._listener = socket.create_server((host.strip("[]"), port), family=family, backlog=128)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                "choose another --port (0 picks a free one) or stop what uses it",
            ) from exc
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._closed = False
        self._names: set[str] = set()
        self._aws_names: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self._resolver = ResolveCache(target)
        self._answered = threading.local()  # per connection thread: the worker whose 202 waits for us

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def serve_forever(self) -> None:
        """Accept connections until `close()` (or KeyboardInterrupt in the calling thread)."""
        while not self._closed:
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed:
                    sock.close()
                    return
                self._connections.add(sock)
            threading.Thread(
                target=self._serve_connection, args=(sock, str(peer[0])), name="gateway-conn", daemon=True
            ).start()

    def start(self) -> Gateway:
        """Serve from a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, drop open connections, stop every worker of the target."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.target.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> GatewayInfo:
        """The endpoints of every deployed function, for the start-up banner."""
        endpoints = []
        for deployment in self.target.list():
            name = deployment.name
            endpoints.append(
                Endpoint(
                    name=name,
                    version=deployment.version,
                    invoke_path=f"{invoke_api.PREFIX}/{name}/invocations",
                    function_url=f"{self.url}{URL_PREFIX}{name}/",
                    oip_infer_url=f"{self.url}{OIP_PREFIX}/models/{name}/infer",
                )
            )
        return GatewayInfo(
            url=self.url,
            endpoints=tuple(endpoints),
            api_key_required=self.api_key is not None,
            idle_seconds=self.target.idle_seconds,
            memory_enforcement=detect_memory_enforcement().describe(),
            region=self._region,
            cpu_enforcement=self.target.cpu_enforcement(),
        )

    # -- connections ---------------------------------------------------------------------------------------
    def _serve_connection(self, sock: socket.socket, peer: str) -> None:
        parser = http11.RequestParser(MAX_REQUEST_BYTES)
        try:
            while not self._closed:
                try:
                    request = parser.pop()
                    while request is None:
                        if parser.wants_continue:
                            parser.continue_sent()
                            sock.sendall(http11.CONTINUE)
                        chunk = sock.recv(1 << 16)
                        if not chunk:
                            return
                        parser.feed(chunk)
                        request = parser.pop()
                except http11.HttpError as err:
                    sock.sendall(_json_reply(err.status, error_body(err.status, err.message)))
                    return
                try:
                    sock.sendall(self._answer(request, peer))
                finally:
                    self._acknowledge()
                if not request.keep_alive:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _acknowledge(self) -> None:
        """Release the runtime that answered this thread's last invocation (after our response left)."""
        worker = getattr(self._answered, "worker", None)
        if worker is not None:
            self._answered.worker = None
            worker.acknowledge()

    def _invoke(self, resolved: Resolved, payload: bytes, **options: Any) -> Any:
        """pool.run, keeping the worker to acknowledge once the response is sent."""
        result, self._answered.worker = self.target.run(resolved, payload, defer_acknowledge=True, **options)
        return result

    def _answer(self, request: http11.Request, peer: str) -> bytes:
        path = request.raw_path
        try:
            if path.startswith(invoke_api.PREFIX):
                self._check_key(request, lambda_api=True)
                return self._lambda_api(request, path)
            self._check_key(request, lambda_api=False)
            if path.startswith(URL_PREFIX):
                return self._function_url(request, path, peer)
            if path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/"):
                return self._oip(request, path, peer)
            if path == "/" and request.method == "GET":
                return _json_reply(200, self.describe().to_json())
            return _oip_error(
                404,
                f"no route {request.method} {path}; see GET / for the routes and functions served here",
            )
        except _Reply as reply:
            return reply.data
        except Exception as exc:  # a bug here must not leave the client waiting: a 500 that names it
            return _oip_error(
                500, f"the gateway failed on {request.method} {path}: {type(exc).__name__}: {exc}"
            )

    # -- API key -------------------------------------------------------------------------------------------
    def _check_key(self, request: http11.Request, lambda_api: bool) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization", "")
        if given is None and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if given is None and "Credential=" in authorization:
            given = authorization.split("Credential=", 1)[1].split("/", 1)[0].strip()
        if given is not None and hmac.compare_digest(given.encode(), self.api_key.encode()):
            return
        message = (
            "missing or wrong API key: send it as x-api-key, as 'Authorization: Bearer KEY', or (boto3, "
            "AWS CLI) as the access key id"
        )
        if lambda_api:
            raise _Reply(
                invoke_api.ApiError(403, "UnrecognizedClientException", message).to_response(
                    str(uuid.uuid4())
                )
            )
        raise _Reply(_oip_error(403, message))

    # -- functions -----------------------------------------------------------------------------------------
    def _known(self, name: str) -> str | None:
        """The local function `name` refers to (its model name or its AWS function name), else None."""
        for refresh in (False, True):
            if refresh:
                names = self.target.function_names()
                with self._lock:
                    self._names = set(names)
                    self._aws_names = invoke_api.aws_names(self.target.project_name, names)
            if name in self._names:
                return name
            if name in self._aws_names:
                return self._aws_names[name]
        return None

    def _run(self, name: str, qualifier: str, payload: bytes, error: Any) -> Any:
        """Resolve and invoke through the pool; failures become `error(status, message)` replies."""
        try:
            resolved = self._resolver.resolve(name, qualifier)
        except NotDeployedError as exc:
            raise _Reply(error(404, f"{exc.message}; {exc.hint}")) from exc
        try:
            return self._invoke(resolved, payload)
        except ThrottledError as exc:
            raise _Reply(error(429, f"{exc.message}; {exc.hint}")) from exc
        except InvocationError as exc:
            raise _Reply(error(502, f"{exc.message}; {exc.hint}")) from exc

    # -- Lambda's API --------------------------------------------------------------------------------------
    def _lambda_api(self, request: http11.Request, path: str) -> bytes:
        try:
            if request.method == "GET" and path.rstrip("/") == invoke_api.PREFIX:
                return _json_reply(200, self._list_functions())
            match = invoke_api.INVOKE_RE.match(path)
            if match is None or request.method != "POST":
                raise invoke_api.ApiError(
                    404, "UnknownOperationException", f"no Lambda operation {request.method} {path} here"
                )
            target = invoke_api.parse_target(
                unquote(match["function"]), request.query, self._known, self._region
            )
            kind = invoke_api.invocation_type(request.headers)
            payload = invoke_api.check_payload(request.body, kind)
            context = invoke_api.client_context(request.headers)
            try:
                resolved = self._resolver.resolve(target.name, target.qualifier)
            except NotDeployedError as exc:
                raise invoke_api.not_found(exc, target, self._region) from exc
            if kind == "DryRun":
                return invoke_api.accepted(kind)
            invoked_as = target.qualifier if target.explicit else ""
            if kind == "Event":
                self.target.invoke_async(resolved, payload, invoked_as=invoked_as)
                return invoke_api.accepted(kind)
            try:
                result = self._invoke(
                    resolved,
                    payload,
                    client_context=context,
                    invoked_as=invoked_as,
                )
            except ThrottledError as exc:
                raise invoke_api.throttled(exc) from exc
            except InvocationError as exc:
                raise invoke_api.invocation_failed(exc) from exc
            return invoke_api.success(result, target, request.headers.get("x-amz-log-type") == "Tail")
        except invoke_api.ApiError as err:
            return err.to_response(str(uuid.uuid4()))

    def _list_functions(self) -> dict[str, Any]:
        functions = []
        for name in self.target.function_names():
            try:
                record = self.target.resolve(name, "$LATEST").record
            except NotDeployedError:
                continue
            functions.append(invoke_api.function_configuration(self._region, record))
        return {"Functions": functions}

    # -- function URLs and OIP -----------------------------------------------------------------------------
    def _url_invoke(
        self, request: http11.Request, name: str, qualifier: str, raw_path: str, peer: str
    ) -> bytes:
        if len(request.body) > limits.MAX_SYNC_PAYLOAD_BYTES:
            return _oip_error(
                413, f"the request body is {len(request.body)} bytes; at most {limits.MAX_SYNC_PAYLOAD_BYTES}"
            )
        event = function_url.url_event(request, raw_path, peer, name, str(uuid.uuid4()))
        result = self._run(name, qualifier, json.dumps(event).encode(), _oip_error)
        status, headers, body = function_url.url_response(result)
        return http11.response(status, body, headers=headers, content_type=None)

    def _function_url(self, request: http11.Request, path: str, peer: str) -> bytes:
        head, _, rest = path[len(URL_PREFIX) :].partition("/")
        name, _, qualifier = unquote(head).partition(":")
        known = self._known(name)
        if known is None:
            return _oip_error(404, f"no function {name!r} is deployed here; GET / lists them")
        return self._url_invoke(request, known, qualifier or ALIAS, "/" + rest, peer)

    def _oip(self, request: http11.Request, path: str, peer: str) -> bytes:
        parts = [unquote(part) for part in path.split("/") if part]
        if request.method == "GET" and parts in (["v2"], ["v2", "health", "live"], ["v2", "health", "ready"]):
            if parts == ["v2"]:
                return _json_reply(200, {"name": "sls-deploy", "version": __version__, "extensions": []})
            if parts[-1] == "live":
                return _json_reply(200, {"live": True})
            ready = bool(self.target.function_names())
            return _json_reply(200 if ready else 503, {"ready": ready})
        if len(parts) < 3 or parts[1] != "models":
            return _oip_error(404, f"no Open Inference Protocol route {request.method} {path}")
        name = parts[2]
        known = self._known(name)
        if known is None:
            return _oip_error(404, f"model {name!r} is not deployed here; GET / lists the models")
        qualifier = parts[4] if len(parts) >= 5 and parts[3] == "versions" else ALIAS
        return self._url_invoke(request, known, qualifier, path, peer)
