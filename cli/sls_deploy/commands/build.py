"""`build`, `push` and `compress`: from a model file to its layers, template and deployment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.table import Table

from .factory import open_target
from .options import (
    CONTEXT,
    build_options,
    compress_options,
    json_option,
    pop_processing,
    processing_options,
    with_policy,
)
from .output import mb, print_warning, progress, render, routing_text, stdout
from .root import main

if TYPE_CHECKING:
    from ..core.records import DeployPlan
    from ..pipeline import BuildResult, CompressResult, PushResult


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
        f"latency ≤ {record.get('max_slowdown', 0):.2f}× the original; {_rows_text(record)}; low95: the "
        "agreement's 95 % lower bound)",
        pad_edge=False,
        padding=(0, 1, 0, 0),  # eight columns in 80 characters
    )
    table.box = box.SIMPLE
    for column in ("method", "size", "zipped", metric, "low95", "b1", "batch", "verdict"):
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
            "" if not agreement.get("interval95") else f"{agreement['interval95'][0]:.3f}",
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


def _rows_text(record: dict[str, Any]) -> str:
    """How many rows the agreements rest on, and whether calibration rows were kept apart."""
    calibration = record.get("calibration_rows")
    if calibration is None:  # a record written before the samples were split
        return f"{record.get('rows')} sample rows"
    return f"judged on {record.get('rows')} validation rows, {calibration} calibration rows"


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


@main.command(context_settings=CONTEXT)
@build_options
@click.pass_context
def build(
    ctx: click.Context, model: Path, name: str | None, sample: Path | None, as_json: bool, **settings: Any
) -> None:
    """Check MODEL and build everything a deploy needs, deploying nothing.

    Builds the runtime layer (cached), the model layer and the function code as deterministic zips, checks
    them against Lambda's size limits, runs the model layer on the samples with the handler's own loader, and
    writes template.yaml.

    \b
    Example:
      sls-deploy build examples/digits.onnx --name digits --sample examples/digits-samples.npz
    """
    from ..pipeline import build as run_build

    processing = pop_processing(settings)
    config, policy, trust = with_policy(ctx, settings)
    with progress(not as_json) as step:
        result = run_build(
            config,
            model,
            name=name,
            sample=sample,
            progress=step,
            policy=policy,
            trust_pickle=trust,
            target=open_target(config, step),
            processing=processing,
        )
    render(result, as_json, print_build)


@main.command(context_settings=CONTEXT)
@build_options
@click.option("--dry-run", is_flag=True, help="Build and show what would be deployed; deploy nothing.")
@click.option(
    "--canary",
    type=click.FloatRange(0, 100, min_open=True, max_open=True),
    default=None,
    metavar="PCT",
    help="Send PCT % of `live`'s traffic to the new version and the rest to the current one; end it with "
    "`promote` or `rollback`.",
)
@click.pass_context
def push(
    ctx: click.Context,
    model: Path,
    name: str | None,
    sample: Path | None,
    as_json: bool,
    dry_run: bool,
    canary: float | None,
    **settings: Any,
) -> None:
    """Build MODEL and deploy it as a function (publishing a new version only when something changed).

    \b
    Examples:
      sls-deploy push examples/digits.onnx --name digits --sample examples/digits-samples.npz
      sls-deploy push model.onnx --memory 2048 --arch arm64 --json
      sls-deploy push model.onnx --dry-run
      sls-deploy push examples/digits.onnx --sample examples/digits-samples.npz --compress auto
      sls-deploy push digits-int8/              # a folder written by `sls-deploy compress`
      sls-deploy push model.pkl --trust-pickle  # scikit-learn / PyTorch, converted to ONNX first
      sls-deploy push model-v2.onnx --name digits --canary 10   # 10 % of traffic to the new version
    """
    from ..pipeline import push as run_push

    processing = pop_processing(settings)
    config, policy, trust = with_policy(ctx, settings)
    with progress(not as_json) as step:
        result = run_push(
            config,
            open_target(config, step),
            model,
            name=name,
            sample=sample,
            dry_run=dry_run,
            progress=step,
            policy=policy,
            trust_pickle=trust,
            canary_percent=canary,
            processing=processing,
        )
    render(result, as_json, print_push)


@main.command(context_settings=CONTEXT)
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write model.onnx + model.json to (new, empty, or one this command wrote).",
)
@click.option(
    "--name", "-n", default=None, help="Model name recorded in model.json [default: the file's stem]."
)
@click.option(
    "--sample",
    "-s",
    type=click.Path(path_type=Path),
    default=None,
    help="Sample inputs (.npz, .npy or a .json request): agreement is measured and int8-static calibrated on "
    "them. With --tokenizer: texts (.txt, .jsonl, .json, .npz of strings), tokenized as the function does.",
)
@click.option(
    "--memory", type=int, default=None, help="Memory in MB: sets the threads latency is timed with."
)
@click.option(
    "--arch",
    type=click.Choice(["x86_64", "arm64"]),
    default=None,
    help="Deploy architecture (int8-static: unsigned activations on x86_64, signed on arm64).",
)
@processing_options
@compress_options
@json_option
@click.pass_context
def compress(
    ctx: click.Context,
    model: Path,
    out_dir: Path,
    name: str | None,
    sample: Path | None,
    as_json: bool,
    **settings: Any,
) -> None:
    """Compress MODEL without deploying it: measure the candidates against the original on the samples
    (agreement, p50 latency at batch 1 and on a batch, unzipped and zipped size), keep the one the policy
    chooses, and write it with its report to --out. `push DIR` then deploys that choice as it is.

    --compress defaults to auto here. Explicit methods that fail the gate are refused unless --force.

    \b
    Examples:
      sls-deploy compress examples/digits.onnx --sample examples/digits-samples.npz --out digits-small
      sls-deploy compress model.onnx -s samples.npz -o out --compress int8-weight --metric cosine --json
      sls-deploy compress model.onnx -s samples.npz -o out --compress prune:0.5+int8-weight --force
    """
    from ..pipeline import compress as run_compress

    processing = pop_processing(settings)
    config, policy, trust = with_policy(ctx, settings, default_spec="auto")
    with progress(not as_json) as step:
        result = run_compress(
            config,
            model,
            out_dir,
            name=name,
            sample=sample,
            progress=step,
            policy=policy,
            trust_pickle=trust,
            processing=processing,
        )
    render(result, as_json, print_compress)
