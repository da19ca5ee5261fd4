"""Points in time as the CLI takes them (`logs --since`, `metrics --since`): a span back from now — `30s`,
`10m`, `1h`, `2d`, `1w`, combinations such as `1h30m` — or an ISO 8601 time (`2026-11-29T08:00:00Z`,
`2026-11-29 08:00`, `2026-11-29`; without a zone it is UTC, as Lambda's logs are) — and spans written back
the same way (`span_text`). Pure functions.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"(?:(\d+(?:\.\d+)?)([smhdw]))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_since(text: str, now: float | None = None) -> float:
    """Seconds since the epoch that `text` names; ValueError with the accepted forms otherwise."""
    value = text.strip().lower()
    current = time.time() if now is None else now
    if _SPAN.fullmatch(value):
        return current - sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span like 10m, 1h, 2d nor an ISO time like 2026-11-29T08:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def span_text(seconds: float) -> str:
    """A span as --since spells it: 2d, 1h, 10m when it is (within 2 %) a whole number of days, hours or
    minutes, else whole seconds."""
    whole = round(seconds)
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if whole >= size and abs(whole / size - round(whole / size)) < 0.02:
            return f"{round(whole / size)}{unit}"
    return f"{whole}s"
