"""CloudWatch embedded metric format (EMF): the metrics a function prints as structured log lines.

Implements the extraction rules of the EMF specification (docs.aws.amazon.com/AmazonCloudWatch/latest/
monitoring/CloudWatch_Embedded_Metric_Format_Specification.html): a log event that is exactly one JSON object
with an `_aws` metadata member holding `Timestamp` (ms since the epoch) and `CloudWatchMetrics`, an array of
metric directives `{Namespace, Dimensions: [[member, ...], ...], Metrics: [{Name, Unit?, StorageResolution?}]}`.
Each metric's value is the root member named by `Name`: a number or an array of up to 100 numbers; each
dimension's value is the root member it names, a string. A document that breaks the rules yields no metrics
(as CloudWatch rejects it); the log line itself stays a log line either way.

A metric named in several directives (say two namespaces) is one set of values here, listed once with every
namespace, so counting a metric's values does not count them twice. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_VALUES_PER_METRIC = 100
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
STORAGE_RESOLUTIONS = (1, 60)


@dataclass(frozen=True)
class EmfMetric:
    """One metric of an EMF document with its values, where it is published and under which dimensions."""

    name: str
    unit: str  # "None" when the directive gives no unit, as CloudWatch records it
    values: tuple[float, ...]
    namespaces: tuple[str, ...]
    dimensions: tuple[tuple[tuple[str, str], ...], ...]  # every dimension set, as (name, value) pairs


@dataclass(frozen=True)
class EmfDocument:
    timestamp_ms: float
    metrics: tuple[EmfMetric, ...]


class _Invalid(Exception):
    pass


def parse_emf(line: str) -> EmfDocument | None:
    """The metrics in one log line, or None when it is not a valid EMF document."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}") and '"_aws"' in text):
        return None  # cheap test first: most log lines are not EMF
    try:
        root = json.loads(text)
    except ValueError:
        return None
    if not isinstance(root, dict):
        return None
    try:
        return _document(root)
    except _Invalid:
        return None


def _document(root: dict[str, Any]) -> EmfDocument:
    metadata = root.get("_aws")
    if not isinstance(metadata, dict):
        raise _Invalid("_aws is not an object")
    timestamp: Any = metadata.get("Timestamp")
    directives = metadata.get("CloudWatchMetrics")
    if not _is_number(timestamp) or not isinstance(directives, list):
        raise _Invalid("_aws needs a numeric Timestamp and a CloudWatchMetrics array")
    order: list[str] = []
    found: dict[str, dict[str, Any]] = {}
    for directive in directives:
        namespace, dimension_sets, definitions = _directive(directive, root)
        for name, unit in definitions:
            entry = found.get(name)
            if entry is None:
                order.append(name)
                entry = found[name] = {
                    "unit": unit,
                    "values": _values(root, name),
                    "namespaces": [],
                    "dimensions": [],
                }
            if namespace not in entry["namespaces"]:
                entry["namespaces"].append(namespace)
            for dimension_set in dimension_sets:
                if dimension_set not in entry["dimensions"]:
                    entry["dimensions"].append(dimension_set)
    metrics = tuple(
        EmfMetric(
            name=name,
            unit=found[name]["unit"],
            values=found[name]["values"],
            namespaces=tuple(found[name]["namespaces"]),
            dimensions=tuple(found[name]["dimensions"]),
        )
        for name in order
    )
    return EmfDocument(timestamp_ms=float(timestamp), metrics=metrics)


def _directive(
    directive: Any, root: dict[str, Any]
) -> tuple[str, list[tuple[tuple[str, str], ...]], list[tuple[str, str]]]:
    if not isinstance(directive, dict):
        raise _Invalid("a metric directive is not an object")
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not namespace:
        raise _Invalid("a metric directive needs a Namespace")
    raw_sets = directive.get("Dimensions", [])
    if not isinstance(raw_sets, list):
        raise _Invalid("Dimensions is not an array")
    dimension_sets = [_dimension_set(raw, root) for raw in raw_sets]
    definitions = directive.get("Metrics")
    if not isinstance(definitions, list) or len(definitions) > MAX_METRICS_PER_DIRECTIVE:
        raise _Invalid("Metrics is not an array of at most 100 definitions")
    return namespace, dimension_sets, [_definition(d) for d in definitions]


def _dimension_set(raw: Any, root: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A directive's dimension set: its names, each with the root member's string value."""
    if not isinstance(raw, list) or len(raw) > MAX_DIMENSIONS_PER_SET:
        raise _Invalid("a dimension set is not an array of at most 30 names")
    pairs = []
    for key in raw:
        value = root.get(key) if isinstance(key, str) else None
        if not isinstance(value, str):
            raise _Invalid(f"dimension {key!r} has no string member")
        pairs.append((key, value))
    return tuple(pairs)


def _definition(definition: Any) -> tuple[str, str]:
    """A metric definition's (name, unit)."""
    if not isinstance(definition, dict) or not isinstance(definition.get("Name"), str):
        raise _Invalid("a metric definition needs a Name")
    unit = definition.get("Unit", "None")
    resolution = definition.get("StorageResolution", 60)
    if not isinstance(unit, str) or resolution not in STORAGE_RESOLUTIONS:
        raise _Invalid("a metric definition has a bad Unit or StorageResolution")
    return definition["Name"], unit


def _values(root: dict[str, Any], name: str) -> tuple[float, ...]:
    value = root.get(name)
    values: list[Any] = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES_PER_METRIC or not all(_is_number(v) for v in values):
        raise _Invalid(f"metric {name!r} has no number or array of up to 100 numbers")
    return tuple(float(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
