"""The local target's state folder: content-addressed artifacts, immutable versions, aliases, merged /opt."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.errors import TargetError
from sls_deploy.core.zips import write_deterministic_zip
from sls_deploy.targets.local.state import LocalState
from sls_deploy.targets.local.versions import VersionRecord


def layer(folder: Path, name: str, files: dict[str, str]) -> Artifact:
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for index, (arcname, text) in enumerate(files.items()):
        path = folder / f"{name}-{index}"
        path.write_text(text)
        sources.append((path, arcname))
    write_deterministic_zip(sources, folder / f"{name}.zip")
    return Artifact.from_zip("model-layer", name, folder / f"{name}.zip")


def record(
    name: str = "fn",
    code: str = "c" * 64,
    layers: tuple[str, ...] = (),
    memory: int = 512,
    environment: dict[str, str] | None = None,
) -> VersionRecord:
    env = environment or {}
    return VersionRecord(
        name=name,
        version=0,
        code_sha256=code,
        layer_sha256s=layers,
        handler="app.handler",
        runtime="python3.12",
        arch="x86_64",
        memory=memory,
        timeout=3,
        environment=env,
    )


def test_an_artifact_is_stored_once_under_its_sha256(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    artifact = layer(tmp_path / "src", "a", {"python/a.py": "A = 1\n"})
    first = state.store_artifact(artifact)
    assert first == tmp_path / "state" / "artifacts" / f"{artifact.sha256}.zip"
    mtime = first.stat().st_mtime_ns
    assert state.store_artifact(artifact) == first and first.stat().st_mtime_ns == mtime


def test_an_artifact_whose_zip_changed_after_the_build_is_refused(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    artifact = layer(tmp_path / "src", "a", {"python/a.py": "A = 1\n"})
    artifact.zip_path.write_bytes(b"not the zip that was hashed")
    with pytest.raises(TargetError, match="changed after it was built"):
        state.store_artifact(artifact)


def test_publishing_an_equal_version_changes_nothing_and_a_different_one_mints_the_next_number(
    tmp_path: Path,
) -> None:
    state = LocalState(tmp_path)
    first = state.publish(record())
    again = state.publish(record())
    second = state.publish(record(memory=1024))
    assert (first.record.version, first.changed) == (1, True)
    assert (again.record.version, again.changed) == (1, False)
    assert (second.record.version, second.changed) == (2, True)
    assert state.aliases("fn") == {"live": 2}
    assert state.read_version("fn", 1) == first.record and first.record.created_at


def test_an_environment_change_is_a_new_version(tmp_path: Path) -> None:
    state = LocalState(tmp_path)
    state.publish(record(environment={"A": "1"}))
    publication = state.publish(record(environment={"A": "2"}))
    assert publication.changed and publication.record.version == 2


def test_after_a_rollback_pushing_the_newest_again_moves_the_alias_back_without_a_new_version(
    tmp_path: Path,
) -> None:
    state = LocalState(tmp_path)
    state.publish(record())
    state.publish(record(memory=1024))
    state.set_alias("fn", "live", 1)
    publication = state.publish(record(memory=1024))
    assert publication.changed and publication.record.version == 2
    assert state.versions("fn") == [1, 2] and state.aliases("fn") == {"live": 2}


def test_concurrent_publishes_never_mint_the_same_version(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def push(memory: int) -> None:
        try:
            LocalState(tmp_path).publish(record(memory=memory))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(128 + i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = LocalState(tmp_path)
    assert not errors
    assert state.versions("fn") == list(range(1, 9))
    assert sorted(state.read_version("fn", n).memory for n in range(1, 9)) == [128 + i for i in range(8)]  # type: ignore[union-attr]


def test_a_versions_opt_merges_layers_in_order_with_later_files_winning_as_hard_links(tmp_path: Path) -> None:
    state = LocalState(tmp_path / "state")
    first = layer(
        tmp_path / "src", "first", {"python/shared.py": "WHO = 'first'\n", "python/only1.py": "X = 1\n"}
    )
    second = layer(tmp_path / "src", "second", {"python/shared.py": "WHO = 'second'\n", "model/m.json": "{}"})
    for artifact in (first, second):
        state.store_artifact(artifact)
    published = state.publish(record(layers=(first.sha256, second.sha256))).record
    opt = state.opt_dir(published)
    assert opt == tmp_path / "state" / "functions" / "fn" / "versions" / "1" / "opt"
    assert (opt / "python" / "shared.py").read_text() == "WHO = 'second'\n"
    assert (opt / "python" / "only1.py").read_text() == "X = 1\n"
    assert (opt / "model" / "m.json").is_file()
    extracted = state.extracted(second.sha256) / "python" / "shared.py"
    assert os.stat(extracted).st_ino == os.stat(opt / "python" / "shared.py").st_ino
    assert not os.stat(extracted).st_mode & 0o222, "extracted files are read-only like /opt on Lambda"


def test_a_record_survives_its_json_round_trip() -> None:
    original = replace(
        record(layers=("a" * 64, "b" * 64), environment={"K": "V"}), version=3, created_at="now"
    )
    assert VersionRecord.from_json(original.to_json()) == original
