from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sls_deploy.core.jsonable import Jsonable


@dataclass(frozen=True)
class Inner(Jsonable):
    size: int


@dataclass(frozen=True)
class Outer(Jsonable):
    name: str
    where: Path
    parts: tuple[Inner, ...]
    tags: dict[str, Any]
    handle: object = field(default=None, compare=False)


def test_a_record_dumps_its_fields_in_order_with_nested_records_lists_and_paths() -> None:
    record = Outer("digits", Path("/tmp/x"), (Inner(1), Inner(2)), {"k": (1, 2)}, handle=object())
    data = record.to_json()
    assert list(data) == ["name", "where", "parts", "tags"]
    assert data == {
        "name": "digits",
        "where": "/tmp/x",
        "parts": [{"size": 1}, {"size": 2}],
        "tags": {"k": [1, 2]},
    }
    assert json.loads(json.dumps(data)) == data
