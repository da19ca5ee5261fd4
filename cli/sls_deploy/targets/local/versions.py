"""The local target's version records: a published version (VersionRecord), where an alias sends traffic
(AliasRoute), what a publish did (Publication), and a worker's hold on a version's files (VersionLease).

Pure data, except that a VersionLease releases the fcntl lock it holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

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


@dataclass(frozen=True)
class AliasRoute:
    """Where an alias sends traffic: `version`, and the share `extra_weight` (0..1) of it to `extra_version`."""

    version: int
    extra_version: int | None = None
    extra_weight: float = 0.0
    since: float | None = field(default=None, compare=False)  # when the canary (extra version) began

    def __post_init__(self) -> None:
        if self.extra_version is not None and not 0.0 < self.extra_weight < 1.0:
            raise ValueError(f"extra_weight {self.extra_weight} is not between 0 and 1")

    @property
    def versions(self) -> tuple[int, ...]:
        return (self.version,) if self.extra_version is None else (self.version, self.extra_version)

    def describe(self) -> str:
        """ "2", or during a canary "2 (90 %) + 3 (10 %)"."""
        if self.extra_version is None:
            return str(self.version)
        extra = round(self.extra_weight * 100, 2)
        return f"{self.version} ({100 - extra:g} %) + {self.extra_version} ({extra:g} %)"

    def to_json(self) -> Any:
        """A plain version number without routing (the original aliases.json format), else an object."""
        if self.extra_version is None:
            return self.version
        data: dict[str, Any] = {
            "version": self.version,
            "extra_version": self.extra_version,
            "extra_weight": self.extra_weight,
        }
        if self.since is not None:
            data["since"] = self.since
        return data

    @classmethod
    def from_json(cls, data: Any) -> AliasRoute:
        if isinstance(data, dict):
            extra = data.get("extra_version")
            weight = float(data.get("extra_weight") or 0.0)
            if extra is None or weight <= 0.0:
                return cls(int(data["version"]))
            since = data.get("since")
            return cls(int(data["version"]), int(extra), weight, None if since is None else float(since))
        return cls(int(data))


@dataclass(frozen=True)
class Publication:
    """What `publish` did: the version `alias` now routes to (for a canary: its extra version), whether
    anything changed, the alias before and after, the versions retired by pruning, and the artifacts that
    retired versions referenced (to offer to `collect_garbage`)."""

    record: VersionRecord
    changed: bool
    before: AliasRoute | None
    route: AliasRoute
    retired: tuple[int, ...] = ()
    released_artifacts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PublishPlan:
    """What a publish would do (LocalState.plan_publish): the version the alias would route to (`minted`: a
    new one, its created_at still empty), whether anything changes, the alias before and after, and the
    versions pruning would retire. Equal plans do the same."""

    record: VersionRecord
    minted: bool
    changed: bool
    before: AliasRoute | None
    route: AliasRoute
    retired: tuple[int, ...] = ()

    def describe(self, alias: str) -> str:
        """One line: e.g. "publish version 3, live → 2 (90 %) + 3 (10 %)"."""
        publish = (
            f"publish version {self.record.version}" if self.minted else f"keep version {self.record.version}"
        )
        return f"{publish}, {alias} → {self.route.describe()}"


def prunable(existing: Sequence[int], spared: Iterable[int], keep: int) -> list[int]:
    """The versions beyond the newest `keep` of `existing` (ascending) that are not `spared`."""
    kept = set(spared)
    return [n for n in existing[: max(0, len(existing) - keep)] if n not in kept]


class VersionLease:
    """A shared lock on one version, held while a worker runs it: its files are not deleted meanwhile."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> VersionLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
