"""The local target's on-disk state under the project's state folder (config.state_path, `.sls-deploy/`).

Layout:
    artifacts/<sha256>.zip                      content-addressed copies of deployed zips
    extracted/<sha256>/                         each zip extracted once (read-only files), shared by versions
    functions/<name>/versions/<n>.json          an immutable published version (VersionRecord)
    functions/<name>/versions/<n>/opt/          that version's /opt: its layers merged in order (hard links)
    functions/<name>/aliases.json               {"live": n}
    functions/<name>/latest.json                {"version": n}: what $LATEST (the last deploy) resolves to
    functions/<name>/.lock                      fcntl lock held while publishing

Writes are atomic (temporary file or folder, then rename); publishing holds the function's lock so two
concurrent pushes cannot mint the same version number. Side effects: only below the state folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sls_inference.integrity import sha256_file

from ...errors import TargetError
from ...fsutil import atomic_write_text, file_lock
from ...package.artifacts import Artifact
from ...package.zips import extract_zip

RECORD_FORMAT = 1


@dataclass(frozen=True)
class VersionRecord:
    """One published version: which code and layers (by sha256) with which configuration."""

    name: str
    version: int
    code_sha256: str
    layer_sha256s: tuple[str, ...]  # mount order: later layers overwrite earlier ones in /opt
    handler: str
    runtime: str
    arch: str
    memory: int
    timeout: int
    environment: dict[str, str] = field(default_factory=dict, hash=False)
    model_sha256: str = ""
    created_at: str = ""

    @property
    def fingerprint(self) -> str:
        """What makes two versions the same (all but name, number and date): equal → no new version."""
        data = [
            self.code_sha256,
            list(self.layer_sha256s),
            self.handler,
            self.runtime,
            self.arch,
            self.memory,
            self.timeout,
            sorted(self.environment.items()),
            self.model_sha256,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["layer_sha256s"] = list(self.layer_sha256s)
        return {"format": RECORD_FORMAT, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionRecord:
        fields = {k: v for k, v in data.items() if k not in ("format", "fingerprint")}
        fields["layer_sha256s"] = tuple(fields.get("layer_sha256s", ()))
        fields["environment"] = dict(fields.get("environment", {}))
        return cls(**fields)


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TargetError(
            f"the local state file {path} is unreadable: {exc}", f"delete {path.parent} and push again"
        ) from exc


def _make_read_only(root: Path) -> None:
    """Drop write bits, as Lambda mounts /var/task and /opt read-only (root ignores them, others do not)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            mode = path.stat().st_mode
            path.chmod(stat.S_IMODE(mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or links not allowed
        shutil.copy2(src, dst)


class LocalState:
    """Reads and writes the state folder of one project."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- artifacts ---------------------------------------------------------------------------------------
    def artifact_path(self, sha256: str) -> Path:
        return self.root / "artifacts" / f"{sha256}.zip"

    def store_artifact(self, artifact: Artifact) -> Path:
        """Copy the zip in under its sha256 (once); checks the file still has the hash it was built with."""
        dest = self.artifact_path(artifact.sha256)
        if dest.is_file():
            return dest
        if not artifact.zip_path.is_file():
            raise TargetError(
                f"the {artifact.kind} zip {artifact.zip_path} is missing",
                "build it again (sls-deploy push rebuilds everything it needs)",
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(artifact.zip_path, tmp)
        actual = sha256_file(tmp)
        if actual != artifact.sha256:
            tmp.unlink()
            raise TargetError(
                f"{artifact.zip_path} changed after it was built (sha256 {actual[:12]}…, "
                f"expected {artifact.sha256[:12]}…)",
                "build it again, then deploy",
            )
        tmp.replace(dest)
        return dest

    def extracted(self, sha256: str) -> Path:
        """The zip with this sha256, extracted once into extracted/<sha256>/ (read-only files)."""
        dest = self.root / "extracted" / sha256
        if dest.is_dir():
            return dest
        zip_path = self.artifact_path(sha256)
        if not zip_path.is_file():
            raise TargetError(
                f"artifact {sha256[:12]}… is missing from {self.root / 'artifacts'}",
                "push the function again to restore it",
            )
        tmp = dest.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
        tmp.mkdir(parents=True)
        try:
            extract_zip(zip_path, tmp)
            _make_read_only(tmp)
            tmp.rename(dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not dest.is_dir():  # not a concurrent extraction that won the rename
                raise
        return dest

    # -- functions and versions --------------------------------------------------------------------------
    def function_dir(self, name: str) -> Path:
        return self.root / "functions" / name

    def function_names(self) -> list[str]:
        base = self.root / "functions"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "versions").is_dir())

    def versions(self, name: str) -> list[int]:
        base = self.function_dir(name) / "versions"
        if not base.is_dir():
            return []
        return sorted(int(p.stem) for p in base.glob("*.json") if p.stem.isdigit())

    def read_version(self, name: str, version: int) -> VersionRecord | None:
        data = _read_json(self.function_dir(name) / "versions" / f"{version}.json")
        return None if data is None else VersionRecord.from_json(data)

    def aliases(self, name: str) -> dict[str, int]:
        data = _read_json(self.function_dir(name) / "aliases.json")
        return {str(k): int(v) for k, v in (data or {}).items()}

    def set_alias(self, name: str, alias: str, version: int) -> None:
        aliases = self.aliases(name)
        aliases[alias] = version
        _write_json(self.function_dir(name) / "aliases.json", aliases)

    def latest(self, name: str) -> int | None:
        data = _read_json(self.function_dir(name) / "latest.json")
        return None if data is None else int(data["version"])

    def lock(self, name: str) -> AbstractContextManager[None]:
        return file_lock(self.function_dir(name) / ".lock")

    def publish(self, record: VersionRecord, alias: str = "live") -> tuple[VersionRecord, bool]:
        """Point `alias` at a version equal to `record` (its `version` is ignored), publishing one if needed.

        Returns (the version, changed). Unchanged when the alias already points at an equal version; when
        the newest version is equal (say after a rollback), the alias moves back to it; otherwise a new
        version number is minted. Holds the function's lock throughout.
        """
        name = record.name
        with self.lock(name):
            current = self.aliases(name).get(alias)
            if current is not None:
                live = self.read_version(name, current)
                if live is not None and live.fingerprint == record.fingerprint:
                    return live, False
            existing = self.versions(name)
            newest = self.read_version(name, existing[-1]) if existing else None
            if newest is not None and newest.fingerprint == record.fingerprint:
                published = newest
            else:
                number = (existing[-1] if existing else 0) + 1
                published = VersionRecord.from_json(
                    {
                        **record.to_json(),
                        "version": number,
                        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                )
                self.build_opt(published)
                _write_json(self.function_dir(name) / "versions" / f"{number}.json", published.to_json())
            _write_json(self.function_dir(name) / "latest.json", {"version": published.version})
            self.set_alias(name, alias, published.version)
            return published, True

    def opt_dir(self, record: VersionRecord) -> Path:
        """The version's /opt, built on first use."""
        path = self.function_dir(record.name) / "versions" / str(record.version) / "opt"
        return path if path.is_dir() else self.build_opt(record)

    def build_opt(self, record: VersionRecord) -> Path:
        """Merge the version's layers, in order, into versions/<n>/opt (hard links into the extracted trees)."""
        dest = self.function_dir(record.name) / "versions" / str(record.version) / "opt"
        tmp = dest.with_name(f".opt.{uuid.uuid4().hex}.tmp")
        tmp.mkdir(parents=True)
        try:
            for sha in record.layer_sha256s:
                layer = self.extracted(sha)
                for dirpath, _, filenames in os.walk(layer):
                    rel = Path(dirpath).relative_to(layer)
                    (tmp / rel).mkdir(parents=True, exist_ok=True)
                    for filename in filenames:
                        target = tmp / rel / filename
                        if target.exists():
                            target.unlink()  # a later layer overwrites an earlier one
                        _link_or_copy(Path(dirpath) / filename, target)
            if dest.is_dir():  # built concurrently; keep the first
                shutil.rmtree(tmp)
            else:
                tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest
