"""`versions`, `rollback`, `promote` and `remove`: a function's versions and where `live` sends traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from .factory import open_target
from .options import CONTEXT, json_option, project_config, target_option
from .output import render, routing_text, stdout
from .root import main

if TYPE_CHECKING:
    from ..core.records import AliasChange, FunctionVersions, RemoveResult


def print_versions(result: FunctionVersions) -> None:
    table = Table(title=f"versions of {result.name} (oldest first)")
    for column in ("version", "created (UTC)", "model sha256", "memory", "runtime", "aliases"):
        table.add_column(column, justify="right" if column in ("version", "memory") else "left", no_wrap=True)
    for v in result.versions:
        table.add_row(
            v.version,
            v.created_at.replace("T", " ").removesuffix("Z"),
            v.model_sha256[:12],
            f"{v.memory} MB",
            f"{v.runtime} {v.arch}",
            ", ".join(v.aliases),
        )
    stdout.print(table)
    for alias in result.aliases:
        stdout.print(f"{alias.alias} → {routing_text(alias)}")


def print_alias_change(change: AliasChange) -> None:
    stdout.print(
        f"[bold green]{change.name}[/]: {change.after.alias} → {routing_text(change.after)} "
        f"(was {routing_text(change.before)})"
    )


def print_remove(result: RemoveResult) -> None:
    versions = ", ".join(result.versions)
    stdout.print(
        f"[bold green]removed[/] {result.name} (versions {versions}) from the {result.target} target"
    )
    if result.purged:
        stdout.print(f"  purged {len(result.purged)} artifacts and extracted trees no other function uses")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@target_option
@json_option
@click.pass_context
def versions(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show the published versions of the function NAME and where its aliases send traffic.

    Each push that changes something publishes an immutable version; `live` is the alias every invoke
    uses by default. During a canary, `live` splits its traffic between two versions.

    \b
    Examples:
      sls-deploy versions digits
      sls-deploy versions digits --json
    """

    result = open_target(project_config(ctx)).versions(name)
    render(result, as_json, print_versions)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--to", "to", default=None, metavar="VERSION", help="The version to go back to.")
@target_option
@json_option
@click.pass_context
def rollback(ctx: click.Context, name: str, to: str | None, as_json: bool) -> None:
    """Send all of NAME's `live` traffic back to an earlier version (default: the version before the newest
    one `live` serves — during a canary, the version the canary started from).

    \b
    Examples:
      sls-deploy rollback digits
      sls-deploy rollback digits --to 3 --json
    """

    change = open_target(project_config(ctx)).rollback(name, to=to)
    render(change, as_json, print_alias_change)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@target_option
@json_option
@click.pass_context
def promote(ctx: click.Context, name: str, as_json: bool) -> None:
    """End NAME's canary: send all of `live`'s traffic to the new version (see `push --canary`).

    \b
    Examples:
      sls-deploy push model-v2.onnx --name digits --canary 10
      sls-deploy promote digits
    """

    change = open_target(project_config(ctx)).promote(name)
    render(change, as_json, print_alias_change)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--purge", is_flag=True, help="Also delete artifacts no other function uses, and NAME's logs and metrics."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@target_option
@json_option
@click.pass_context
def remove(ctx: click.Context, name: str, purge: bool, yes: bool, as_json: bool) -> None:
    """Remove the function NAME: all its versions and aliases. Asks first unless --yes or --json.

    \b
    Examples:
      sls-deploy remove digits
      sls-deploy remove digits --purge --yes
    """

    if not (yes or as_json):
        click.confirm(f"Remove {name} and all its versions{' and artifacts' if purge else ''}?", abort=True)
    result = open_target(project_config(ctx)).remove(name, purge=purge)
    render(result, as_json, print_remove)
