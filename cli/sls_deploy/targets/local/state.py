"""The local target's on-disk state under the project's state folder (config.state_path, `.sls-deploy/`).

Layout:
    artifacts/<sha256>.zip                      content-addressed copies of deployed zips
    extracted/<sha256>/                         each zip extracted once (read-only files), shared by versions
    functions/<name>/versions/<n>.json          an immutable published version (VersionRecord)
    functions/<name>/versions/<n>/opt/          that version's /opt: its layers merged in order (hard links)
    functions/<name>/versions/<n>/retired.json  a pruned or removed version's record, until its files go
    functions/<name>/aliases.json               {"live": n} or, with weighted routing (a canary),
                                                {"live": {"version": n, "extra_version": m, "extra_weight": w}}
    functions/<name>/latest.json                {"version": n}: what $LATEST (the last deploy) resolves to
    functions/<name>/leases/<n>.lock            shared fcntl locks of the workers running version n
    functions/<name>/.lock                      fcntl lock held while versions or aliases change
    .gc.lock                                    shared while artifacts are stored and published, exclusive
                                                while unreferenced artifacts are deleted

Writes are atomic (temporary file or folder, then rename). Version records and aliases change only under the
function's lock, so two concurrent pushes cannot mint the same version number or lose an alias move.

Lifecycle of a version's files: publishing keeps the newest `keep` versions plus every version an alias
routes to (or $LATEST names); older ones are retired (their record moves to versions/<n>/retired.json, so
the version can no longer be resolved). A retired version's folder is deleted once no worker holds its lease
(`lease()`: whoever runs a worker on a version holds one for the worker's lifetime), by the next publish,
remove or garbage collection. Artifacts and extracted trees go when no version record — current or retired
— references them any more (`collect_garbage`), under the exclusive .gc.lock; a deploy stores its artifacts
and publishes the record referencing them under the shared one (`pinning_artifacts`), so a concurrent
collection never deletes an artifact a publish is about to reference.

The records live in versions.py, the artifacts and extracted trees in store.py (ArtifactStore, which
LocalState extends).

Side effects: only below the state folder.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ...core.artifacts import Artifact
from ...core.errors import NotDeployedError, TargetError
from ...core.fsutil import atomic_write_text, file_lock
from ..base import default_rollback
from .store import ArtifactStore
from .versions import AliasRoute, Publication, PublishPlan, VersionLease, VersionRecord, prunable


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


class LocalState(ArtifactStore):
    """Reads and writes the state folder of one project."""

    # -- functions and versions --------------------------------------------------------------------------
    def function_dir(self, name: str) -> Path:
        return self.root / "functions" / name

    def function_names(self) -> list[str]:
        base = self.root / "functions"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        base = self.function_dir(name) / "versions"
        if not base.is_dir():
            return []
        return sorted(int(p.stem) for p in base.glob("*.json") if p.stem.isdigit())

    def read_version(self, name: str, version: int) -> VersionRecord | None:
        data = _read_json(self.function_dir(name) / "versions" / f"{version}.json")
        return None if data is None else VersionRecord.from_json(data)

    def alias_routes(self, name: str) -> dict[str, AliasRoute]:
        data = _read_json(self.function_dir(name) / "aliases.json")
        try:
            return {str(k): AliasRoute.from_json(v) for k, v in (data or {}).items()}
        except (TypeError, ValueError, KeyError) as exc:
            path = self.function_dir(name) / "aliases.json"
            raise TargetError(
                f"the local state file {path} is unreadable: {exc}", f"delete {path} and push again"
            ) from exc

    def aliases(self, name: str) -> dict[str, int]:
        """Each alias's main version (a canary's extra version aside)."""
        return {alias: route.version for alias, route in self.alias_routes(name).items()}

    def set_alias(self, name: str, alias: str, route: AliasRoute | int) -> None:
        routes = self.alias_routes(name)
        routes[alias] = route if isinstance(route, AliasRoute) else AliasRoute(route)
        _write_json(
            self.function_dir(name) / "aliases.json", {key: value.to_json() for key, value in routes.items()}
        )

    def latest(self, name: str) -> int | None:
        data = _read_json(self.function_dir(name) / "latest.json")
        return None if data is None else int(data["version"])

    def lock(self, name: str) -> AbstractContextManager[None]:
        return file_lock(self.function_dir(name) / ".lock")

    def plan_publish(
        self,
        record: VersionRecord,
        alias: str = "live",
        canary_weight: float | None = None,
        keep: int | None = None,
    ) -> PublishPlan:
        """What `publish` would do now, without writing: the version `alias` would route to (an equal one
        reused when the alias routes to it or it is the newest, say after a rollback; else the next number,
        its created_at still empty), the alias before and after, and the versions pruning would retire.

        Without `canary_weight` the alias sends all its traffic there; with it (0..1) the version becomes
        the alias's extra version with that weight and the alias's main version keeps the rest — unless
        there is no main version yet, or it is that same version. With `keep`, versions beyond the newest
        `keep` are retired unless an alias routes to them or $LATEST names them."""
        if canary_weight is not None and not 0.0 < canary_weight < 1.0:
            raise TargetError(
                f"a canary weight of {canary_weight} is not between 0 and 1",
                "give a percentage 0 < PCT < 100",
            )
        name = record.name
        routes = self.alias_routes(name)
        before = routes.get(alias)
        existing = self.versions(name)
        candidates = [*(before.versions if before else ()), *existing[-1:]]
        found = (self.read_version(name, n) for n in candidates)
        published = next((v for v in found if v is not None and v.fingerprint == record.fingerprint), None)
        minted = published is None
        if published is None:
            published = replace(record, version=self._next_number(name), created_at="")
        if canary_weight is None or before is None or before.version == published.version:
            route = AliasRoute(published.version)
        else:
            same = before.extra_version == published.version and before.since is not None
            route = AliasRoute(
                before.version, published.version, canary_weight, before.since if same else None
            )
        changed = minted or route != before
        retired: tuple[int, ...] = ()
        if keep is not None:
            after = {**routes, alias: route} if changed else routes
            latest = published.version if changed else self.latest(name)
            spared = {n for r in after.values() for n in r.versions} | ({latest} if latest else set())
            retired = tuple(prunable([*existing, *([published.version] if minted else [])], spared, keep))
        return PublishPlan(published, minted, changed, before, route, retired)

    def publish(
        self,
        record: VersionRecord,
        alias: str = "live",
        canary_weight: float | None = None,
        keep: int | None = None,
        expected: PublishPlan | None = None,
    ) -> Publication:
        """Carry out `plan_publish` under the function's lock (with `expected`: only if it still plans that,
        else TargetError). Call inside `pinning_artifacts()` when the record's artifacts were just stored."""
        name = record.name
        with self.lock(name):
            plan = self.plan_publish(record, alias, canary_weight, keep)
            if expected is not None and plan != expected:
                raise TargetError(
                    f"{name} changed on the local target since this deploy was planned (now: "
                    f"{plan.describe(alias)}; planned: {expected.describe(alias)})",
                    "plan again: run the push again",
                )
            published, route = plan.record, plan.route
            if plan.minted:
                published = replace(published, created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                self.build_opt(published)
                _write_json(self._record_path(name, published.version), published.to_json())
            if route.extra_version is not None and route.since is None:
                route = replace(route, since=time.time())
            if plan.changed:
                _write_json(self.function_dir(name) / "latest.json", {"version": published.version})
                self.set_alias(name, alias, route)
            retired = self._prune_locked(name, keep) if keep is not None else []
            released = {
                sha for gone in self._sweep_locked(name) for sha in (gone.code_sha256, *gone.layer_sha256s)
            }
            return Publication(
                published, plan.changed, plan.before, route, tuple(retired), frozenset(released)
            )

    def deploy(
        self,
        record: VersionRecord,
        artifacts: Iterable[Artifact],
        alias: str = "live",
        canary_weight: float | None = None,
        keep: int | None = None,
        expected: PublishPlan | None = None,
    ) -> Publication:
        """Store `artifacts`, publish `record` (see `publish`; `expected`: the plan it must still match), make its files ready to run, and delete the
        artifacts that versions retired meanwhile no longer need. The artifacts stay pinned until the record
        referencing them is published, so a concurrent garbage collection cannot take them in between."""
        with self.pinning_artifacts():
            for artifact in artifacts:
                self.store_artifact(artifact)
            publication = self.publish(record, alias, canary_weight, keep, expected)
            self.extracted(publication.record.code_sha256)
            self.opt_dir(publication.record)
        if publication.released_artifacts:
            self.collect_garbage(publication.released_artifacts)
        return publication

    def _record_path(self, name: str, version: int) -> Path:
        return self.function_dir(name) / "versions" / f"{version}.json"

    def _next_number(self, name: str) -> int:
        """One past every number in use, including retired versions whose folders a worker still holds."""
        base = self.function_dir(name) / "versions"
        names = [p.name.removesuffix(".json") for p in base.iterdir()] if base.is_dir() else []
        return max((int(n) for n in names if n.isdigit()), default=0) + 1

    # -- aliases -----------------------------------------------------------------------------------------
    def rollback(
        self, name: str, alias: str = "live", to: int | None = None
    ) -> tuple[AliasRoute, AliasRoute]:
        """Route all of `alias` to version `to`; by default base.default_rollback's choice (during a canary
        the version it started from, else the newest older version). Returns (before, after)."""
        with self.lock(name):
            before = self._route_or_error(name, alias)
            existing = self.versions(name)
            if to is None:
                to = default_rollback(before.version, before.extra_version, existing)
                if to is None:
                    raise TargetError(
                        f"{name}: {alias} routes to version {before.version} and no older version is kept",
                        f"versions are: {', '.join(map(str, existing))}; give one with --to",
                    )
            elif to not in existing:
                raise NotDeployedError(
                    f"{name} has no version {to}", f"versions are: {', '.join(map(str, existing))}"
                )
            after = AliasRoute(to)
            self.set_alias(name, alias, after)
            return before, after

    def promote(self, name: str, alias: str = "live") -> tuple[AliasRoute, AliasRoute]:
        """Route all of `alias` to its extra (canary) version. Returns (before, after)."""
        with self.lock(name):
            before = self._route_or_error(name, alias)
            if before.extra_version is None:
                raise TargetError(
                    f"{name}: {alias} routes all traffic to version {before.version}; there is no canary "
                    "to promote",
                    "start one with `sls-deploy push MODEL --name NAME --canary 10`",
                )
            after = AliasRoute(before.extra_version)
            self.set_alias(name, alias, after)
            return before, after

    def abort_canary(
        self, name: str, version: int, alias: str = "live"
    ) -> tuple[AliasRoute, AliasRoute] | None:
        """Route all of `alias` back to its main version if its canary is still `version`; None when the
        canary already ended (promoted, rolled back or replaced meanwhile). Returns (before, after)."""
        with self.lock(name):
            before = self.alias_routes(name).get(alias)
            if before is None or before.extra_version != version:
                return None
            after = AliasRoute(before.version)
            self.set_alias(name, alias, after)
            return before, after

    def _route_or_error(self, name: str, alias: str) -> AliasRoute:
        route = self.alias_routes(name).get(alias)
        if route is None:
            raise NotDeployedError(f"{name} has no alias {alias!r}", "push the function first")
        return route

    # -- pruning, removal and garbage collection ----------------------------------------------------------
    def pinning_artifacts(self) -> AbstractContextManager[None]:
        """Held (shared) while artifacts are stored and the records referencing them published: garbage
        collection waits until no deploy is between storing an artifact and referencing it."""
        return file_lock(self.root / ".gc.lock", shared=True)

    def _prune_locked(self, name: str, keep: int) -> list[int]:
        """Retire all but the newest `keep` versions, sparing what an alias routes to and $LATEST."""
        spared = {n for route in self.alias_routes(name).values() for n in route.versions}
        latest = self.latest(name)
        if latest is not None:
            spared.add(latest)
        doomed = prunable(self.versions(name), spared, keep)
        for number in doomed:
            self._retire_locked(name, number)
        return doomed

    def _retire_locked(self, name: str, version: int) -> None:
        source = self._record_path(name, version)
        data = _read_json(source)
        if data is None:
            return
        # Written before the record goes, so garbage collection always sees one of the two.
        _write_json(self.function_dir(name) / "versions" / str(version) / "retired.json", data)
        source.unlink()

    def _sweep_locked(self, name: str) -> list[VersionRecord]:
        """Delete the folders of retired versions no worker holds a lease on; returns their records."""
        base = self.function_dir(name) / "versions"
        if not base.is_dir():
            return []
        swept = []
        for folder in sorted(base.iterdir()):
            if (
                not folder.name.isdigit()
                or not folder.is_dir()
                or self._record_path(name, int(folder.name)).exists()
            ):
                continue
            lease_path = self._lease_path(name, int(folder.name))
            lease_path.parent.mkdir(parents=True, exist_ok=True)
            with lease_path.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a worker still runs this version: its files stay until it stops
                data = _read_json(folder / "retired.json")
                shutil.rmtree(folder, ignore_errors=True)
                lease_path.unlink(missing_ok=True)
            if data is not None:
                swept.append(VersionRecord.from_json(data))
        return swept

    def _retired_records(self, name: str) -> list[VersionRecord]:
        base = self.function_dir(name) / "versions"
        found = []
        for path in sorted(base.glob("*/retired.json")) if base.is_dir() else []:
            data = _read_json(path)
            if data is not None:
                found.append(VersionRecord.from_json(data))
        return found

    def remove(self, name: str) -> list[int]:
        """Retire every version of `name` and drop its aliases; returns the version numbers removed.

        Folders of versions a worker still runs stay until it stops (the next sweep deletes them);
        artifacts stay until `collect_garbage`.
        """
        with self.lock(name):
            existing = self.versions(name)
            if not existing:
                raise NotDeployedError(
                    f"no function {name!r} is deployed on the local target", "nothing to remove"
                )
            for number in existing:
                self._retire_locked(name, number)
            for file in ("aliases.json", "latest.json"):
                (self.function_dir(name) / file).unlink(missing_ok=True)
            self._sweep_locked(name)
            return existing

    def collect_garbage(self, candidates: Iterable[str] | None = None) -> list[Path]:
        """Delete artifacts and extracted trees (of `candidates` only, if given) that no version record,
        current or retired, of any function references; sweeps retired versions first. Returns what went."""
        wanted = None if candidates is None else set(candidates)
        deleted: list[Path] = []
        with file_lock(self.root / ".gc.lock"):
            referenced: set[str] = set()
            base = self.root / "functions"
            for folder in sorted(base.iterdir()) if base.is_dir() else []:
                with self.lock(folder.name):
                    self._sweep_locked(folder.name)
                    records = [self.read_version(folder.name, n) for n in self.versions(folder.name)]
                    for found in [*records, *self._retired_records(folder.name)]:
                        if found is not None:
                            referenced.update((found.code_sha256, *found.layer_sha256s))
            for path in sorted((self.root / "artifacts").glob("*.zip")):
                if path.stem not in referenced and (wanted is None or path.stem in wanted):
                    path.unlink(missing_ok=True)
                    deleted.append(path)
            extracted = self.root / "extracted"
            for path in sorted(extracted.iterdir()) if extracted.is_dir() else []:
                if path.name.startswith("."):
                    continue
                if path.name not in referenced and (wanted is None or path.name in wanted):
                    trash = path.with_name(f".{path.name}.{uuid.uuid4().hex}.trash")
                    path.rename(trash)  # readers see the whole tree or none of it
                    shutil.rmtree(trash, ignore_errors=True)
                    deleted.append(path)
        return deleted

    # -- leases ------------------------------------------------------------------------------------------
    def _lease_path(self, name: str, version: int) -> Path:
        return self.function_dir(name) / "leases" / f"{version}.lock"

    def lease(self, record: VersionRecord) -> VersionLease:
        """A shared lock keeping `record`'s files (its /opt and the extracted trees it uses) on disk until
        released, even when the version is pruned or the function removed meanwhile. NotDeployedError
        when the version is already gone."""
        path = self._lease_path(record.name, record.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        fcntl.flock(handle, fcntl.LOCK_SH)
        lease = VersionLease(handle)
        if self.read_version(record.name, record.version) != record:  # retired before the lock was taken
            lease.release()
            raise NotDeployedError(
                f"{record.name} version {record.version} was removed or pruned",
                "resolve the alias again: it routes to versions that are kept",
            )
        return lease

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
            self.merge_layers(record.layer_sha256s, tmp)
            if dest.is_dir():  # built concurrently; keep the first
                shutil.rmtree(tmp)
            else:
                tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    # -- per-function settings (not part of a version: changing them publishes nothing) ---------------------
    def write_function_settings(self, name: str, settings: dict[str, Any]) -> None:
        """functions/<name>/settings.json, e.g. {"reserved_concurrency": 2}; written at every deploy."""
        _write_json(self.function_dir(name) / "settings.json", settings)

    def function_settings(self, name: str) -> dict[str, Any]:
        return dict(_read_json(self.function_dir(name) / "settings.json") or {})
