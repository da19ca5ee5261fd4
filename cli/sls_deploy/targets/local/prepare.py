"""A build as the local target runs it (LocalTarget.prepare): the runtime layer and interpreter of this machine.

The build (and template.yaml) keeps the project's architecture and Python; the local target can only import
shared objects built for this machine's architecture, and runs the function under the Python the runtime names
when one is found (interpreters.find_interpreter, honouring config.python), else under this Python. Where
either differs it swaps in a runtime layer built for what it runs (cached like the deployed one) and says so
in the warnings.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, replace

from ...core import interpreters
from ...core.artifacts import Artifact
from ...core.config import ProjectConfig
from ...core.progress import Progress
from ...core.records import FunctionBuild, PreparedBuild
from ...package.processing_layer import build_processing_layer
from ...package.runtime import build_runtime_layer, host_layer_arch


@dataclass(frozen=True)
class LocalRuntime:
    """What the local target runs a function with: the layer architecture, the Python X.Y, its interpreter."""

    arch: str
    python_version: str
    interpreter: str
    warnings: tuple[str, ...]


def local_runtime(config: ProjectConfig) -> LocalRuntime:
    """The architecture and Python the local target runs this project's functions with, and why they differ
    from the project's (the warnings)."""
    warnings: list[str] = []
    host_arch = host_layer_arch() or platform.machine()
    arch = config.arch
    if arch != host_arch:
        warnings.append(
            f"this machine is {host_arch}: the local target runs an {host_arch} build of the runtime "
            f"layer; the template keeps {arch}"
        )
        arch = host_arch
    found = interpreters.find_interpreter(config.python_version, config.python)
    if found is not None:
        return LocalRuntime(arch, config.python_version, str(found), tuple(warnings))
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    warnings.append(
        f"no python{config.python_version} interpreter found (set SLS_DEPLOY_PYTHON or install it "
        f"with pyenv): the local target runs on this Python {host} with a layer built for it"
    )
    return LocalRuntime(arch, host, sys.executable, tuple(warnings))


def prepare_build(config: ProjectConfig, build: FunctionBuild, progress: Progress) -> PreparedBuild:
    """`build` with its runtime layer (the first) rebuilt for the local runtime where that differs from the
    one it was built for; runtime and arch say what it runs on."""
    runtime = local_runtime(config)
    function = build
    if (runtime.arch, f"python{runtime.python_version}") != (build.arch, build.runtime):
        progress(
            f"building the runtime layer for the local target ({runtime.arch}, python{runtime.python_version})"
        )
        layer = build_runtime_layer(
            runtime.arch, runtime.python_version, config.cache_path, progress=progress
        )
        function = replace(
            build,
            layers=(layer, *_local_processing_layers(config, build, runtime, progress), build.layers[-1]),
            runtime=f"python{runtime.python_version}",
            arch=runtime.arch,
        )
    return PreparedBuild(function, runtime.interpreter, runtime.warnings)


def _local_processing_layers(
    config: ProjectConfig, build: FunctionBuild, runtime: LocalRuntime, progress: Progress
) -> tuple[Artifact, ...]:
    """The processing layer (between the runtime and the model layer) built for the local runtime."""
    middle = build.layers[1:-1]
    if build.processing is None or not middle:
        return middle
    progress(
        f"building the processing layer for the local target ({runtime.arch}, python{runtime.python_version})"
    )
    layer = build_processing_layer(
        build.processing.needs,
        build.processing.requirements,
        runtime.arch,
        runtime.python_version,
        config.cache_path,
        progress,
    )
    return () if layer is None else (layer,)
