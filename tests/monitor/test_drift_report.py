"""`drift_report`: the period's "drift window" log lines summed per baseline and compared with it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from sls_deploy.core.errors import NotDeployedError
from sls_deploy.core.records import AliasRouting, FunctionVersions, LogEvent
from sls_deploy.monitor.drift import drift_report
from sls_inference.drift import DriftMonitor, DriftWindow
from sls_inference.loader import load_model
from tests.support.drift_support import DIGITS_SAMPLES, digits_model_dir

NOW = time.time()
RNG = np.random.default_rng(5)


class LogTarget:
    """A target that only has logs and versions: what drift_report reads."""

    name = "fake"

    def __init__(self, events: list[LogEvent], live: str = "2", extra: str | None = None) -> None:
        self.events = events
        self.live = AliasRouting("live", live, extra, 0.1 if extra else 0.0)
        self.filters: list[str | None] = []

    def logs(self, name, since, filter_text=None, follow=False):
        self.filters.append(filter_text)
        return iter([e for e in self.events if e.timestamp >= since and (filter_text or "") in e.message])

    def versions(self, name):
        if name != "digits":
            raise NotDeployedError(f"no function {name!r} is deployed", "use digits")
        return FunctionVersions(name, (), (self.live,))


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    return digits_model_dir(tmp_path_factory.mktemp("digits"))


def like_samples(count: int) -> np.ndarray:
    return DIGITS_SAMPLES[RNG.integers(0, 64, count)] + RNG.uniform(-0.1, 0.1, (count, 64)).astype(np.float32)


def shifted(count: int) -> np.ndarray:
    rows = like_samples(count)
    rows[:, [19, 27]] = 16.0
    return rows


def windows(layer: Path, *batches: np.ndarray, every: int = 100) -> list[DriftWindow]:
    """The windows a function serving `layer` closes on `batches` (one request each)."""
    model = load_model(layer)
    monitor = DriftMonitor.from_model_dir(layer, model.manifest)
    assert monitor is not None
    monitor.every = every
    found = []
    for batch in batches:
        names = ["label", "probabilities"]
        window = monitor.observe({"input": batch}, names, model.session.run(names, {"input": batch}))
        assert window is not None
        found.append(window)
    return found


def event(window: DriftWindow, version: str, at: float, baseline: str | None = None) -> LogEvent:
    fields = {"level": "INFO", "message": "drift window", **window.log_fields()}
    if baseline is not None:
        fields["baseline"] = baseline
    return LogEvent(timestamp=at, message=json.dumps(fields), version=version)


def test_the_windows_of_the_period_are_summed_and_the_shifted_features_come_first(layer):
    found = windows(layer, like_samples(100), shifted(100), shifted(100))
    target = LogTarget([event(w, "2", NOW - 300 + i) for i, w in enumerate(found)])
    report = drift_report(target, "digits", NOW - 3600, NOW)
    assert target.filters == ["drift window"]
    assert (report.windows, report.rows, report.version) == (3, 300, "2")
    assert {feature for feature, _, _ in report.features[:2]} == {"input[19]", "input[27]"}
    assert report.features[0][2] == "significant" and report.verdict == "significant"
    assert report.input_psi == pytest.approx(report.features[0][1])
    assert report.prediction_output == "probabilities" and report.prediction_psi is not None
    assert not report.approximate and report.to_json()["features"][0]["feature"] in {"input[19]", "input[27]"}


def test_rows_like_the_samples_are_stable(layer):
    found = windows(layer, *(like_samples(100) for _ in range(5)))
    report = drift_report(LogTarget([event(w, "2", NOW - 60) for w in found]), "digits", NOW - 3600, NOW)
    assert report.rows == 500 and report.input_psi is not None and report.input_psi < 0.1
    assert report.prediction_psi is not None and report.prediction_psi < 0.1
    assert report.verdict == "stable"
    assert report.features[-1][2] == "stable"


def test_windows_of_another_baseline_are_not_summed_with_the_live_versions(layer):
    old = windows(layer, shifted(100), shifted(100))
    new = windows(layer, like_samples(100))
    events = [event(w, "1", NOW - 900, baseline="0123456789ab") for w in old]
    events += [event(w, "2", NOW - 100) for w in new]
    report = drift_report(LogTarget(events, live="2"), "digits", NOW - 3600, NOW)
    assert (report.windows, report.rows, report.version) == (1, 100, "2")
    assert report.input_psi is not None and report.input_psi < 0.25
    assert any("another baseline" in note for note in report.notes)


def build_folder(layer: Path, tmp_path: Path) -> Path:
    """A project's `.sls-deploy/build` whose last build of digits is `layer`."""
    build_dir = tmp_path / "build"
    (build_dir / "digits").mkdir(parents=True)
    (build_dir / "digits" / "model").symlink_to(layer)
    return build_dir


def test_without_windows_the_report_says_how_often_the_function_reports(layer, tmp_path):
    report = drift_report(LogTarget([]), "digits", NOW - 3600, NOW, build_dir=build_folder(layer, tmp_path))
    assert report.windows == 0 and report.verdict == "no data"
    assert report.message == (
        "no drift windows in the last 1h: the function reports every 100 rows or 60 seconds of traffic"
    )


def test_the_baseline_comes_from_the_build_folder_when_no_window_carries_it(layer, tmp_path):
    _, later = windows(layer, like_samples(100), shifted(100))  # the first window carried the baseline
    target = LogTarget([event(later, "2", NOW - 10)])
    report = drift_report(target, "digits", NOW - 3600, NOW, build_dir=build_folder(layer, tmp_path))
    assert not report.approximate and report.features[0][0] in {"input[19]", "input[27]"}


def test_without_the_baseline_the_windows_own_psi_is_averaged_and_said_to_be(layer, tmp_path):
    _, later = windows(layer, like_samples(100), shifted(100))
    report = drift_report(LogTarget([event(later, "2", NOW - 10)]), "digits", NOW - 3600, NOW)
    assert report.approximate and report.features == ()
    assert report.input_psi == pytest.approx(later.input_psi, abs=1e-4)
    assert report.verdict == "significant" and any("build folder" in note for note in report.notes)


def test_lines_that_are_not_drift_windows_are_ignored(layer):
    (window,) = windows(layer, like_samples(100))
    events = [
        LogEvent(NOW - 5, "START RequestId: abc drift window"),
        LogEvent(NOW - 5, '{"message": "drift window", "note": "no counts"}'),
        event(window, "2", NOW - 4),
    ]
    assert drift_report(LogTarget(events), "digits", NOW - 60, NOW).windows == 1


def test_a_function_that_is_not_deployed_is_an_error_not_an_empty_report():
    with pytest.raises(NotDeployedError):
        drift_report(LogTarget([]), "digitz", NOW - 60, NOW)
