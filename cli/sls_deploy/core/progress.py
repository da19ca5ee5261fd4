"""Progress: how long work reports its steps. A callable taking one line of text; the CLI prints it, tests
collect it, library code defaults to `quiet`."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A Progress that says nothing."""
