"""The gateway's memory of LocalTarget.resolve: one stat per request instead of reading the alias and
version files (~0.1–0.3 ms). Reads the function's folder's mtime; writes nothing.
"""

from __future__ import annotations

import os
import time

from .routing import Resolved
from .target import LocalTarget

_SETTLE_NS = 100_000_000  # filesystem timestamps are coarse (a few ms): trust a folder's mtime after 0.1 s


class ResolveCache:
    """LocalTarget.resolve, remembered per (function, qualifier) while the function's state folder is
    unchanged: one stat per request instead of reading the alias and version files (~0.1–0.3 ms).

    State writes are atomic renames inside functions/<name>/, so any deploy, rollback, promote or remove
    changes that folder's mtime. A qualifier whose alias splits traffic (a canary) is resolved on every
    request, so each one is routed by weight.
    """

    def __init__(self, target: LocalTarget) -> None:
        self._target = target
        self._cache: dict[tuple[str, str], tuple[int, Resolved]] = {}
        self._dirs: dict[str, str] = {}

    def _stamp(self, name: str) -> int | None:
        folder = self._dirs.get(name)
        if folder is None:
            folder = self._dirs[name] = str(self._target.function_folder(name))
        try:
            return os.stat(folder).st_mtime_ns
        except OSError:
            return None

    def resolve(self, name: str, qualifier: str) -> Resolved:
        stamp = self._stamp(name)
        cached = self._cache.get((name, qualifier))
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        resolved = self._target.resolve(name, qualifier)
        # A folder changed in the last moment may change again within the same timestamp tick: not cached.
        settled = stamp is not None and time.time_ns() - stamp > _SETTLE_NS
        if stamp is not None and settled and not resolved.splits_traffic:
            self._cache[(name, qualifier)] = (stamp, resolved)
        else:
            self._cache.pop((name, qualifier), None)
        return resolved
