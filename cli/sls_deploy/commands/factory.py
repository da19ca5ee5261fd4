"""The one place that names the concrete targets: the target a project's configuration asks for, and the
tuning runner of a target. Every command gets its target (or runner) from here."""

from __future__ import annotations

from pathlib import Path

from ..core.config import ProjectConfig
from ..core.progress import Progress
from ..monitor.tune import TuneRunner
from ..targets.base import Target


def open_target(config: ProjectConfig, progress: Progress | None = None) -> Target:
    """The project's target (`local` or `aws`, from the configuration); the aws target connects on first use."""
    if config.target == "local":
        from ..targets.local.target import LocalTarget

        return LocalTarget(config, progress=progress)
    from ..targets.aws.target import AwsTarget

    return AwsTarget(config, progress=progress)


def open_tune_runner(target: Target, name: str, cgroup_root: Path | None = None) -> TuneRunner:
    """The runner `tune` measures model `name` on `target` with. `cgroup_root`: where the local target looks
    for cgroups (tests)."""
    from ..targets.aws.target import AwsTarget
    from ..targets.local.target import LocalTarget

    if isinstance(target, LocalTarget):
        from ..targets.local.tune import LocalTuneRunner

        if cgroup_root is None:
            return LocalTuneRunner(target, name)
        return LocalTuneRunner(target, name, cgroup_root=cgroup_root)
    if isinstance(target, AwsTarget):
        from ..targets.aws.tune import AwsTuneRunner

        return AwsTuneRunner.for_target(target, name)
    raise TypeError(f"no tuning runner for the {target.name} target")
