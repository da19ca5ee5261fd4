"""One JSON form for every record: `Jsonable.to_json()` dumps a dataclass's fields in order.

A field's value that has its own `to_json()` uses it; tuples and lists become lists, mappings dicts, paths
strings. Records whose JSON is not a plain dump of their fields (rounding, derived keys) keep their own
`to_json`. Pure functions; no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def json_value(value: Any) -> Any:
    """`value` in the form json.dumps takes."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, PurePath):
        return str(value)
    return value


class Jsonable:
    """A dataclass whose JSON form is its fields: inherit it instead of writing `to_json` by hand. Fields
    declared with `compare=False` (handles, caches) are left out."""

    def to_json(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self), f"{type(self).__name__} is not a dataclass"
        return {
            field.name: json_value(getattr(self, field.name))
            for field in dataclasses.fields(self)
            if field.compare
        }
