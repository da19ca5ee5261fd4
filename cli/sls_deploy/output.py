"""Rendering for the CLI: rich tables and progress on stderr/stdout, JSON for scripts. No library logic here."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .errors import SlsDeployError

if TYPE_CHECKING:
    from .pipeline import BuildResult, PushResult
    from .targets.base import Deployment, InvokeResult

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def mb(n: int | float) -> str:
    """Decimal units, as Lambda's documented limits are written."""
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def print_error(error: SlsDeployError) -> None:
    stderr.print(f"[bold red]error:[/] {error.message}", markup=True, highlight=False)
    if error.hint:
        stderr.print(f"[bold]hint:[/] {error.hint}", markup=True, highlight=False)


def print_warning(text: str) -> None:
    stderr.print(f"[bold yellow]warning:[/] {text}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress(enabled: bool) -> Iterator[Any]:
    """A spinner with the current step (stderr, terminals only); yields a callable taking the step's text."""
    if not enabled or not stderr.is_terminal:
        yield lambda text: None
        return
    with stderr.status("starting") as status:
        yield lambda text: status.update(text)


def _artifact_table(result: BuildResult) -> Table:
    table = Table(
        title=f"artifacts for {result.function.name} ({result.function.arch}, {result.function.runtime})"
    )
    for column in ("artifact", "unzipped", "zipped", "sha256"):
        table.add_column(column, justify="right" if column in ("unzipped", "zipped") else "left")
    for artifact in (result.function.code, *result.function.layers):
        table.add_row(
            artifact.kind, mb(artifact.unzipped_bytes), mb(artifact.zipped_bytes), artifact.sha256[:12]
        )
    budget = result.budget.to_json()
    table.add_row(
        "total", mb(budget["total_unzipped_bytes"]), "", f"limit {mb(budget['max_unzipped_bytes'])}"
    )
    return table


def print_build(result: BuildResult) -> None:
    for warning in result.warnings:
        print_warning(warning)
    model = result.model
    inputs = ", ".join(f"{s.name}: {s.dtype}{s.shape_text()}" for s in model.inputs)
    outputs = ", ".join(f"{s.name}: {s.dtype}{s.shape_text()}" for s in model.outputs)
    stdout.print(
        f"model {model.path.name}: {mb(model.size_bytes)}, opset {model.opset.get('', '?')}, "
        f"sha256 {model.sha256[:12]}"
    )
    stdout.print(f"  inputs  {inputs}\n  outputs {outputs}")
    stdout.print(_artifact_table(result))
    smoke = result.smoke
    stdout.print(
        f"checked on {smoke.rows} sample rows ({smoke.samples_source}): "
        f"load {smoke.load_ms:.1f} ms, run {smoke.run_ms:.2f} ms"
    )
    stdout.print(f"template: {result.template_path}")


def print_push(result: PushResult) -> None:
    print_build(result.build)
    deployment = result.deployment
    if deployment is None:
        stdout.print("[bold]dry run:[/] nothing was deployed")
        return
    verb = "deployed" if deployment.changed else "unchanged,"
    stdout.print(
        f"[bold green]{verb}[/] {deployment.name} version {deployment.version} "
        f"(alias {deployment.alias}) on the {deployment.target} target"
    )
    stdout.print(f"  invoke with: sls-deploy invoke {deployment.name} --data '<request JSON>'")


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
        table.add_row(d.name, d.version, d.alias, d.target, d.endpoint)
    stdout.print(table)
