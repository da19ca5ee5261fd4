"""Write settings into the project's config file, keeping everything else in it as it was.

The file is the one config.py reads: sls-deploy.toml (top-level keys) when it holds settings, else the
`[tool.sls-deploy]` table of pyproject.toml; with neither, sls-deploy.toml is created (or, when only a
pyproject.toml exists, a `[tool.sls-deploy]` table is appended to it). tomllib only reads, so this is a
careful text edit: a setting's line is replaced in its table (keeping its trailing comment), a missing one
is added at the end of the table, and the result is parsed back and checked before it is written.

Side effects: rewrites (atomically) or creates one file in the project folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from .config import _file_settings
from .errors import ConfigError
from .fsutil import atomic_write_text

CONFIG_NAME = "sls-deploy.toml"
PYPROJECT_NAME = "pyproject.toml"
TABLE = "tool.sls-deploy"

Value = bool | int | float | str
_HEADER = re.compile(r"^\s*\[")  # a table or array-of-tables header
_TOOL_HEADER = re.compile(
    r"""^\s*\[\s*tool\s*\.\s*(?:sls-deploy|"sls-deploy"|'sls-deploy')\s*\]\s*(?:#.*)?$"""
)
# A simple value (number, bool, one-line string) and an optional comment after it.
_VALUE_AND_COMMENT = re.compile(r"""^(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^#"']*?)\s*(?P<comment>#.*)?$""")


def toml_value(value: Value) -> str:
    """`value` as TOML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _key_line(key: str) -> re.Pattern[str]:
    name = re.escape(key)
    return re.compile(rf"""^(?P<indent>\s*)(?:{name}|"{name}"|'{name}')\s*=\s*(?P<rest>.*)$""")


def _set_in_region(lines: list[str], start: int, end: int, key: str, value: Value) -> int:
    """Set `key` in lines[start:end] (one table's body); returns how many lines were added (0 or 1)."""
    pattern = _key_line(key)
    for index in range(start, end):
        match = pattern.match(lines[index].rstrip("\n"))
        if match is None:
            continue
        parsed = _VALUE_AND_COMMENT.match(match["rest"])
        comment = f"  {parsed['comment']}" if parsed is not None and parsed["comment"] else ""
        lines[index] = f"{match['indent']}{key} = {toml_value(value)}{comment}\n"
        return 0
    insert = end
    while insert > start and not lines[insert - 1].strip():  # before the blank lines ending the table
        insert -= 1
    if insert > 0 and not lines[insert - 1].endswith("\n"):
        lines[insert - 1] += "\n"
    lines.insert(insert, f"{key} = {toml_value(value)}\n")
    return 1


def _region_end(lines: list[str], start: int) -> int:
    return next((i for i in range(start, len(lines)) if _HEADER.match(lines[i])), len(lines))


def edited_text(text: str, values: Mapping[str, Value], table: str | None) -> str:
    """`text` (a TOML document) with `values` set at top level (`table` None) or in `[tool.sls-deploy]`."""
    lines = text.splitlines(keepends=True)
    if table is None:
        start = 0
    else:
        header = next((i for i, line in enumerate(lines) if _TOOL_HEADER.match(line)), None)
        if header is None:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines += (["\n"] if lines and lines[-1].strip() else []) + [f"[{TABLE}]\n"]
            header = len(lines) - 1
        start = header + 1
    for key, value in values.items():
        _set_in_region(lines, start, _region_end(lines, start), key, value)
    return "".join(lines)


def settings_file(project_dir: Path) -> tuple[Path, str | None]:
    """The config file settings go to and the table inside it (None: top level)."""
    _, used = _file_settings(project_dir)
    path = Path(used) if used else None
    if path is None:
        config = project_dir / CONFIG_NAME
        pyproject = project_dir / PYPROJECT_NAME
        path = pyproject if pyproject.is_file() and not config.is_file() else config
    return path, (TABLE if path.name == PYPROJECT_NAME else None)


def write_settings(project_dir: Path, values: Mapping[str, Value]) -> Path:
    """Set `values` in the project's config file (see the module's docstring); the file written."""
    path, table = settings_file(project_dir)
    try:
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}", "check its permissions") from exc
    after = edited_text(before, values, table)
    try:
        data = tomllib.loads(after)
    except tomllib.TOMLDecodeError as exc:
        data, problem = {}, str(exc)
    else:
        problem = ""
    settings = data.get("tool", {}).get("sls-deploy", {}) if table else data
    wrong = [key for key, value in values.items() if settings.get(key) != value]
    if problem or wrong:
        lines = ", ".join(f"{key} = {toml_value(value)}" for key, value in values.items())
        raise ConfigError(
            f"{path} could not be edited safely ({problem or 'its layout hides ' + ', '.join(wrong)})",
            f"set {lines} there by hand" + (f" in [{table}]" if table else ""),
        )
    try:
        atomic_write_text(path, after)
    except OSError as exc:
        raise ConfigError(f"{path} cannot be written: {exc.strerror}", "check its permissions") from exc
    return path
