"""EMF parsing per CloudWatch's embedded metric format specification, and the metric statistics."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from sls_deploy.core.stats import max_overlap, percentile, summarize
from sls_deploy.targets.local.emf import parse_emf


def emf(root: dict, directives: list[dict], timestamp: float = 1_700_000_000_000) -> str:
    return json.dumps({"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": directives}, **root})


def test_a_powertools_metrics_line_yields_its_metrics_units_and_dimensions(capsys) -> None:
    metrics = EphemeralMetrics(namespace="SlsDeploy", service="digits")
    metrics.add_dimension(name="function_name", value="digits")
    metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=2.5)
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=4)
    metrics.flush_metrics()
    (line,) = [text for text in capsys.readouterr().out.splitlines() if text.strip()]
    document = parse_emf(line)
    assert document is not None
    found = {metric.name: metric for metric in document.metrics}
    assert found["InferenceLatency"].values == (2.5,) and found["InferenceLatency"].unit == "Milliseconds"
    assert found["BatchSize"].values == (4.0,) and found["BatchSize"].namespaces == ("SlsDeploy",)
    assert dict(found["BatchSize"].dimensions[0]) == {"service": "digits", "function_name": "digits"}


def test_array_values_are_all_kept() -> None:
    line = emf(
        {"Latency": [1, 2.5, 3]}, [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "Latency"}]}]
    )
    document = parse_emf(line)
    assert document is not None and document.timestamp_ms == 1_700_000_000_000
    (metric,) = document.metrics
    assert metric.values == (1.0, 2.5, 3.0) and metric.unit == "None"


def test_several_directives_publish_each_metric_once_with_every_namespace_and_dimension_set() -> None:
    line = emf(
        {"fn": "digits", "stage": "prod", "Latency": 5, "Rows": 2},
        [
            {
                "Namespace": "A",
                "Dimensions": [["fn"]],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
            },
            {
                "Namespace": "B",
                "Dimensions": [["fn", "stage"], []],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Rows", "Unit": "Count"}],
            },
        ],
    )
    document = parse_emf(line)
    assert document is not None
    latency, rows = document.metrics
    assert (latency.name, latency.values, latency.namespaces) == ("Latency", (5.0,), ("A", "B"))
    assert latency.dimensions == ((("fn", "digits"),), (("fn", "digits"), ("stage", "prod")), ())
    assert (rows.name, rows.values, rows.namespaces) == ("Rows", (2.0,), ("B",))


@pytest.mark.parametrize(
    "line",
    [
        "plain text",
        '{"message": "a structured log line without _aws"}',
        '{"_aws": {"CloudWatchMetrics": []}} trailing',
        emf({"Latency": "fast"}, [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "Latency"}]}]),
        emf({"Latency": [1] * 101}, [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "Latency"}]}]),
        emf({}, [{"Namespace": "N", "Dimensions": [], "Metrics": [{"Name": "Missing"}]}]),
        emf({"L": 1}, [{"Namespace": "N", "Dimensions": [["fn"]], "Metrics": [{"Name": "L"}]}]),
        emf({"L": 1, "fn": 7}, [{"Namespace": "N", "Dimensions": [["fn"]], "Metrics": [{"Name": "L"}]}]),
        emf({"L": 1}, [{"Dimensions": [], "Metrics": [{"Name": "L"}]}]),
        emf({"L": 1}, [{"Namespace": "N", "Metrics": [{"Name": "L", "StorageResolution": 5}]}]),
        emf({"L": True}, [{"Namespace": "N", "Metrics": [{"Name": "L"}]}]),
        json.dumps({"_aws": {"CloudWatchMetrics": [{"Namespace": "N", "Metrics": []}]}}),  # no Timestamp
    ],
)
def test_lines_that_break_the_specification_yield_no_metrics(line: str) -> None:
    assert parse_emf(line) is None


def test_nearest_rank_percentiles_are_observed_values() -> None:
    values = list(range(1, 101))
    assert [percentile(values, q) for q in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([7.0], 99) == 7.0
    assert percentile([1, 2, 3, 4], 50) == 2


def test_a_summary_of_no_values_has_no_statistics_and_one_of_values_has_all() -> None:
    assert summarize([]).count == 0 and summarize([]).p50 is None
    stats = summarize([4.0, 1.0, 3.0, 2.0])
    assert (stats.count, stats.p50, stats.p90, stats.p99, stats.average, stats.maximum) == (
        4,
        2.0,
        4.0,
        4.0,
        2.5,
        4.0,
    )


def test_concurrency_is_the_most_intervals_open_at_once() -> None:
    assert max_overlap([(0, 10), (1, 2), (1.5, 3), (5, 6)]) == 3
    assert max_overlap([(0, 1), (1, 2)]) == 1  # one ends as the next starts
    assert max_overlap(iter([(0, 1)])) == 1
