"""The floor plan of sls_deploy, checked from the imports in the code (every import, lazy or TYPE_CHECKING).

Rooms from top to bottom; a room may import its own modules and any room below it, never one above.
Rooms on one floor are independent of each other:

    commands                    the CLI: parse → call a room → render; the only place naming a concrete target
    pipeline | monitor          push/build/compress flow | drift, cost, tuning, status
    targets                     the Target protocol, local (embedded platform) and aws (boto3 only here)
    template                    the SAM template
    compress | package          candidates and the gate | layers, code zip, budget
    model                       ONNX intake, conversion, samples, the model folder, drift baseline
    core                        shared vocabulary: records, names, alarm rules, prices, config, errors, zips

Beside the floors: only the targets themselves and commands import a concrete target (anything under targets/
except targets.base); the local pool never imports the local target; only targets.aws and template validation
import boto3/botocore; the Lambda function's code (sls_inference) never imports sls_deploy.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE_ROOT = REPO / "cli"
FUNCTION_ROOT = REPO / "functions" / "inference"

FLOORS: tuple[tuple[str, ...], ...] = (
    ("commands",),
    ("pipeline", "monitor"),
    ("targets",),
    ("template",),
    ("compress", "package"),
    ("model",),
    ("core",),
)
CONCRETE_TARGET_IMPORTERS = ("sls_deploy.commands", "sls_deploy.targets")
BOTO_IMPORTERS = ("sls_deploy.targets.aws", "sls_deploy.template.validate")
FORBIDDEN = (("sls_deploy.targets.local.pool", "sls_deploy.targets.local.target"),)


@dataclass(frozen=True)
class Arrow:
    """One import: `source` (a module) imports `target` (a module or a name in it) at `line`."""

    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def arrows_of(source: str, module: str, is_package: bool) -> Iterator[Arrow]:
    """Every import in `source` (the text of `module`), relative ones resolved to absolute names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Arrow(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield Arrow(module, f"{target}.{alias.name}", node.lineno)


def package_arrows(root: Path, package: str) -> list[Arrow]:
    found: list[Arrow] = []
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        module, is_package = module_name(path, root)
        found.extend(arrows_of(path.read_text(encoding="utf-8"), module, is_package))
    return found


def room_of(name: str) -> str | None:
    """The room (sls_deploy's first-level package or module) a dotted name lies in; None outside rooms."""
    parts = name.split(".")
    if parts[0] != "sls_deploy" or len(parts) < 2 or parts[1] == "__version__":
        return None
    return parts[1]


def floor_of(room: str) -> int:
    for index, rooms in enumerate(FLOORS):
        if room in rooms:
            return index
    raise LookupError(room)


def under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def side_rule_violations(arrow: Arrow) -> Iterator[str]:
    """The rules beside the floors: sls_inference, boto3, the pool, concrete targets."""
    if arrow.source.startswith("sls_inference") and arrow.target.startswith("sls_deploy"):
        yield f"{arrow}: the function's code never imports sls_deploy"
    boto = arrow.target.split(".")[0] in ("boto3", "botocore")
    if boto and arrow.source.startswith("sls_deploy") and not under(arrow.source, BOTO_IMPORTERS):
        yield f"{arrow}: only targets.aws and template validation import boto3"
    for source, target in FORBIDDEN:
        if under(arrow.source, (source,)) and under(arrow.target, (target,)):
            yield f"{arrow}: {source} must not import {target}"
    concrete = under(arrow.target, ("sls_deploy.targets",)) and not under(
        arrow.target, ("sls_deploy.targets.base",)
    )
    if concrete and not under(arrow.source, CONCRETE_TARGET_IMPORTERS):
        yield f"{arrow}: only commands name a concrete target"


def floor_violation(arrow: Arrow) -> str | None:
    """Why `arrow` runs up the floors or across one floor (None: it runs down, or stays in its room)."""
    source_room, target_room = room_of(arrow.source), room_of(arrow.target)
    if source_room is None or target_room is None or source_room == target_room:
        return None
    try:
        source_floor, target_floor = floor_of(source_room), floor_of(target_room)
    except LookupError as exc:
        return f"{arrow}: {exc} is on no floor of the plan"
    if target_floor < source_floor:
        return f"{arrow}: {source_room} is below {target_room}"
    if target_floor == source_floor:
        return f"{arrow}: {source_room} and {target_room} are independent rooms on one floor"
    return None


def violations(arrows: Iterable[Arrow]) -> list[str]:
    """What in `arrows` breaks the floor plan, one line each (empty: it holds)."""
    found: list[str] = []
    for arrow in arrows:
        found.extend(side_rule_violations(arrow))
        floor = floor_violation(arrow)
        if floor is not None:
            found.append(floor)
    return found


# Modules whose arrows are still being moved onto the plan.
PENDING: tuple[str, ...] = ()


def test_the_code_keeps_to_the_floor_plan() -> None:
    arrows = package_arrows(PACKAGE_ROOT, "sls_deploy") + package_arrows(FUNCTION_ROOT, "sls_inference")
    assert len(arrows) > 300, "the import scan found too few imports to mean anything"
    assert violations(a for a in arrows if not under(a.source, PENDING)) == []


def unresolved(arrow: Arrow) -> str | None:
    """Why a first-party import names nothing (None: it names a module, or a name a module defines). mypy
    skips unknown modules (ignore_missing_imports), so a moved module would otherwise fail only at run time."""
    parts = arrow.target.split(".")
    if parts[0] not in ("sls_deploy", "sls_inference"):
        return None
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            continue
        rest = parts[cut:]
        if not rest or (len(rest) == 1 and hasattr(importlib.import_module(module), rest[0])):
            return None
        return f"{arrow}: {module} has no {'.'.join(rest)}"
    return f"{arrow}: no such module"


def test_every_first_party_import_names_something_that_exists() -> None:
    arrows = package_arrows(PACKAGE_ROOT, "sls_deploy") + package_arrows(FUNCTION_ROOT, "sls_inference")
    assert [problem for a in arrows if (problem := unresolved(a))] == []
    assert unresolved(Arrow("sls_deploy.pipeline", "sls_deploy.template.sam.FunctionSpec", 1)) is not None


def test_every_room_of_the_package_is_on_a_floor() -> None:
    package = PACKAGE_ROOT / "sls_deploy"
    rooms = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    rooms |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert sorted(room for room in rooms if not any(room in floor for floor in FLOORS)) == []


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("sls_deploy.core.names", "from ..targets.base import Target\n", "core is below targets"),
        ("sls_deploy.template.render", "from ..pipeline import build\n", "template is below pipeline"),
        ("sls_deploy.pipeline", "from .monitor import drift\n", "independent rooms on one floor"),
        ("sls_deploy.compress.gate", "from ..package import budget\n", "independent rooms on one floor"),
        ("sls_deploy.pipeline", "from .targets.local.target import LocalTarget\n", "only commands name"),
        ("sls_deploy.monitor.tune", "import sls_deploy.targets.aws.target\n", "only commands name"),
        ("sls_deploy.targets.local.pool", "from .target import LocalTarget\n", "must not import"),
        ("sls_deploy.pipeline", "def f():\n    import boto3\n", "only targets.aws and template"),
        ("sls_inference.handler", "from sls_deploy.core import names\n", "never imports sls_deploy"),
    ],
)
def test_an_arrow_against_the_plan_is_reported(module: str, source: str, complaint: str) -> None:
    is_package = False
    found = violations(arrows_of(source, module, is_package))
    assert len(found) == 1 and complaint in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("sls_deploy.commands.push", "from ..targets.local.target import LocalTarget\n"),
        ("sls_deploy.pipeline", "from .targets.base import Target\nfrom .core.records import Deployment\n"),
        ("sls_deploy.targets.aws.client", "import boto3\n"),
        ("sls_deploy.compress.gate", "from ..model.samples import Samples\n"),
        ("sls_deploy.targets.local.pool", "from .host import PoolHost\n"),
    ],
)
def test_an_arrow_down_the_plan_passes(module: str, source: str) -> None:
    assert violations(arrows_of(source, module, False)) == []
