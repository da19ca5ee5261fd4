"""`invoke` and `list`: call a deployed function the way its event sources do; list what is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from ..core import limits
from ..targets.events import EVENT_KINDS
from .factory import open_target
from .options import CONTEXT, json_option, project_config, read_payload, target_option
from .output import print_json, print_warning, progress, routing_text, stderr, stdout
from .root import main

if TYPE_CHECKING:
    from ..core.records import Deployment, InvokeResult
    from ..targets.events import StoredObject


def invoke_json(result: InvokeResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "version": result.version,
        "status_code": result.status_code,
        "function_error": result.function_error,
        "payload": result.decoded_payload,
        "report": result.report.to_json(),
        "log_tail": result.log_tail,
        **result.extra,
    }


def print_invoke(result: InvokeResult, show_logs: bool = False) -> None:
    for warning in result.extra.get("warnings", []):
        print_warning(warning)
    if show_logs and result.log_tail:
        stderr.print(result.log_tail.rstrip(), markup=False, highlight=False)
    payload = result.decoded_payload
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    if result.function_error:
        stderr.print(f"[bold red]function error ({result.function_error}):[/]")
    stdout.print(text, markup=False, highlight=False)
    stderr.print(result.report.line(), markup=False, highlight=False)


def print_list(deployments: list[Deployment]) -> None:
    if not deployments:
        stdout.print("nothing deployed yet: sls-deploy push MODEL.onnx")
        return
    table = Table()
    for column in ("name", "version", "alias", "target", "endpoint"):
        table.add_column(column)
    for d in deployments:
        version = d.version if d.routing is None else routing_text(d.routing, short=True)
        table.add_row(d.name, version, d.alias, d.target, d.endpoint)
    stdout.print(table)


def print_stored(stored: StoredObject) -> None:
    stderr.print(f"request stored as s3://{stored.bucket}/{stored.key} ({stored.location})", markup=False)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--data", "-d", default=None, help="The request (event) as JSON text.")
@click.option(
    "--file",
    "-f",
    type=click.Path(path_type=Path, allow_dash=True),
    default=None,
    help="Read the request from a file ('-' for stdin).",
)
@click.option(
    "--qualifier", "-q", default="live", show_default=True, help="Alias or version number to invoke."
)
@click.option("--logs", is_flag=True, help="Also print the function's log output of this invocation.")
@click.option(
    "--event",
    "-e",
    "kind",
    type=click.Choice(EVENT_KINDS),
    default="direct",
    show_default=True,
    help="Deliver the request as this event source would: url (Function URL POST /), sqs (a batch of "
    "messages), s3 (an object-created event for an object holding the request).",
)
@click.option(
    "--batch",
    type=click.IntRange(1, limits.MAX_SQS_BATCH_SIZE),
    default=1,
    show_default=True,
    help="sqs: how many messages carry the request.",
)
@click.option("--split", is_flag=True, help="sqs: the request is a JSON array; one message per element.")
@target_option
@json_option
@click.pass_context
def invoke(
    ctx: click.Context,
    name: str,
    data: str | None,
    file: Path | None,
    qualifier: str,
    logs: bool,
    kind: str,
    batch: int,
    split: bool,
    as_json: bool,
) -> None:
    """Invoke the deployed function NAME with a request and print its response and REPORT.

    Exits with status 1 when the function fails or answers with an error (e.g. a 400 for a bad request).

    The request is the event as the handler receives it on a direct invocation: an Open Inference Protocol v2
    body ({"inputs": [{"name", "shape", "datatype", "data"}]}) or {"instances": [...]}.

    With --event the request is wrapped in the event an event source would deliver, and the exit status
    follows what that source would see as a failure (an HTTP status >= 400, batchItemFailures, S3 objects
    that could not be answered). On the local target an s3 request object is kept under
    .sls-deploy/s3/<bucket>/ and the function's S3 client reads and writes there.

    \b
    Examples:
      sls-deploy invoke digits --file examples/digits-request.json
      sls-deploy invoke digits --data '{"instances": [[0, 0, 5, 13, 9, 1, 0, 0, ...]]}' --json
      sls-deploy invoke digits --file examples/digits-request.json --event url
      sls-deploy invoke digits --file examples/digits-request.json --event sqs --batch 5
      sls-deploy invoke digits --data '[{"instances": [[...]]}, {"instances": [[...]]}]' --event sqs --split
      sls-deploy invoke digits --file examples/digits-request.json --event s3
    """
    from ..targets.events import answer_failed, build_event

    payload = read_payload(data, file)
    config = project_config(ctx)
    with progress(not as_json) as step:
        target = open_target(config, step)
        event, stored = build_event(
            kind,
            payload,
            function_name=name,
            region=config.emulated_region,
            target=target,
            batch=batch,
            split=split,
        )
        result = target.invoke(name, event, qualifier=qualifier)
    if stored is not None and not as_json:
        print_stored(stored)
    if as_json:
        stored_json = None if stored is None else stored.to_json()
        print_json({**invoke_json(result), "event": kind, "object": stored_json})
    else:
        print_invoke(result, show_logs=logs)
    failed = result.error_status is not None or answer_failed(kind, result.decoded_payload)
    if result.function_error or failed:
        ctx.exit(1)


@main.command("list", context_settings=CONTEXT)
@target_option
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the deployed functions with the version their `live` alias points at.

    \b
    Example:
      sls-deploy list --json
    """

    deployments = open_target(project_config(ctx)).list()
    if as_json:
        print_json([d.to_json() for d in deployments])
    else:
        print_list(deployments)
