"""The `sls-deploy` command line: each command parses its options, calls the library, renders the result.

Exit codes: 0 success, 1 user error (a message and a hint, no traceback), 2 usage error.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import __version__
from . import output as out
from .core import limits
from .core.config import ProjectConfig, load_config
from .core.errors import SlsDeployError
from .core.timespec import parse_since
from .monitor.estimate import ASSUMED_COLD_START_RATE
from .monitor.tune import DEFAULT_MEMORIES
from .targets.events import EVENT_KINDS

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    """An SlsDeployError on its way out: printed as a short paragraph with its hint, exit status 1."""

    exit_code = 1

    def __init__(self, error: SlsDeployError) -> None:
        super().__init__(error.message)
        self.error = error

    def show(self, file: Any = None) -> None:
        out.print_error(self.error)


class Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlsDeployError as exc:
            raise UserError(exc) from None


def open_target(config: ProjectConfig, progress: Any = None) -> Any:
    if config.target == "local":
        from .targets.local.target import LocalTarget

        return LocalTarget(config, progress=progress)
    from .targets.aws.target import AwsTarget

    return AwsTarget(config, progress=progress)


def _config(ctx: click.Context, **overrides: Any) -> ProjectConfig:
    """The project's configuration with this command's flags (and its target flags) on top."""
    return load_config(ctx.obj["project_dir"], {**ctx.obj.get("target_flags", {}), **overrides})


def _render(result: Any, as_json: bool, printer: Any) -> None:
    """A command's result: its to_json() as JSON with --json, else the rich rendering."""
    if as_json:
        out.print_json(result.to_json())
    else:
        printer(result)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


def _remember_target_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.ensure_object(dict).setdefault("target_flags", {})[param.name] = value


def target_option(func: Any) -> Any:
    """--target and the AWS target's --region/--profile/--stack-name; they reach the command's
    configuration through _config, not as parameters."""
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "--target",
            {
                "type": click.Choice(["local", "aws"]),
                "help": "Where the functions live [default: local, or `target` in the config].",
            },
        ),
        ("--region", {"help": "AWS region (aws target) [default: the AWS configuration's region]."}),
        ("--profile", {"help": "AWS named profile (aws target) [default: boto3's credential chain]."}),
        ("--stack-name", {"help": "CloudFormation stack (aws target) [default: sls-deploy-<project>]."}),
    ]
    for flag, settings in reversed(options):
        func = click.option(
            flag, default=None, expose_value=False, callback=_remember_target_flag, **settings
        )(func)
    return func


def compress_options(func: Any) -> Any:
    """--compress and the gate's settings, and --trust-pickle for models that are not ONNX yet."""
    options = [
        click.option(
            "--compress",
            default=None,
            help="none (default for build/push), auto, or a method: int8-weight, int4-weight, int8-dynamic, "
            "int8-static, fp16, prune:0.5, combined with + (prune:0.5+int8-weight); ':tensor'/':channel' pick "
            "the scale granularity. Every candidate is measured against the original on the samples. auto "
            "builds and measures 7 candidates: ~2 s for a small MLP, ~2 minutes for a 90 MB transformer "
            "encoder on 2 cores.",
        ),
        click.option(
            "--metric",
            type=click.Choice(["auto", "top1", "cosine"]),
            default=None,
            help="Agreement metric [default: top1 for label/probability outputs, else cosine].",
        ),
        click.option(
            "--min-agreement",
            type=float,
            default=None,
            help="Lowest agreement a candidate may have, 0-1 [default: 0.995 for top1 and cosine].",
        ),
        click.option(
            "--max-slowdown",
            type=float,
            default=None,
            help="Highest p50 latency allowed, relative to the original [default: 1.05].",
        ),
        click.option("--force", is_flag=True, help="Use the method asked for even if it fails the gate."),
        click.option(
            "--trust-pickle",
            is_flag=True,
            help="Allow loading a pickled model (.pkl/.joblib, torch.save): unpickling runs code stored in "
            "the file, so only for files you made or trust.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _with_policy(ctx: click.Context, settings: dict[str, Any], default_spec: str | None = None) -> Any:
    """(config, compression policy, trust_pickle) from a command's flags; the gate's per-command flags
    (--metric, --force, --trust-pickle) are not configuration settings."""
    from .compress import CompressionPolicy

    metric, force, trust = settings.pop("metric"), settings.pop("force"), settings.pop("trust_pickle")
    config = _config(ctx, **settings)
    if default_spec is not None and settings.get("compress") is None and config.compress == "none":
        config = replace(config, compress=default_spec)
    return config, CompressionPolicy.from_config(config, metric=metric, force=force), trust


def measurement_options(payload_help: str, count_help: str) -> Any:
    """--payload and -n/--count of the commands that invoke a function to measure it (cost, tune)."""
    options = [
        click.option(
            "--payload",
            type=click.Path(path_type=Path, allow_dash=True),
            default=None,
            help=f"{payload_help} [default: one generated row of the model's inputs].",
        ),
        click.option(
            "-n", "--count", type=click.IntRange(1, 1000), default=20, show_default=True, help=count_help
        ),
    ]

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def build_options(func: Any) -> Any:
    options: list[Any] = [
        click.argument("model", type=click.Path(path_type=Path)),
        click.option("--name", "-n", default=None, help="Function/model name [default: the file's stem]."),
        click.option(
            "--sample",
            "-s",
            type=click.Path(path_type=Path),
            default=None,
            help="Sample inputs (.npz, .npy or a .json request) used to check the model.",
        ),
        click.option("--memory", type=int, default=None, help="Memory in MB, 128-10240 [default: 1024]."),
        click.option("--timeout", type=int, default=None, help="Timeout in seconds, 1-900 [default: 30]."),
        click.option(
            "--arch",
            type=click.Choice(["x86_64", "arm64"]),
            default=None,
            help="Lambda architecture [default: x86_64].",
        ),
        click.option(
            "--runtime",
            type=click.Choice(["python3.12", "python3.13"]),
            default=None,
            help="Lambda runtime [default: python3.12].",
        ),
        click.option(
            "--public",
            is_flag=True,
            default=None,
            help="Function URL without authentication (AuthType NONE). Default: AWS_IAM.",
        ),
        click.option(
            "--snapstart",
            is_flag=True,
            default=None,
            help="SnapStart on published versions (aws): restores a snapshot instead of running init. "
            "`sls-deploy cost` shows what it costs.",
        ),
        click.option(
            "--provisioned",
            type=click.IntRange(0),
            default=None,
            metavar="N",
            help="Keep N execution environments initialized on `live` (aws provisioned concurrency, billed "
            "while idle). 0: none.",
        ),
        compress_options,
        target_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(cls=Cli, context_settings=CONTEXT)
@click.option(
    "--project-dir",
    "-C",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Project folder holding the config, template.yaml and .sls-deploy/ [default: current folder].",
)
@click.version_option(__version__, prog_name="sls-deploy")
@click.pass_context
def main(ctx: click.Context, project_dir: Path | None) -> None:
    """Turn an ONNX model into a scale-to-zero inference endpoint on AWS Lambda, or run the very same
    function locally without Docker (the default target).

    \b
    Quick start:
      sls-deploy push model.onnx --name digits --sample samples.npz
      sls-deploy invoke digits --data '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [...]}]}'

    Settings resolve as: flag > SLS_DEPLOY_* environment variable > [tool.sls-deploy] in pyproject.toml or
    sls-deploy.toml > default.
    """
    ctx.ensure_object(dict)
    ctx.obj["project_dir"] = project_dir


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
    from .pipeline import build as run_build

    config, policy, trust = _with_policy(ctx, settings)
    with out.progress(not as_json) as step:
        result = run_build(
            config,
            model,
            name=name,
            sample=sample,
            progress=step,
            policy=policy,
            trust_pickle=trust,
            target=open_target(config, step),
        )
    _render(result, as_json, out.print_build)


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
    from .pipeline import push as run_push

    config, policy, trust = _with_policy(ctx, settings)
    with out.progress(not as_json) as step:
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
        )
    _render(result, as_json, out.print_push)


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
    help="Sample inputs (.npz, .npy or a .json request): agreement is measured and int8-static calibrated on them.",
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
    from .pipeline import compress as run_compress

    config, policy, trust = _with_policy(ctx, settings, default_spec="auto")
    with out.progress(not as_json) as step:
        result = run_compress(
            config, model, out_dir, name=name, sample=sample, progress=step, policy=policy, trust_pickle=trust
        )
    _render(result, as_json, out.print_compress)


def _read_payload(data: str | None, file: Path | None) -> bytes:
    if (data is None) == (file is None):
        raise click.UsageError(
            "give the request with exactly one of --data JSON or --file PATH ('-' for stdin)"
        )
    if data is not None:
        raw = data.encode("utf-8")
    elif str(file) == "-":
        raw = sys.stdin.buffer.read()
    else:
        assert file is not None
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise SlsDeployError(
                f"cannot read request file {file}: {exc.strerror}", "check the path"
            ) from exc
    try:
        json.loads(raw)
    except ValueError as exc:
        raise SlsDeployError(
            f"the request is not valid JSON: {exc}",
            "pass a JSON document, e.g. --data '{\"instances\": [[0, 1, 2]]}'",
        ) from exc
    return raw


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
    from .targets.events import answer_failed, build_event

    payload = _read_payload(data, file)
    config = _config(ctx)
    with out.progress(not as_json) as step:
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
        out.print_stored(stored)
    if as_json:
        stored_json = None if stored is None else stored.to_json()
        out.print_json({**out.invoke_json(result), "event": kind, "object": stored_json})
    else:
        out.print_invoke(result, show_logs=logs)
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

    deployments = open_target(_config(ctx)).list()
    if as_json:
        out.print_json([d.to_json() for d in deployments])
    else:
        out.print_list(deployments)


class SinceType(click.ParamType):
    """--since: a span back from now (10m, 1h, 2d) or an ISO 8601 time; converted to epoch seconds."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def since_option(default: str) -> Any:
    return click.option(
        "--since",
        type=SinceType(),
        default=default,
        show_default=True,
        help="From when: a span back from now (30s, 10m, 1h, 2d) or an ISO time (2026-11-29T08:00:00Z, UTC).",
    )


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

    result = open_target(_config(ctx)).versions(name)
    _render(result, as_json, out.print_versions)


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

    change = open_target(_config(ctx)).rollback(name, to=to)
    _render(change, as_json, out.print_alias_change)


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

    change = open_target(_config(ctx)).promote(name)
    _render(change, as_json, out.print_alias_change)


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
    result = open_target(_config(ctx)).remove(name, purge=purge)
    _render(result, as_json, out.print_remove)


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
        for event in open_target(_config(ctx)).logs(name, since, filter_text=filter_text, follow=follow):
            out.print_log_event(event, as_json)
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

    result = open_target(_config(ctx)).metrics(name, since)
    _render(result, as_json, out.print_metrics)


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
    from .monitor.drift import drift_report

    config = _config(ctx)
    report = drift_report(open_target(config), name, since, build_dir=config.state_path / "build")
    _render(report, as_json, out.print_drift)


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
    from .monitor.estimate import estimate_cost

    config = _config(ctx)

    def request() -> bytes:
        return _measurement_request(config, name, payload)

    with out.progress(not as_json) as step:
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
    _render(report, as_json, out.print_cost)


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

    states = open_target(_config(ctx)).alarms(name)
    if as_json:
        out.print_json([state.to_json() for state in states])
    else:
        out.print_alarms(states)


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
    from .monitor.status import project_status

    with out.progress(not as_json) as step:
        report = project_status(open_target(_config(ctx), step), progress=step)
    _render(report, as_json, out.print_status)


def _measurement_request(config: ProjectConfig, name: str, payload: Path | None) -> bytes:
    """The request `cost` and `tune` measure with: --payload's file, else one generated row of the inputs of
    the model last built for `name` in this project."""
    from .monitor.measure import sample_request
    from .package.model_layer import model_layer_dir

    if payload is not None:
        return _read_payload(None, payload)
    return sample_request(model_layer_dir(config.state_path / "build" / name))


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of MB such as 128,512,1024") from None


def _arch_list(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    archs = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [a for a in archs if a not in limits.SUPPORTED_ARCHITECTURES]
    if unknown or not archs:
        raise click.BadParameter(f"use {', '.join(limits.SUPPORTED_ARCHITECTURES)} (comma-separated)")
    return archs


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--memory",
    "memories",
    default=",".join(map(str, DEFAULT_MEMORIES)),
    show_default=True,
    callback=_int_list,
    help="Memory sizes (MB) to try, comma-separated.",
)
@click.option(
    "--arch",
    "archs",
    default="x86_64,arm64",
    show_default=True,
    callback=_arch_list,
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

    from .core.config_edit import write_settings
    from .core.prices import prices_for
    from .monitor.chart import write_tune_files
    from .monitor.estimate import target_region
    from .monitor.tune import check_request, open_runner
    from .monitor.tune import tune as run_tune

    check_request(memories, archs, count, strategy)
    config = _config(ctx)
    with out.progress(not as_json) as step:
        target = open_target(config, step)
        runner = open_runner(target, name)  # an undeployed NAME fails here, naming what is deployed
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
    _render(result, as_json, out.print_tune)


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
          --payload file://examples/digits-request.json out.json
    """
    from .targets.local.gateway import Gateway
    from .targets.local.target import LocalTarget

    config = _config(ctx, port=port, idle_seconds=idle_seconds)
    # What the platform says while serving (a canary rolled back, the worker runtime installed) goes to stderr.
    target = open_target(config, out.print_notice)
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
            out.print_json(info.to_json())
        else:
            out.print_serve(info)
        gateway.serve_forever()
    except KeyboardInterrupt:
        out.stderr.print("stopping: the workers are shut down")
    finally:
        gateway.close()


if __name__ == "__main__":  # pragma: no cover
    main()
