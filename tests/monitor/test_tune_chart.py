"""The tuning chart: a PNG with both panels, and an HTML page that carries it inline with the table."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from sls_deploy.core.prices import US_EAST_1
from sls_deploy.monitor.chart import render_png, write_tune_files
from sls_deploy.monitor.cost import cost_per_million
from sls_deploy.monitor.tune_result import TuneResult, TuneRow


def row(memory: int, arch: str, source: str, ms: float, verdicts: tuple[str, ...] = ()) -> TuneRow:
    cost = cost_per_million(US_EAST_1, arch=arch, memory_mb=memory, billed_ms=ms)
    return TuneRow(memory, arch, source, ms, ms, ms * 1.1, ms, ms, 250.0, 90, 20, cost, "", verdicts)


RESULT = TuneResult(
    target="local",
    name="digits",
    strategy="cost",
    balanced_weight=0.5,
    count=20,
    payload_bytes=300,
    rows=(
        row(128, "x86_64", "measured", 40.0),
        row(1024, "x86_64", "measured", 6.0, ("fastest",)),
        TuneRow(128, "arm64", "failed", note="out of memory <128 MB>"),
        row(1024, "arm64", "projected", 6.0, ("cheapest", "chosen")),
    ),
    chosen=row(1024, "arm64", "projected", 6.0, ("cheapest", "chosen")),
    run_arch="x86_64",
    cpu="cgroup-v1 CPU quota",
    prices="us-east-1 (2026-11)",
    notes=("arm64 <projected>",),
)


def test_the_png_is_a_two_panel_image() -> None:
    png = render_png(RESULT)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 2 * height  # two panels side by side


def test_the_files_are_a_png_a_self_contained_html_page_and_the_json(tmp_path: Path) -> None:
    png_path, html_path, json_path = write_tune_files(RESULT, tmp_path / "out")
    page = html_path.read_text()
    inline = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert inline is not None and base64.b64decode(inline.group(1)) == png_path.read_bytes()
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<tr") == 1 + len(RESULT.rows) and "out of memory &lt;128 MB&gt;" in page
    data = json.loads(json_path.read_text())
    assert data["chosen"] == {"memory_mb": 1024, "arch": "arm64"}
    assert data["files"] == [str(png_path), str(html_path), str(json_path)]
