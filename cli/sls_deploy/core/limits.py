"""Lambda's limits in one table (checked 2026-11 against the AWS documentation).

Everything that checks a limit reads it from here; prices live in monitor/prices.py.
"""

from __future__ import annotations

import re

# Deployment package limits.
MAX_UNZIPPED_BYTES = 262_144_000  # function code + all layers, unzipped (250 MiB)
MAX_DIRECT_UPLOAD_ZIPPED_BYTES = 50 * 1024 * 1024  # larger zips must go through S3
MAX_LAYERS = 5

# A model's name names its function (`<project>-<name>`, FunctionName ≤ 64 of [A-Za-z0-9-_]), its layers and
# its logical IDs: a letter first, then at most 39 letters, digits, '-' or '_'.
MODEL_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
MODEL_NAME_HINT = "use 1–40 letters, digits, '-' or '_', starting with a letter (e.g. --name digits)"

# Function configuration.
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
MEMORY_MB_PER_VCPU = 1_769  # one full vCPU at 1,769 MB
MAX_VCPUS = 6
MAX_TIMEOUT_S = 900
MAX_INIT_S = 10
MAX_RESERVED_CONCURRENCY = 1_000  # the default account concurrency limit per region
# The local target runs a function without reserved concurrency on at most this many workers at once (its
# own machine, not a region's 1,000); one more concurrent request is throttled as Lambda throttles.
LOCAL_MAX_CONCURRENCY = 10

# Keys Lambda sets itself and refuses in a function's environment.
RESERVED_ENV_VARS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)

# CloudFormation (the aws target's stack).
STACK_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")  # a letter first, at most 128 characters
MAX_TEMPLATE_BODY_BYTES = 51_200  # larger templates must be passed by S3 URL (TemplateURL)
MAX_TEMPLATE_URL_BYTES = 1_000_000

# Payloads.
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD_BYTES = 1024 * 1024

# Event sources and logs.
MAX_SQS_BATCH_SIZE = 10_000  # an SQS event source mapping's BatchSize on a standard queue (FIFO: 10)
MAX_SQS_MESSAGE_BYTES = 1024 * 1024  # one SQS message (1 MiB since Aug 2025; 256 KiB before)
MAX_LOG_EVENT_BYTES = 1024 * 1024  # one CloudWatch Logs event (1 MB since Apr 2025; 256 KB before)

# Runtimes whose Amazon Linux 2023 glibc loads onnxruntime's manylinux_2_28 wheels.
SUPPORTED_RUNTIMES = ("python3.12", "python3.13")
SUPPORTED_ARCHITECTURES = ("x86_64", "arm64")


def lambda_vcpus(memory_mb: float) -> float:
    """The vCPUs Lambda allocates a function of `memory_mb`: in proportion to memory, one at
    MEMORY_MB_PER_VCPU, at most MAX_VCPUS."""
    return min(memory_mb / MEMORY_MB_PER_VCPU, float(MAX_VCPUS))


def function_setting_problem(arch: str, runtime: str, memory: int, timeout: int) -> tuple[str, str] | None:
    """The first of a function's settings that Lambda would refuse, as (what is wrong, how to fix it)."""
    if arch not in SUPPORTED_ARCHITECTURES:
        return f"unknown architecture {arch!r}", f"use one of {', '.join(SUPPORTED_ARCHITECTURES)}"
    if runtime not in SUPPORTED_RUNTIMES:
        return (
            f"runtime {runtime!r} is not supported",
            f"use one of {', '.join(SUPPORTED_RUNTIMES)}: onnxruntime's wheels need Amazon Linux 2023",
        )
    if not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB:
        return f"memory {memory} MB is outside Lambda's range", f"choose {MIN_MEMORY_MB}–{MAX_MEMORY_MB} MB"
    if not 1 <= timeout <= MAX_TIMEOUT_S:
        return f"timeout {timeout} s is outside Lambda's range", f"choose 1–{MAX_TIMEOUT_S} seconds"
    return None
