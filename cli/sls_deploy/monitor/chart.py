"""Charts of a tuning result: cost per million, p50 duration and the cold start's INIT duration against
memory size, one curve per architecture, as a PNG (matplotlib's Agg canvas, no display) and a self-contained HTML page (the PNG inline
as base64 and the table; no script, no network).

Measured points are filled on solid lines; estimated and projected ones are hollow on dashed lines; the
chosen setting is a star. Settings that failed are listed under the chart, not drawn.

Side effects: `write_tune_files` writes three files (PNG, HTML, JSON) into a folder.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import SlsDeployError
from .tune_result import TuneResult, TuneRow

ARCH_COLORS = {"x86_64": "#1f77b4", "arm64": "#ff7f0e"}
_FIGURE_INCHES = (15.0, 4.6)
_DPI = 110


def _figure_module() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise SlsDeployError(
            "drawing the tuning chart needs matplotlib, which is not installed",
            "pip install matplotlib (or pass --json for the figures alone)",
        ) from exc
    return Figure, FigureCanvasAgg


def _curve(rows: Sequence[TuneRow], arch: str) -> list[TuneRow]:
    return sorted((r for r in rows if r.arch == arch and r.ok), key=lambda r: r.memory_mb)


def render_png(result: TuneResult) -> bytes:
    """The three panels (cost per million, p50 duration, INIT duration) as PNG bytes."""
    figure_class, canvas_class = _figure_module()
    figure = figure_class(figsize=_FIGURE_INCHES, dpi=_DPI, layout="constrained")
    canvas_class(figure)
    cost_axes, duration_axes, init_axes = figure.subplots(1, 3)
    memories = sorted({r.memory_mb for r in result.rows})
    archs = list(dict.fromkeys(r.arch for r in result.rows))
    for axes, value, title, unit in (
        (cost_axes, lambda r: r.cost_total, "cost per million invocations", "USD"),
        (duration_axes, lambda r: r.p50_ms, "p50 duration (warm)", "ms"),
        (init_axes, lambda r: r.init_ms, "cold start: INIT duration", "ms"),
    ):
        for arch in archs:
            points = [p for p in _curve(result.rows, arch) if value(p) is not None]
            if not points:
                continue
            color = ARCH_COLORS.get(arch, "#555555")
            measured = all(p.source == "measured" for p in points)
            sources = "/".join(sorted({p.source for p in points}))
            axes.plot(
                [p.memory_mb for p in points],
                [value(p) for p in points],
                linestyle="-" if measured else "--",
                color=color,
                linewidth=1.8,
                label=f"{arch} ({sources})",
            )
            for point in points:
                axes.plot(
                    point.memory_mb,
                    value(point),
                    marker="o",
                    markersize=6,
                    color=color,
                    markerfacecolor=color if point.source == "measured" else "white",
                    linestyle="none",
                )
        chosen = result.chosen
        axes.plot(
            chosen.memory_mb,
            value(chosen) if value(chosen) is not None else math.nan,
            marker="*",
            markersize=17,
            color="#2ca02c",
            markeredgecolor="black",
            linestyle="none",
            label=f"chosen: {chosen.label}",
            zorder=5,
        )
        axes.set_xscale("log", base=2)
        axes.set_xticks(memories, [str(m) for m in memories])
        axes.minorticks_off()
        values = [value(r) for r in result.rows if r.ok and value(r) is not None]
        if values and min(values) > 0 and max(values) / min(values) > 20:
            axes.set_yscale("log")
        axes.set_xlabel("memory (MB)")
        axes.set_ylabel(unit)
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        if axes is cost_axes:
            axes.legend(fontsize=8)
    figure.suptitle(
        f"{result.name} on the {result.target} target — strategy {result.strategy}, "
        f"{result.count} warm invocations per setting",
        fontsize=11,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _cell(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_html(result: TuneResult, png: bytes) -> str:
    """A page with the chart (inline), the table of settings, the choice and the notes."""
    rows = []
    for row in result.rows:
        style = ' style="font-weight:bold;background:#e8f5e9"' if "chosen" in row.verdicts else ""
        rows.append(
            f"<tr{style}><td>{row.memory_mb}</td><td>{html.escape(row.arch)}</td>"
            f"<td>{html.escape(row.source)}</td><td>{_cell(row.p50_ms, 2)}</td><td>{_cell(row.p90_ms, 2)}</td>"
            f"<td>{_cell(row.mean_ms, 2)}</td><td>{_cell(row.billed_mean_ms, 1)}</td>"
            f"<td>{_cell(row.init_ms, 0)}</td><td>{row.max_memory_mb or ''}</td>"
            f"<td>{'' if row.cost is None else f'{row.cost.total:.4f}'}</td>"
            f"<td>{html.escape(', '.join(row.verdicts))}</td><td>{html.escape(row.note)}</td></tr>"
        )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in result.notes)
    image = base64.b64encode(png).decode("ascii")
    chosen = result.chosen
    header = (
        "<tr><th>memory MB</th><th>arch</th><th>source</th><th>p50 ms</th><th>p90 ms</th>"
        "<th>trimmed mean ms</th><th>billed mean ms</th><th>init ms</th><th>max used MB</th>"
        "<th>USD / million</th><th>verdict</th><th>note</th></tr>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tuning {html.escape(result.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:nth-child(n+11){{text-align:left}}</style>
</head><body>
<h1>{html.escape(result.name)}: {chosen.memory_mb} MB {html.escape(chosen.arch)} ({html.escape(result.strategy)})</h1>
<p>target {html.escape(result.target)}; {result.count} warm invocations per setting after one cold start,
fastest and slowest 20 % discarded; cost includes INIT for {result.cold_start_rate:.1%} of invocations;
request {result.payload_bytes} bytes; CPU: {html.escape(result.cpu)};
prices: {html.escape(result.prices)}.</p>
<img alt="cost per million and p50 duration against memory" src="data:image/png;base64,{image}">
<table>{header}{"".join(rows)}</table>
<ul>{notes}</ul>
</body></html>
"""


def write_tune_files(result: TuneResult, out_dir: Path) -> tuple[Path, ...]:
    """tune-<name>.png, .html and .json in `out_dir` (created); the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"tune-{result.name}"
    png = render_png(result)
    paths = (stem.with_suffix(".png"), stem.with_suffix(".html"), stem.with_suffix(".json"))
    result = replace(result, files=tuple(str(path) for path in paths))
    paths[0].write_bytes(png)
    paths[1].write_text(render_html(result, png), encoding="utf-8")
    paths[2].write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    return paths
