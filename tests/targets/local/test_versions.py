"""Versions and aliases of the local state: canary routing, rollback, promote, pruning, removal, leases,
garbage collection, and publishes from several processes at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.errors import NotDeployedError, TargetError
from sls_deploy.core.zips import write_deterministic_zip
from sls_deploy.targets.local.state import LocalState
from sls_deploy.targets.local.versions import AliasRoute, VersionRecord


def artifact(folder: Path, name: str, text: str) -> Artifact:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.py"
    source.write_text(text)
    write_deterministic_zip([(source, f"python/{name}.py")], folder / f"{name}.zip")
    return Artifact.from_zip("model-layer", name, folder / f"{name}.zip")


def record(code: Artifact, layer: Artifact, memory: int = 512, name: str = "fn") -> VersionRecord:
    return VersionRecord(
        name=name,
        version=0,
        code_sha256=code.sha256,
        layer_sha256s=(layer.sha256,),
        handler="app.handler",
        runtime="python3.12",
        arch="x86_64",
        memory=memory,
        timeout=3,
    )


@pytest.fixture
def state(tmp_path: Path) -> LocalState:
    return LocalState(tmp_path / "state")


@pytest.fixture
def code(tmp_path: Path) -> Artifact:
    return artifact(tmp_path / "src", "app", "def handler(e, c): return 1\n")


def deploy_memories(state: LocalState, code: Artifact, tmp_path: Path, memories: list[int], **kwargs):
    """Deploy one version per memory size, each with its own layer; returns the publications."""
    done = []
    for memory in memories:
        layer = artifact(tmp_path / f"layer{memory}", f"layer{memory}", f"M = {memory}\n")
        done.append(state.deploy(record(code, layer, memory), (code, layer), **kwargs))
    return done


def test_an_old_style_alias_file_is_read_and_rewritten_only_when_routing_needs_more(
    state: LocalState,
) -> None:
    path = state.function_dir("fn") / "aliases.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"live": 3}')
    assert state.alias_routes("fn") == {"live": AliasRoute(3)}
    state.set_alias("fn", "live", AliasRoute(3, 4, 0.25))
    assert json.loads(path.read_text()) == {"live": {"version": 3, "extra_version": 4, "extra_weight": 0.25}}
    state.set_alias("fn", "live", 4)
    assert json.loads(path.read_text()) == {"live": 4}


def test_a_canary_deploy_keeps_the_old_version_as_main_and_gives_the_new_one_its_weight(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    first, second = deploy_memories(state, code, tmp_path, [512, 1024], canary_weight=0.1)
    assert first.route == AliasRoute(1)  # nothing to share traffic with yet
    assert second.changed and second.record.version == 2
    assert second.route == AliasRoute(1, 2, 0.1)
    assert state.alias_routes("fn")["live"] == AliasRoute(1, 2, 0.1)
    assert state.aliases("fn") == {"live": 1}


def test_a_canary_of_what_live_already_serves_changes_nothing(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    (first,) = deploy_memories(state, code, tmp_path, [512])
    layer = artifact(tmp_path / "layer512", "layer512", "M = 512\n")
    again = state.deploy(record(code, layer, 512), (code, layer), canary_weight=0.5)
    assert not again.changed and again.route == AliasRoute(1)


def test_promote_moves_all_traffic_to_the_canary_and_fails_clearly_without_one(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [512, 1024], canary_weight=0.2)
    before, after = state.promote("fn")
    assert (before, after) == (AliasRoute(1, 2, 0.2), AliasRoute(2))
    with pytest.raises(TargetError, match="no canary") as info:
        state.promote("fn")
    assert "--canary" in info.value.hint


def test_rollback_goes_to_the_version_before_the_newest_one_live_serves(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [512, 1024, 2048])
    assert state.rollback("fn") == (AliasRoute(3), AliasRoute(2))
    assert state.rollback("fn") == (AliasRoute(2), AliasRoute(1))
    with pytest.raises(TargetError, match="no older version"):
        state.rollback("fn")
    assert state.rollback("fn", to=3) == (AliasRoute(1), AliasRoute(3))
    with pytest.raises(NotDeployedError, match="no version 9"):
        state.rollback("fn", to=9)


def test_rolling_back_a_canary_sends_everything_to_the_version_it_started_from(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [512, 1024])
    deploy_memories(state, code, tmp_path, [2048], canary_weight=0.3)
    assert state.alias_routes("fn")["live"] == AliasRoute(2, 3, 0.3)
    assert state.rollback("fn")[1] == AliasRoute(2)


def test_pruning_keeps_the_newest_versions_and_every_version_an_alias_routes_to(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [128, 256])
    state.set_alias("fn", "stable", 1)
    done = deploy_memories(state, code, tmp_path, [512, 1024, 2048, 4096], keep=2)
    assert state.versions("fn") == [1, 5, 6]
    assert done[-1].retired == (4,) and done[-2].retired == (3,) and done[-3].retired == (2,)
    for gone in (2, 3, 4):
        assert not (state.function_dir("fn") / "versions" / str(gone)).exists()
    for kept in (1, 5, 6):
        assert state.opt_dir(state.read_version("fn", kept)).is_dir()  # type: ignore[arg-type]


def test_pruning_deletes_artifacts_no_kept_version_references_and_keeps_shared_ones(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [128, 256, 512], keep=1)
    kept = state.read_version("fn", 3)
    assert kept is not None
    stored = sorted(p.stem for p in (state.root / "artifacts").glob("*.zip"))
    assert stored == sorted({code.sha256, *kept.layer_sha256s})
    extracted = sorted(p.name for p in (state.root / "extracted").iterdir() if not p.name.startswith("."))
    assert extracted == stored


def test_a_pruned_version_a_worker_holds_keeps_its_files_until_the_lease_is_released(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    (first,) = deploy_memories(state, code, tmp_path, [128])
    opt = state.opt_dir(first.record)
    task_root = state.extracted(first.record.code_sha256)
    lease = state.lease(first.record)
    deploy_memories(state, code, tmp_path, [256, 512], keep=1)
    assert state.versions("fn") == [3]
    assert (opt / "python" / "layer128.py").read_text() == "M = 128\n"  # still there for the worker
    assert state.extracted(first.record.layer_sha256s[0]).is_dir() and task_root.is_dir()
    lease.release()
    deploy_memories(state, code, tmp_path, [1024], keep=1)
    assert not opt.exists()
    assert not (state.root / "artifacts" / f"{first.record.layer_sha256s[0]}.zip").exists()


def test_a_lease_on_a_version_that_is_already_gone_is_refused(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    first, _ = deploy_memories(state, code, tmp_path, [128, 256], keep=1)
    with pytest.raises(NotDeployedError, match="removed or pruned"):
        state.lease(first.record)


def test_numbers_of_retired_versions_still_on_disk_are_not_minted_again(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    (first,) = deploy_memories(state, code, tmp_path, [128])
    with state.lease(first.record):
        state.remove("fn")
        assert state.function_names() == []
        (again,) = deploy_memories(state, code, tmp_path, [256])
        assert again.record.version == 2  # version 1's folder is still in use
        assert state.opt_dir(first.record).is_dir()


def test_remove_drops_versions_and_aliases_and_garbage_collection_then_purges_the_artifacts(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [128, 256])
    other_layer = artifact(tmp_path / "other", "other", "O = 1\n")
    state.deploy(record(code, other_layer, name="other"), (code, other_layer))
    assert state.remove("fn") == [1, 2]
    assert state.function_names() == ["other"] and state.alias_routes("fn") == {}
    with pytest.raises(NotDeployedError):
        state.remove("fn")
    deleted = state.collect_garbage()
    remaining = {p.stem for p in (state.root / "artifacts").glob("*.zip")}
    assert remaining == {code.sha256, other_layer.sha256}  # the code zip is shared with "other"
    assert len(deleted) == 4  # fn's two layer zips and their extracted trees
    assert {path.name.removesuffix(".zip") for path in deleted}.isdisjoint(remaining)


def test_garbage_collection_waits_for_a_deploy_between_storing_an_artifact_and_publishing_it(
    state: LocalState, code: Artifact, tmp_path: Path
) -> None:
    deploy_memories(state, code, tmp_path, [128])
    layer = artifact(tmp_path / "new", "new", "N = 1\n")
    collected: list[Path] = []
    with state.pinning_artifacts():
        state.store_artifact(layer)  # referenced by no version yet
        collector = threading.Thread(target=lambda: collected.extend(state.collect_garbage()))
        collector.start()
        collector.join(timeout=0.3)
        assert collector.is_alive(), "the collection ran while a deploy held stored artifacts"
        state.publish(record(code, layer, 256))
    collector.join()
    assert state.artifact_path(layer.sha256).is_file() and collected == []


CONCURRENT_DEPLOYS = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_versions import artifact, record
from sls_deploy.targets.local.state import LocalState

root, worker = Path(sys.argv[1]), int(sys.argv[2])
state = LocalState(root / "state")
code = artifact(root / "src", "app", "def handler(e, c): return 1\\n")
for step in range(6):
    memory = 128 + worker * 100 + step
    layer = artifact(root / f"w{{worker}}-{{step}}", f"layer{{memory}}", f"M = {{memory}}\\n")
    name = "shared" if step % 2 else f"own{{worker}}"
    state.deploy(record(code, layer, memory, name=name), (code, layer), keep=2)
"""


def test_deploys_from_several_processes_at_once_leave_consistent_state(
    tmp_path: Path, code: Artifact
) -> None:
    script = tmp_path / "deploys.py"
    script.write_text(textwrap.dedent(CONCURRENT_DEPLOYS.format(tests=str(Path(__file__).parent))))
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path), str(worker)], stderr=subprocess.PIPE)
        for worker in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    state = LocalState(tmp_path / "state")
    assert state.function_names() == ["own0", "own1", "own2", "shared"]
    shared = state.versions("shared")
    assert shared == [8, 9]  # 9 publishes of distinct versions, numbered once each, the newest two kept
    assert state.alias_routes("shared") == {"live": AliasRoute(9)}
    for name in state.function_names():
        for number in state.versions(name):
            found = state.read_version(name, number)
            assert found is not None
            for sha in (found.code_sha256, *found.layer_sha256s):
                assert state.artifact_path(sha).is_file(), f"{name} v{number} lost artifact {sha[:8]}"
            assert state.opt_dir(found).is_dir()
    referenced = {
        sha
        for name in state.function_names()
        for number in state.versions(name)
        for sha in (lambda r: (r.code_sha256, *r.layer_sha256s))(state.read_version(name, number))
    }
    assert {p.stem for p in (state.root / "artifacts").glob("*.zip")} == referenced
