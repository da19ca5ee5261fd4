"""`cost` and `tune`: what serving a function costs, and the memory size and architecture that serve it best."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from ..core import limits
from ..core.config import ProjectConfig
from ..monitor.estimate import ASSUMED_COLD_START_RATE
from ..monitor.tune import DEFAULT_MEMORIES
from .factory import open_target, open_tune_runner
from .options import (
    CONTEXT,
    arch_list,
    int_list,
    json_option,
    measurement_options,
    project_config,
    read_payload,
    since_option,
    target_option,
)
from .output import progress, render, stdout, usd
from .root import main

if TYPE_CHECKING:
    from ..monitor.estimate import CostReport
    from ..monitor.tune_result import TuneResult


def print_cost(report: CostReport) -> None:
    month, million = report.month, report.per_million
    deployed = (report.arch, report.memory_mb) == (report.deployed_arch, report.deployed_memory_mb)
    setting = f"{report.arch}, {report.memory_mb} MB" + (" (deployed)" if deployed else " (not deployed)")
    stdout.print(f"[bold]{report.name}[/] on the {report.target} target — {setting}")
    stdout.print(f"  {report.basis}", markup=False)
    init = f", INIT {report.init_ms:.0f} ms" if report.init_ms else ""
    stdout.print(
        f"  priced at {report.billed_ms:.1f} ms billed per invocation, "
        f"cold starts {report.cold_start_rate:.2%}{init}"
    )
    table = Table(box=box.SIMPLE)
    table.add_column("USD")
    table.add_column("per 1M requests", justify="right")
    table.add_column(f"per month ({month.requests_per_month:,.0f} req)", justify="right")
    rows = [
        ("compute", usd(million.compute), usd(month.compute)),
        ("requests", usd(million.requests), usd(month.requests)),
        ("INIT (cold starts)", usd(million.init), usd(month.init)),
        ("CloudWatch metrics", "", usd(month.metrics)),
        ("CloudWatch alarms + dashboard", "", usd(month.alarms)),
    ]
    if month.provisioned:
        rows.append(("provisioned concurrency", "", usd(month.provisioned)))
    if month.snapstart:
        rows.append(("SnapStart cache + restores", "", usd(month.snapstart)))
    for row in rows:
        table.add_row(*row)
    table.add_row("[bold]total[/]", usd(million.total), f"[bold]{usd(month.total)}[/]")
    stdout.print(table)
    stdout.print(f"  the month's total per million requests, fixed costs included: {usd(month.per_million)}")
    if report.break_even is not None:
        stdout.print(f"  {report.break_even.summary()}", markup=False)
    prices = report.prices
    stdout.print(f"  prices: {prices.region}, checked {prices.taken} ({prices.source})", markup=False)
    for note in report.notes:
        stdout.print(f"  [dim]note: {note}[/]", highlight=False)


def print_tune(result: TuneResult) -> None:
    """The settings tried (one row each), the choice, the files written and how to deploy the choice."""
    table = Table(
        title=f"{result.name} on the {result.target} target: {result.count} warm invocations per setting "
        f"after a cold start, fastest/slowest 20 % discarded; durations in ms",
        box=box.SIMPLE,
        padding=(0, 1, 0, 0),
    )
    columns = ("MB", "arch", "source", "p50", "p90", "billed", "init", "USD/1M", "verdict")
    for column in columns:
        table.add_column(column, justify="left" if column in ("arch", "source", "verdict") else "right")
    for row in result.rows:
        style = "bold green" if "chosen" in row.verdicts else ("red" if not row.ok else "")
        table.add_row(
            str(row.memory_mb),
            row.arch,
            row.source,
            "" if row.p50_ms is None else f"{row.p50_ms:.2f}",
            "" if row.p90_ms is None else f"{row.p90_ms:.2f}",
            "" if row.billed_mean_ms is None else f"{row.billed_mean_ms:.1f}",
            "" if row.init_ms is None else f"{row.init_ms:.0f}",
            "" if row.cost is None else f"{row.cost.total:.4f}",
            " ".join(row.verdicts),
            style=style,
        )
    stdout.print(table)
    for row in result.rows:
        if not row.ok:
            stdout.print(f"  {row.label} failed: {row.note}", markup=False)
    chosen = result.chosen
    stdout.print(
        f"chosen: [bold]{chosen.memory_mb} MB {chosen.arch}[/] ({chosen.source}) — "
        f"{usd(chosen.cost.total) if chosen.cost else '?'} per million invocations"
    )
    stdout.print(f"  CPU: {result.cpu}", markup=False)
    stdout.print(
        f"  USD/1M: the trimmed average billed ms of the warm invocations, plus INIT for "
        f"{result.cold_start_rate:.1%} of them (cold starts); prices {result.prices}",
        markup=False,
    )
    for note in result.notes:
        stdout.print(f"  [dim]note: {escape(note)}[/]")
    for path in result.files:
        stdout.print(f"  wrote {path}", markup=False)
    if result.applied:
        stdout.print(
            f'  set memory = {chosen.memory_mb} and arch = "{chosen.arch}" in {result.applied}; deploy it with '
            f"`sls-deploy push MODEL --name {result.name}` (every model the project pushes gets these settings)",
            markup=False,
        )
    else:
        stdout.print(
            f"  to use it: `sls-deploy tune {result.name} ... --apply`, or push with --memory {chosen.memory_mb} "
            f"--arch {chosen.arch}",
            markup=False,
        )


def _measurement_request(config: ProjectConfig, name: str, payload: Path | None) -> bytes:
    """The request `cost` and `tune` measure with: --payload's file, else one generated row of the inputs of
    the model last built for `name` in this project."""
    from ..model.folder import model_layer_dir
    from ..monitor.measure import sample_request

    if payload is not None:
        return read_payload(None, payload)
    return sample_request(model_layer_dir(config.state_path / "build" / name))


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--requests", type=click.FloatRange(min=0), default=1_000_000, show_default=True, help="Requests a month."
)
@click.option(
    "--memory",
    type=click.IntRange(limits.MIN_MEMORY_MB, limits.MAX_MEMORY_MB),
    default=None,
    help="Price this memory size (MB) instead of the deployed one; durations are scaled, not measured.",
)
@click.option(
    "--arch",
    type=click.Choice(limits.SUPPORTED_ARCHITECTURES),
    default=None,
    help="Price this architecture instead of the deployed one; durations are assumed equal.",
)
@click.option(
    "--vs-hourly",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="USD per hour of an always-on server: show the volume below which Lambda is cheaper.",
)
@click.option(
    "--cold-start-rate",
    type=click.FloatRange(0, 1),
    default=None,
    help="Share of invocations that are cold starts, 0-1 [default: the metrics'; 0.01 without metrics].",
)
@since_option("24h")
@measurement_options("Request to measure with when there are no metrics", "Invocations to measure.")
@target_option
@json_option
@click.pass_context
def cost(
    ctx: click.Context,
    name: str,
    requests: float,
    memory: int | None,
    arch: str | None,
    vs_hourly: float | None,
    cold_start_rate: float | None,
    since: float,
    payload: Path | None,
    count: int,
    as_json: bool,
) -> None:
    """What serving the function NAME costs on Lambda: per million requests and per month, split into
    compute, requests, INIT (cold starts), CloudWatch metrics and alarms, and provisioned concurrency or
    SnapStart when they are configured.

    Durations, cold-start rate and INIT duration come from the function's metrics since --since; without
    metrics the function is invoked --count times now. Prices: us-east-1 (or --region's) as checked on the
    date shown; a [prices] table in the config file replaces them.

    \b
    Examples:
      sls-deploy cost digits
      sls-deploy cost digits --requests 50000000 --vs-hourly 0.0416
      sls-deploy cost digits --arch arm64 --memory 2048 --json
    """
    from ..monitor.estimate import estimate_cost

    config = project_config(ctx)

    def request() -> bytes:
        return _measurement_request(config, name, payload)

    with progress(not as_json) as step:
        report = estimate_cost(
            config,
            open_target(config, step),
            name,
            since=since,
            requests=requests,
            memory_mb=memory,
            arch=arch,
            vs_hourly=vs_hourly,
            cold_start_rate=cold_start_rate,
            payload=request,
            count=count,
            progress=step,
        )
    render(report, as_json, print_cost)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--memory",
    "memories",
    default=",".join(map(str, DEFAULT_MEMORIES)),
    show_default=True,
    callback=int_list,
    help="Memory sizes (MB) to try, comma-separated.",
)
@click.option(
    "--arch",
    "archs",
    default="x86_64,arm64",
    show_default=True,
    callback=arch_list,
    help="Architectures; one this target cannot run here is projected from the one it runs (labelled).",
)
@measurement_options("The request to tune with", "Warm invocations per setting (after one cold start).")
@click.option(
    "--strategy",
    type=click.Choice(["cost", "speed", "balanced"]),
    default="cost",
    show_default=True,
    help="cheapest, fastest, or Power Tuning's balance of normalised cost and duration (weight 0.5).",
)
@click.option(
    "--cold-start-rate",
    type=click.FloatRange(0, 1),
    default=ASSUMED_COLD_START_RATE,
    show_default=True,
    help="Share of invocations that start cold: each setting's measured INIT duration is billed for them.",
)
@click.option(
    "--apply", "apply_choice", is_flag=True, help="Write the chosen memory and arch into the config file."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for tune-NAME.png/.html/.json [default: .sls-deploy/tune].",
)
@target_option
@json_option
@click.pass_context
def tune(
    ctx: click.Context,
    name: str,
    memories: list[int],
    archs: list[str],
    payload: Path | None,
    count: int,
    strategy: str,
    cold_start_rate: float,
    apply_choice: bool,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Find the memory size and architecture that serve NAME cheapest (or fastest, or balanced), the way AWS
    Lambda Power Tuning does: for each memory size a fresh environment of the `live` version at that size,
    one cold start, then -n warm invocations; the fastest and slowest 20 % are discarded, the rest averaged
    and priced per million invocations, with the setting's INIT duration billed for --cold-start-rate of
    them. Writes a chart (PNG + HTML) and the figures (JSON).

    The local target holds each worker to the memory size's CPU share (MemorySize / 1,769 MB of a vCPU, a
    cgroup CPU quota); where it cannot, the figures are labelled estimates. The aws target publishes a
    temporary version and alias per memory size and always deletes them (and restores $LATEST's memory),
    also on errors and Ctrl-C. An architecture the target cannot run here is projected, labelled as such.

    \b
    Examples:
      sls-deploy tune digits
      sls-deploy tune digits --memory 128,512,1024,1769 -n 10 --strategy balanced
      sls-deploy tune digits --payload examples/digits-request.json --apply
      sls-deploy tune digits --target aws --arch x86_64 --json
    """
    from dataclasses import replace as replaced

    from ..core.config_edit import write_settings
    from ..core.prices import prices_for
    from ..monitor.chart import write_tune_files
    from ..monitor.estimate import target_region
    from ..monitor.tune import check_request
    from ..monitor.tune import tune as run_tune

    check_request(memories, archs, count, strategy)
    config = project_config(ctx)
    with progress(not as_json) as step:
        target = open_target(config, step)
        runner = open_tune_runner(target, name)  # an undeployed NAME fails here, naming what is deployed
        try:
            request = _measurement_request(config, name, payload)
        except BaseException:
            runner.close()
            raise
        result = run_tune(
            runner,
            name,
            request,
            prices=prices_for(target_region(config, target), config.prices),
            memories=memories,
            archs=archs,
            count=count,
            strategy=strategy,
            progress=step,
            cold_start_rate=cold_start_rate,
        )
        step("drawing the chart")
        files = write_tune_files(result, out_dir or config.state_path / "tune")
    result = replaced(result, files=tuple(str(path) for path in files))
    if apply_choice:
        chosen = result.chosen
        written = write_settings(config.project_dir, {"memory": chosen.memory_mb, "arch": chosen.arch})
        result = replaced(result, applied=str(written))
    render(result, as_json, print_tune)
