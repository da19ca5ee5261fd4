"""The `sls-deploy` command line: each command parses its options, calls the library, renders the result.

Exit codes: 0 success, 1 user error (a message and a hint, no traceback), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from . import output as out
from .config import ProjectConfig, load_config
from .errors import SlsDeployError

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


def _config(ctx: click.Context, **overrides: Any) -> ProjectConfig:
    return load_config(ctx.obj["project_dir"], overrides)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
target_option = click.option(
    "--target",
    type=click.Choice(["local", "aws"]),
    default=None,
    help="Where to deploy [default: local, or `target` in the config].",
)


def build_options(func: Any) -> Any:
    options = [
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

    config = _config(ctx, **settings)
    with out.progress(not as_json) as step:
        result = run_build(config, model, name=name, sample=sample, progress=step)
    if as_json:
        out.print_json(result.to_json())
    else:
        out.print_build(result)


@main.command(context_settings=CONTEXT)
@build_options
@click.option("--dry-run", is_flag=True, help="Build and show what would be deployed; deploy nothing.")
@click.pass_context
def push(
    ctx: click.Context,
    model: Path,
    name: str | None,
    sample: Path | None,
    as_json: bool,
    dry_run: bool,
    **settings: Any,
) -> None:
    """Build MODEL and deploy it as a function (publishing a new version only when something changed).

    \b
    Examples:
      sls-deploy push examples/digits.onnx --name digits --sample examples/digits-samples.npz
      sls-deploy push model.onnx --memory 2048 --arch arm64 --json
      sls-deploy push model.onnx --dry-run
    """
    from .pipeline import push as run_push

    config = _config(ctx, **settings)
    with out.progress(not as_json) as step:
        result = run_push(config, model, name=name, sample=sample, dry_run=dry_run, progress=step)
    if as_json:
        out.print_json(result.to_json())
    else:
        out.print_push(result)


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
    target: str | None,
    as_json: bool,
) -> None:
    """Invoke the deployed function NAME with a request and print its response and REPORT.

    Exits with status 1 when the function fails or answers with an error (e.g. a 400 for a bad request).

    The request is the event as the handler receives it on a direct invocation: an Open Inference Protocol v2
    body ({"inputs": [{"name", "shape", "datatype", "data"}]}) or {"instances": [...]}.

    \b
    Examples:
      sls-deploy invoke digits --file examples/digits-request.json
      sls-deploy invoke digits --data '{"instances": [[0, 0, 5, 13, 9, 1, 0, 0, ...]]}' --json
    """
    from .pipeline import open_target

    payload = _read_payload(data, file)
    config = _config(ctx, target=target)
    with out.progress(not as_json) as step:
        result = open_target(config, step).invoke(name, payload, qualifier=qualifier)
    if as_json:
        out.print_json(out.invoke_json(result))
    else:
        out.print_invoke(result, show_logs=logs)
    if result.function_error or result.error_status is not None:
        ctx.exit(1)


@main.command("list", context_settings=CONTEXT)
@target_option
@json_option
@click.pass_context
def list_(ctx: click.Context, target: str | None, as_json: bool) -> None:
    """List the deployed functions with the version their `live` alias points at.

    \b
    Example:
      sls-deploy list --json
    """
    from .pipeline import open_target

    deployments = open_target(_config(ctx, target=target)).list()
    if as_json:
        out.print_json([d.to_json() for d in deployments])
    else:
        out.print_list(deployments)


if __name__ == "__main__":  # pragma: no cover
    main()
