"""The `sls-deploy` command line: each command parses its options, calls the library, renders the result.

One module per command group (build, invoke, versions, observe, cost, serve), the options they share, their
console output, and the factory — the only place that names a concrete target.

Exit codes: 0 success, 1 user error (a message and a hint, no traceback), 2 usage error.
"""

from __future__ import annotations

from . import build, cost, invoke, observe, serve, versions  # noqa: F401 - each registers its commands
from .root import main

__all__ = ["main"]
