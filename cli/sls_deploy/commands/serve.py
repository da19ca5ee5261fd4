"""`serve`: the local target's functions over HTTP (Lambda Invoke API, function URLs, Open Inference Protocol v2)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import SlsDeployError
from .factory import open_target
from .options import CONTEXT, json_option, project_config
from .output import print_json, print_notice, print_warning, stderr, stdout
from .root import main

if TYPE_CHECKING:
    from ..targets.local.gateway import GatewayInfo


def print_serve(info: GatewayInfo) -> None:
    """The gateway's start-up banner: its routes per function, how to call it, how it confines workers."""
    auth = "required (x-api-key, Bearer, or boto3's access key id)" if info.api_key_required else "none"
    stdout.print(f"[bold]sls-deploy serve[/] on {info.url}  (api key: {auth})")
    if not info.endpoints:
        print_warning("no function is deployed yet: push one, it is served without a restart")
    for endpoint in info.endpoints:
        stdout.print(f"  [bold]{endpoint.name}[/] (live → version {endpoint.version})")
        stdout.print(f"    Invoke API    POST {info.url}{endpoint.invoke_path}", markup=False)
        stdout.print(f"    function URL  {endpoint.function_url}", markup=False)
        stdout.print(f"    OIP v2        POST {endpoint.oip_infer_url}", markup=False)
    name = info.endpoints[0].name if info.endpoints else "FUNCTION"
    key = "KEY" if info.api_key_required else "local"
    stdout.print("boto3:", style="bold")
    stdout.print(
        f'  boto3.client("lambda", endpoint_url="{info.url}", region_name="{info.region}",\n'
        f'               aws_access_key_id="{key}", aws_secret_access_key="local")'
        f'.invoke(FunctionName="{name}", Qualifier="live", Payload=request_bytes)',
        markup=False,
    )
    stdout.print("AWS CLI:", style="bold")
    stdout.print(
        f"  aws lambda invoke --endpoint-url {info.url} --function-name {name} --qualifier live "
        "--payload file://request.json json",
        markup=False,
    )
    stdout.print(
        f"workers: started on demand, exit after {info.idle_seconds} s idle; memory: "
        f"{info.memory_enforcement}; CPU: {info.cpu_enforcement}. Ctrl-C stops the server and its workers.",
        markup=False,
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@main.command(context_settings=CONTEXT)
@click.option(
    "--port", "-p", type=int, default=None, help="TCP port [default: 3001, or `port` in the config]."
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (not loopback: needs --api-key)."
)
@click.option(
    "--api-key",
    default=None,
    envvar="SLS_DEPLOY_API_KEY",
    help="Require this key on every request (x-api-key, Bearer, or boto3's access key id). "
    "Also read from SLS_DEPLOY_API_KEY.",
)
@click.option(
    "--idle-seconds",
    type=int,
    default=None,
    help="A warm worker idle this long exits (scale to zero) [default: 300, or `idle_seconds`].",
)
@json_option
@click.pass_context
def serve(
    ctx: click.Context,
    port: int | None,
    host: str,
    api_key: str | None,
    idle_seconds: int | None,
    as_json: bool,
) -> None:
    """Serve every deployed function of the project over HTTP until Ctrl-C (local target).

    Workers start on the first request to a function (a cold start), are reused while requests keep
    coming, run up to the function's reserved concurrency (else 10 at once; more is a 429), and exit after
    --idle-seconds without work. Each worker is held to its MemorySize and Timeout.

    \b
    Routes (FUNCTION is a model name such as digits):
      POST /2015-03-31/functions/FUNCTION/invocations   Lambda's Invoke API (boto3, AWS CLI)
      ANY  /url/FUNCTION/PATH                           the function URL (alias live)
      GET  /v2/health/ready, /v2/models/FUNCTION        Open Inference Protocol v2 (KServe, Triton clients)
      POST /v2/models/FUNCTION[/versions/N]/infer
      GET  /                                            what is served, as JSON

    \b
    Examples:
      sls-deploy serve
      sls-deploy serve --port 8080 --idle-seconds 60
      sls-deploy serve --host 0.0.0.0 --api-key "$(openssl rand -hex 16)"
      curl -s localhost:3001/v2/models/digits/infer -d @examples/digits-request.json
      aws lambda invoke --endpoint-url http://127.0.0.1:3001 --function-name digits \\
          --payload file://examples/digits-request.json json
    """
    from ..targets.local.gateway import Gateway
    from ..targets.local.target import LocalTarget

    config = project_config(ctx, port=port, idle_seconds=idle_seconds)
    # What the platform says while serving (a canary rolled back, the worker runtime installed) goes to stderr.
    target = open_target(config, print_notice)
    if not isinstance(target, LocalTarget):
        raise SlsDeployError(
            f"serve runs the local target; this project's target is {config.target}",
            "use --target local, or call the deployed function URL on AWS",
        )
    gateway = Gateway(target, host=host, port=config.port, api_key=api_key)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        info = gateway.describe()
        if as_json:
            print_json(info.to_json())
        else:
            print_serve(info)
        gateway.serve_forever()
    except KeyboardInterrupt:
        stderr.print("stopping: the workers are shut down")
    finally:
        gateway.close()
