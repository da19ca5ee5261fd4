"""Rendering for the CLI: rich tables and progress on stderr/stdout, JSON for scripts. No library logic here."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .core.errors import SlsDeployError

if TYPE_CHECKING:
    from .core.records import (
        AlarmState,
        AliasChange,
        AliasRouting,
        Deployment,
        DeployPlan,
        FunctionVersions,
        InvokeResult,
        LogEvent,
        MetricsResult,
        RemoveResult,
        Stats,
    )
    from .monitor.drift import DriftReport
    from .monitor.estimate import CostReport
    from .monitor.status import StatusReport
    from .monitor.tune import TuneResult
    from .pipeline import BuildResult, CompressResult, PushResult
    from .targets.events import StoredObject
    from .targets.local.gateway import GatewayInfo

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def mb(n: int | float) -> str:
    """Decimal units, as Lambda's documented limits are written."""
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def print_error(error: SlsDeployError) -> None:
    stderr.print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False)
    if error.hint:
        stderr.print(f"[bold]hint:[/] {escape(error.hint)}", markup=True, highlight=False)


def print_warning(text: str) -> None:
    stderr.print(f"[bold yellow]warning:[/] {text}")


def print_notice(text: str) -> None:
    """A line from the platform while it serves (no spinner runs there)."""
    stderr.print(f"[bold]sls-deploy:[/] {escape(text)}")


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
    if result.compression is not None:
        print_compression(result.compression)
    stdout.print(_artifact_table(result))
    smoke = result.smoke
    stdout.print(
        f"checked on {smoke.rows} sample rows ({smoke.samples_source}): "
        f"load {smoke.load_ms:.1f} ms, run {smoke.run_ms:.2f} ms"
    )
    if result.drift is not None:
        drift = result.drift
        stdout.print(
            f"drift baseline {drift['baseline']}: {drift['features']} input features, prediction "
            f"{drift['prediction'] or '–'}; reported every {drift['every']} rows or {drift['seconds']} s",
            markup=False,
        )
    stdout.print(f"template: {result.template_path}")


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def print_compression(record: dict[str, Any]) -> None:
    """The candidates table of a compression report (or of model.json's record, which has no timings or
    reasons) and the choice."""
    candidates = record.get("report") or []
    if not candidates:
        stdout.print(f"compression: {record.get('method', 'none')}")
        return
    metric = record.get("metric", "")
    table = Table(
        title=f"compression candidates ({metric} ≥ {record.get('min_agreement', 0):.3f}, "
        f"latency ≤ {record.get('max_slowdown', 0):.2f}× the original; {record.get('rows')} sample rows)"
    )
    table.box = box.SIMPLE
    for column in ("method", "size", "zipped", metric, "b1", "batch", "verdict"):
        table.add_column(column, justify="left" if column in ("method", "verdict") else "right", no_wrap=True)
    reasons = []
    for c in candidates:
        agreement = c.get("agreement") or {}
        latency = c.get("latency") or {}
        value = agreement.get("value")
        style = {"chosen": "bold green", "refused": "yellow", "failed": "red"}.get(c["verdict"], "")
        table.add_row(
            c["method"],
            "" if c.get("size_bytes") is None else mb(c["size_bytes"]),
            "" if c.get("zipped_bytes") is None else mb(c["zipped_bytes"]),
            "" if value is None else f"{value:.4f}",
            _ratio(latency.get("ratio_b1")),
            _ratio(latency.get("ratio_batch")),
            c["verdict"],
            style=style,
        )
        if c["verdict"] in ("refused", "failed"):
            reasons.append(f"  {c['method']} {c['verdict']}: {c.get('reason', '')}")
    stdout.print(table)
    for line in reasons:
        stdout.print(line, markup=False)
    why = f" — {record['reason']}" if record.get("reason") else ""
    stdout.print(f"compression: [bold]{record.get('method')}[/]{why}")


def print_compress(result: CompressResult) -> None:
    for warning in result.warnings:
        print_warning(warning)
    print_compression(result.compression)
    stdout.print(
        f"wrote {result.out_dir}/model.onnx and model.json; deploy it with: sls-deploy push {result.out_dir}"
    )


def print_push(result: PushResult) -> None:
    print_build(result.build)
    deployment = result.deployment
    if deployment is None:
        if result.plan is not None:
            print_plan(result.plan)
        stdout.print("[bold]dry run:[/] nothing was deployed")
        return
    verb = "deployed" if deployment.changed else "unchanged,"
    stdout.print(
        f"[bold green]{verb}[/] {deployment.name} version {deployment.version} "
        f"(alias {deployment.alias}) on the {deployment.target} target"
    )
    if deployment.routing is not None and deployment.routing.extra_version is not None:
        stdout.print(f"  canary: {deployment.alias} → {routing_text(deployment.routing)}")
        stdout.print(
            "  an error-rate or p99-duration alarm on the new version rolls live back by itself "
            f"(see: sls-deploy alarms {deployment.name})"
        )
        stdout.print(
            f"  then: sls-deploy promote {deployment.name}   (or: sls-deploy rollback {deployment.name})"
        )
    where = "" if deployment.target == "local" else f" --target {deployment.target}"
    stdout.print(f"  invoke with: sls-deploy invoke {deployment.name}{where} --data '<request JSON>'")
    if deployment.endpoint.startswith("https://"):
        stdout.print(f"  function URL: {deployment.endpoint}")


def print_plan(plan: DeployPlan) -> None:
    stdout.print(f"[bold]plan[/] for {plan.name} on the {plan.target} target: {plan.where}")
    if not plan.steps:  # a plan's steps name its uploads ("store ..."); without steps they stand alone
        for uri in plan.uploads:
            stdout.print(f"  upload {uri}")
    for note in plan.notes:
        stdout.print(f"  {note}")
    for step in plan.steps:
        stdout.print(f"  {step}")
    if plan.changes:
        table = Table()
        for column in ("action", "resource", "type", "replacement"):
            table.add_column(column)
        for change in plan.changes:
            table.add_row(change.action, change.logical_id, change.resource_type, change.replacement)
        stdout.print(table)


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


def routing_text(routing: AliasRouting, short: bool = False) -> str:
    """`version 2` or, during a canary, `version 2 (90 %) and version 3 (10 %)` (short: `2 (90 %), 3 (10 %)`)."""
    if routing.extra_version is None:
        return routing.version if short else f"version {routing.version}"
    extra = routing.extra_weight * 100
    if short:
        return f"{routing.version} ({100 - extra:g} %), {routing.extra_version} ({extra:g} %)"
    return f"version {routing.version} ({100 - extra:g} %) and version {routing.extra_version} ({extra:g} %)"


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


def usd(value: float) -> str:
    """Dollars with cents; four decimals under a dollar; amounts under $0.0001 in scientific notation."""
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.0001 else f"${value:.2e}"


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


def print_stored(stored: StoredObject) -> None:
    stderr.print(f"request stored as s3://{stored.bucket}/{stored.key} ({stored.location})", markup=False)


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
        "--payload file://request.json out.json",
        markup=False,
    )
    stdout.print(
        f"workers: started on demand, exit after {info.idle_seconds} s idle; memory: "
        f"{info.memory_enforcement}; CPU: {info.cpu_enforcement}. Ctrl-C stops the server and its workers.",
        markup=False,
    )
