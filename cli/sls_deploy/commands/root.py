"""The `sls-deploy` group: its global options, and how a library error leaves the command line (a message and
a hint on stderr, exit status 1, no traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..core.errors import SlsDeployError
from .options import CONTEXT
from .output import print_error


class UserError(click.ClickException):
    """An SlsDeployError on its way out: printed as a short paragraph with its hint, exit status 1."""

    exit_code = 1

    def __init__(self, error: SlsDeployError) -> None:
        super().__init__(error.message)
        self.error = error

    def show(self, file: Any = None) -> None:
        print_error(self.error)


class Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlsDeployError as exc:
            raise UserError(exc) from None


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
