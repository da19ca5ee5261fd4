"""`logs`, `metrics`, `drift`, `alarms` and `status`: what the deployed functions did and how they fare."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from .factory import open_target
from .options import CONTEXT, json_option, project_config, since_option, target_option
from .output import print_json, progress, render, routing_text, stdout
from .root import main

if TYPE_CHECKING:
    from ..core.records import AlarmState, LogEvent, MetricsResult, Stats
    from ..monitor.drift import DriftReport
    from ..monitor.status import StatusReport


def log_line(event: LogEvent) -> str:
    """`2026-11-29T08:00:00.123Z [2] message`, as `aws logs tail` shows an event."""
    moment = datetime.fromtimestamp(event.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{moment}Z [{event.version or '$LATEST'}] {event.message}"


def print_log_event(event: LogEvent, as_json: bool = False) -> None:
    """One event: a text line, or one JSON object per line (--json)."""
    if as_json:
        sys.stdout.write(json.dumps(event.to_json()) + "\n")
        sys.stdout.flush()
    else:
        stdout.print(log_line(event), markup=False, highlight=False)


def _stats_row(name: str, stats: Stats) -> list[str]:
    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    return [
        name,
        str(stats.count),
        ms(stats.p50),
        ms(stats.p90),
        ms(stats.p99),
        ms(stats.average),
        ms(stats.maximum),
    ]


def print_metrics(result: MetricsResult) -> None:
    start = datetime.fromtimestamp(result.start, UTC).strftime("%Y-%m-%d %H:%M:%S")
    end = datetime.fromtimestamp(result.end, UTC).strftime("%Y-%m-%d %H:%M:%S")
    stdout.print(f"[bold]{result.name}[/] on the {result.target} target, {start} – {end} UTC")
    concurrency = "" if result.max_concurrency is None else f", max concurrency {result.max_concurrency}"
    stdout.print(
        f"  invocations {result.invocations}, errors {result.errors}, throttles {result.throttles}, "
        f"cold starts {result.cold_starts}{concurrency}"
    )
    table = Table()
    for column in ("ms", "count", "p50", "p90", "p99", "average", "max"):
        table.add_column(column, justify="left" if column == "ms" else "right")
    for name, stats in (
        ("duration", result.duration_ms),
        ("init duration", result.init_duration_ms),
        ("inference latency", result.inference_latency_ms),
    ):
        table.add_row(*_stats_row(name, stats))
    stdout.print(table)
    if result.input_drift_psi is not None or result.prediction_drift_psi is not None:
        stdout.print(
            f"  drift (average PSI of the reports): inputs {_psi(result.input_drift_psi)} "
            f"(highest {_psi(result.input_drift_psi_max)}), predictions {_psi(result.prediction_drift_psi)}"
        )


def _psi(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


_VERDICT_STYLE = {"stable": "green", "moderate": "yellow", "significant": "bold red"}


def _verdict(text: str) -> str:
    style = _VERDICT_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


def print_drift(report: DriftReport, top: int = 10) -> None:
    """The drift verdict, the overall PSIs and the `top` features with the highest PSI."""
    if not report.windows:
        stdout.print(report.message, markup=False)
        return
    start = datetime.fromtimestamp(report.start, UTC).strftime("%Y-%m-%d %H:%M:%S")
    end = datetime.fromtimestamp(report.end, UTC).strftime("%Y-%m-%d %H:%M:%S")
    stdout.print(
        f"[bold]{escape(report.name)}[/] version {escape(report.version or '?')}, {start} – {end} UTC: "
        f"{report.rows} rows in {report.windows} windows, baseline {report.baseline}"
    )
    output = f" ({escape(report.prediction_output)})" if report.prediction_output else ""
    approximate = " (approximate)" if report.approximate else ""
    stdout.print(
        f"  drift: {_verdict(report.verdict)}{approximate} — inputs {_psi(report.input_psi)}, "
        f"predictions{output} {_psi(report.prediction_psi)}  (PSI < 0.1 stable, ≤ 0.25 moderate, "
        "above significant)"
    )
    if report.features:
        table = Table(box=box.SIMPLE)
        for column in ("feature", "psi", "verdict"):
            table.add_column(column, justify="right" if column == "psi" else "left")
        for feature, value, band in report.features[:top]:
            table.add_row(escape(feature), f"{value:.3f}", _verdict(band))
        stdout.print(table)
        if len(report.features) > top:
            stdout.print(f"  … {len(report.features) - top} more features (--json lists all)")
    for note in report.notes:
        stdout.print(f"  note: {note}", markup=False)


_STATE_STYLE = {"OK": "green", "ALARM": "bold red", "INSUFFICIENT_DATA": "yellow"}


def print_alarms(states: list[AlarmState]) -> None:
    if not states:
        stdout.print("no alarms: nothing is deployed")
        return
    table = Table(box=box.SIMPLE)
    for column in ("model", "alarm", "state", "value", "threshold", "reason"):
        table.add_column(column, justify="right" if column in ("value", "threshold") else "left")
    for alarm in states:
        style = _STATE_STYLE.get(alarm.state, "")
        table.add_row(
            alarm.model,
            alarm.rule + (f" (v{alarm.version})" if alarm.version else ""),
            f"[{style}]{alarm.state}[/]" if style else alarm.state,
            "–" if alarm.value is None else f"{alarm.value:.3g}",
            f"{alarm.threshold:g}",
            alarm.reason,
        )
    stdout.print(table)


def print_status(report: StatusReport) -> None:
    start = datetime.fromtimestamp(report.start, UTC).strftime("%H:%M")
    end = datetime.fromtimestamp(report.end, UTC).strftime("%H:%M")
    stdout.print(f"[bold]{report.target} target[/], {start} – {end} UTC")
    if not report.models:
        stdout.print("nothing is deployed: `sls-deploy push MODEL`")
        return
    table = Table(box=box.SIMPLE)
    columns = ("model", "live", "invoked", "errors", "p99 ms", "cold", "drift", "alarms")
    for column in columns:
        table.add_column(
            column, justify="right" if column in ("invoked", "errors", "p99 ms", "cold") else "left"
        )
    for model in report.models:
        firing = model.firing
        alarms = ", ".join(a.rule for a in firing) if firing else "ok"
        drift = (
            model.drift if model.input_drift_psi is None else f"{model.drift} ({model.input_drift_psi:.2f})"
        )
        table.add_row(
            model.name,
            routing_text(model.routing, short=True) if model.routing else model.version,
            str(model.invocations),
            str(model.errors),
            "–" if model.p99_ms is None else f"{model.p99_ms:.1f}",
            str(model.cold_starts),
            drift,
            f"[bold red]{alarms}[/]" if firing else f"[green]{alarms}[/]",
        )
    stdout.print(table)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@since_option("10m")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--filter", "filter_text", default=None, help="Only events containing this text.")
@target_option
@json_option
@click.pass_context
def logs(
    ctx: click.Context, name: str, since: float, follow: bool, filter_text: str | None, as_json: bool
) -> None:
    """Print what the function NAME logged: its own lines and the platform's START, END and REPORT lines,
    oldest first. With --json, one JSON object per line.

    \b
    Examples:
      sls-deploy logs digits
      sls-deploy logs digits --since 1h --filter ERROR
      sls-deploy logs digits --follow
      sls-deploy logs digits --since 2026-11-29T08:00:00Z --json
    """

    try:
        for event in open_target(project_config(ctx)).logs(
            name, since, filter_text=filter_text, follow=follow
        ):
            print_log_event(event, as_json)
    except KeyboardInterrupt:
        pass


@main.command(context_settings=CONTEXT)
@click.argument("name")
@since_option("1h")
@target_option
@json_option
@click.pass_context
def metrics(ctx: click.Context, name: str, since: float, as_json: bool) -> None:
    """Show the function NAME's metrics since --since: invocations, errors, throttles, cold starts, peak
    concurrency, and p50/p90/p99/average/max of duration, init duration and the model's inference latency.

    \b
    Examples:
      sls-deploy metrics digits
      sls-deploy metrics digits --since 1d --json
    """

    result = open_target(project_config(ctx)).metrics(name, since)
    render(result, as_json, print_metrics)


@main.command(context_settings=CONTEXT)
@click.argument("name")
@since_option("1h")
@target_option
@json_option
@click.pass_context
def drift(ctx: click.Context, name: str, since: float, as_json: bool) -> None:
    """Show how far NAME's inputs and predictions since --since have drifted from the push-time baseline
    (the --sample rows): PSI per feature, highest first, and a verdict (< 0.1 stable, 0.1–0.25 moderate,
    above: significant). Sums the "drift window" lines the function logs every `drift_every` rows or
    `drift_seconds` seconds of traffic, for the model version `live` serves.

    \b
    Examples:
      sls-deploy drift digits
      sls-deploy drift digits --since 1d --json
    """
    from ..monitor.drift import drift_report

    config = project_config(ctx)
    report = drift_report(open_target(config), name, since, build_dir=config.state_path / "build")
    render(report, as_json, print_drift)


@main.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@target_option
@json_option
@click.pass_context
def alarms(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Show the alarm states of NAME (default: every model): error rate and p99 duration of `live`, and
    input drift. On aws CloudWatch's alarms; locally the same rules evaluated against the local metrics —
    during a canary, over the canary version's invocations (an alarm there rolls `live` back).

    \b
    Examples:
      sls-deploy alarms
      sls-deploy alarms digits --target aws --json
    """

    states = open_target(project_config(ctx)).alarms(name)
    if as_json:
        print_json([state.to_json() for state in states])
    else:
        print_alarms(states)


@main.command(context_settings=CONTEXT)
@target_option
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """One row per deployed model: the version `live` serves (with a canary's share), invocations, errors,
    p99 duration and cold starts in the last hour, the input-drift verdict, and firing alarms.

    \b
    Examples:
      sls-deploy status
      sls-deploy status --target aws --json
    """
    from ..monitor.status import project_status

    with progress(not as_json) as step:
        report = project_status(open_target(project_config(ctx), step), progress=step)
    render(report, as_json, print_status)
