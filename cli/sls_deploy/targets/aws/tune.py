"""The aws target's power-tuning runner: a temporary version and alias per memory size, always removed.

For each memory size: update $LATEST's MemorySize, wait until its LastUpdateStatus is Successful, publish a
version and point the alias `sls-tune-<memory>-<arch>` at it; the tuner invokes that alias (LogType Tail:
the REPORT line of each invocation gives its durations, functions.py). When the setting is done its alias
and version are deleted; `close()` deletes whatever is still left and restores $LATEST's MemorySize — it runs
in a `finally`, so on errors and Ctrl-C too, with a second Ctrl-C ignored while it works. What it cannot
delete is named in a TargetError with the AWS CLI commands that delete it.

`live`, its versions and the stack are not touched. A version Lambda did not create anew (publish_version
answers with an existing version when $LATEST equals it) is never deleted. $LATEST differs from the stack's
template while the tuner runs (drift detection would report MemorySize), and only then. The architecture is
the deployed one: another one needs layers built for it, so monitor/tune.py projects it.

Side effects: updates $LATEST's configuration, publishes and deletes function versions, creates and deletes
aliases, invokes the function.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ...core.errors import TargetError
from ...core.records import InvokeResult
from .client import LambdaApi, NotFound
from .functions import FunctionRef, Functions
from .session import AwsContext
from .target import AwsTarget

ALIAS_PREFIX = "sls-tune-"
UPDATE_TIMEOUT_S = 300.0  # how long a configuration update may stay InProgress


def tune_alias(memory_mb: int, arch: str) -> str:
    """The temporary alias of one setting: sls-tune-<memory>-<arch> (an alias name allows [a-zA-Z0-9-_])."""
    return f"{ALIAS_PREFIX}{memory_mb}-{arch.replace('_', '-')}"


class _AliasInvoker:
    """Invocations of one setting's alias (the function's reference resolved once, not per call)."""

    def __init__(self, functions: Functions, ref: FunctionRef, alias: str) -> None:
        self.qualifier = alias
        self._functions = functions
        self._ref = ref

    def invoke(self, name: str, payload: bytes, qualifier: str = "live") -> InvokeResult:
        return self._functions.invoke(self._ref, payload, qualifier)


@contextmanager
def _shielded() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up (main thread only: signal handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class AwsTuneRunner:
    """Runs a deployed function at other memory sizes on AWS (monitor.tune.TuneRunner).

    `functions` invokes the temporary aliases (default: one on `aws`); `poll_seconds` paces the wait for
    configuration updates."""

    target = "aws"
    cpu_scaled = True
    cpu = "Lambda's own: MemorySize / 1,769 MB of a vCPU"

    def __init__(
        self,
        aws: AwsContext,
        ref: FunctionRef,
        functions: Functions | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self._aws = aws
        self._ref = ref
        self._functions = functions or Functions(aws)
        self._lambda = LambdaApi(aws)
        self._poll = poll_seconds
        config = self._configuration()
        self.arch = (config.get("Architectures") or ["x86_64"])[0]
        self._memory = int(config["MemorySize"])
        self._current = self._memory  # $LATEST's MemorySize now
        self._existing = set(Functions(aws).version_numbers(ref))  # `functions` may only invoke
        self._changed = False
        self._aliases: list[str] = []  # created and not deleted yet
        self._created: list[str] = []  # versions published by the tuner and not deleted yet

    @classmethod
    def for_target(cls, target: AwsTarget, name: str) -> AwsTuneRunner:
        return cls(target.aws, target.ref(name), functions=target.functions)

    @property
    def _function(self) -> str:
        return self._ref.function_name

    def _configuration(self) -> dict[str, Any]:
        return self._lambda.configuration(self._function)

    def _set_memory(self, memory_mb: int) -> None:
        """Set $LATEST's MemorySize (unless it has it) and wait until Lambda has applied it."""
        if memory_mb == self._current:
            return
        self._lambda.set_memory(self._function, memory_mb)
        self._changed = True
        self._current = -1  # unknown until the update is seen through
        deadline = time.monotonic() + UPDATE_TIMEOUT_S
        while True:
            config = self._configuration()
            status = config.get("LastUpdateStatus") or "Successful"
            if status == "Successful":
                self._current = int(config["MemorySize"])
                return
            if status == "Failed":
                raise TargetError(
                    f"Lambda could not set {self._function}'s memory to {memory_mb} MB: "
                    f"{config.get('LastUpdateStatusReason', 'no reason given')}",
                    "check the account's limits and the function's state in the Lambda console",
                )
            if time.monotonic() > deadline:
                raise TargetError(
                    f"{self._function}'s configuration update is still {status} after "
                    f"{UPDATE_TIMEOUT_S:.0f} s",
                    "wait until it ends (Lambda console), then tune again",
                )
            time.sleep(self._poll)

    @contextmanager
    def setting(self, memory_mb: int) -> Iterator[_AliasInvoker]:
        """A new version at `memory_mb` behind a temporary alias (monitor.tune.Trial); both deleted when the
        block ends."""
        alias = tune_alias(memory_mb, self.arch)
        self._set_memory(memory_mb)
        version = self._lambda.publish_tuning_version(self._function, memory_mb)
        if version not in self._existing:
            self._created.append(version)
        self._lambda.put_alias(self._function, alias, version)  # an alias left by a run killed hard is reused
        self._aliases.append(alias)
        try:
            yield _AliasInvoker(self._functions, self._ref, alias)
        finally:
            with _shielded():
                self._delete_alias(alias, quiet=True)
                if version in self._created:
                    self._delete_version(version, quiet=True)

    @staticmethod
    def _deleted(delete: Callable[[], None], quiet: bool) -> bool:
        """Run one delete call; True when the thing is gone (also when it was gone already). Errors: raised,
        or with `quiet` left for close()."""
        try:
            delete()
        except NotFound:
            return True
        except Exception:
            if quiet:
                return False
            raise
        return True

    def _delete_alias(self, alias: str, quiet: bool = False) -> None:
        if self._deleted(lambda: self._lambda.delete_alias(self._function, alias), quiet):
            self._aliases.remove(alias)

    def _delete_version(self, version: str, quiet: bool = False) -> None:
        if self._deleted(lambda: self._lambda.delete_version(self._function, version), quiet):
            self._created.remove(version)

    def close(self) -> None:
        """Delete the aliases and versions still left, restore $LATEST's memory; raise naming what stays."""
        problems: list[str] = []
        commands: list[str] = []
        with _shielded():
            for alias in list(self._aliases):
                try:
                    self._delete_alias(alias)
                except TargetError as exc:
                    problems.append(exc.message)
                    commands.append(
                        f"aws lambda delete-alias --function-name {self._function} --name {alias}"
                    )
            for version in list(self._created):
                try:
                    self._delete_version(version)
                except TargetError as exc:
                    problems.append(exc.message)
                    commands.append(
                        f"aws lambda delete-function --function-name {self._function} --qualifier {version}"
                    )
            if self._changed:
                try:
                    self._set_memory(self._memory)
                    self._changed = self._current != self._memory
                except TargetError as exc:
                    problems.append(exc.message)
                    commands.append(
                        f"aws lambda update-function-configuration --function-name {self._function} "
                        f"--memory-size {self._memory}"
                    )
        if problems:
            raise TargetError(
                "tuning could not clean up after itself: " + "; ".join(problems),
                "remove what is left with: " + " && ".join(commands),
            )

    def leftovers(self) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """(aliases, versions, $LATEST changed) the runner has not cleaned up yet."""
        return tuple(self._aliases), tuple(self._created), self._changed
