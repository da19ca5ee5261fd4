"""Console output of the commands: the two consoles, errors and notices, JSON, the progress spinner,
and the formatting every command's rendering shares."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from ..core.errors import SlsDeployError

if TYPE_CHECKING:
    from ..core.records import AliasRouting

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


def routing_text(routing: AliasRouting, short: bool = False) -> str:
    """`version 2` or, during a canary, `version 2 (90 %) and version 3 (10 %)` (short: `2 (90 %), 3 (10 %)`)."""
    if routing.extra_version is None:
        return routing.version if short else f"version {routing.version}"
    extra = routing.extra_weight * 100
    if short:
        return f"{routing.version} ({100 - extra:g} %), {routing.extra_version} ({extra:g} %)"
    return f"version {routing.version} ({100 - extra:g} %) and version {routing.extra_version} ({extra:g} %)"


def usd(value: float) -> str:
    """Dollars with cents; four decimals under a dollar; amounts under $0.0001 in scientific notation."""
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.4f}" if abs(value) >= 0.0001 else f"${value:.2e}"


def render(result: Any, as_json: bool, printer: Any) -> None:
    """A command's result: its to_json() as JSON with --json, else the rich rendering."""
    if as_json:
        print_json(result.to_json())
    else:
        printer(result)
