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
from rich.table import Table

from .errors import SlsDeployError

if TYPE_CHECKING:
    from .pipeline import BuildResult, CompressResult, PushResult
    from .targets.base import (
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
    if result.compression is not None:
        print_compression(result.compression)
    stdout.print(_artifact_table(result))
    smoke = result.smoke
    stdout.print(
        f"checked on {smoke.rows} sample rows ({smoke.samples_source}): "
        f"load {smoke.load_ms:.1f} ms, run {smoke.run_ms:.2f} ms"
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
            f"  then: sls-deploy promote {deployment.name}   (or: sls-deploy rollback {deployment.name})"
        )
    where = "" if deployment.target == "local" else f" --target {deployment.target}"
    stdout.print(f"  invoke with: sls-deploy invoke {deployment.name}{where} --data '<request JSON>'")
    if deployment.endpoint.startswith("https://"):
        stdout.print(f"  function URL: {deployment.endpoint}")


def print_plan(plan: DeployPlan) -> None:
    stdout.print(f"[bold]plan[/] for {plan.name} on the {plan.target} target: {plan.where}")
    for uri in plan.uploads:
        stdout.print(f"  upload {uri}")
    for note in plan.notes:
        stdout.print(f"  {note}")
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
        f"{info.memory_enforcement}. Ctrl-C stops the server and its workers.",
        markup=False,
    )
