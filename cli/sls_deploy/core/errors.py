"""Error types of the library. Each carries a message (what went wrong, where) and a hint (how to fix it).

Only the CLI turns these into exit codes; library code raises them and never prints or exits.
"""

from __future__ import annotations


class SlsDeployError(Exception):
    """A user-facing error: the CLI prints `message` and `hint` and exits with status 1, no traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(SlsDeployError):
    """Bad project configuration (flag, SLS_DEPLOY_* variable or config file)."""


class ModelError(SlsDeployError):
    """The model file is missing, not ONNX, corrupt, or incomplete."""


class SampleError(SlsDeployError):
    """The sample-inputs file cannot be read or does not match the model's signature."""


class PackagingError(SlsDeployError):
    """A layer or the function code could not be built."""


class BudgetError(SlsDeployError):
    """The artifacts do not fit Lambda's deployment limits."""


class TemplateError(SlsDeployError):
    """The SAM template could not be rendered or is invalid."""


class TargetError(SlsDeployError):
    """A deployment target could not carry out a request."""


class NotDeployedError(TargetError):
    """The named function (or version) is not deployed on the target."""


class InvocationError(TargetError):
    """The function could not be invoked (worker failed to start, timed out, crashed)."""


class CompressionError(SlsDeployError):
    """A compression method cannot be applied, or the candidate asked for fails the accuracy/latency gate."""


class ThrottledError(TargetError):
    """The function is at its concurrency limit and the request was not run (TooManyRequestsException)."""

    def __init__(
        self, message: str, hint: str = "", reason: str = "ReservedFunctionConcurrentInvocationLimitExceeded"
    ) -> None:
        super().__init__(message, hint)
        self.reason = reason  # Lambda's Reason field of the 429
