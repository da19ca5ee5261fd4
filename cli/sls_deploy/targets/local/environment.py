"""What a worker process gets: its WorkerSpec (code, layers, interpreter, settings) and the complete
environment Lambda gives a function, built from it (Lambda's variables, the function's own, and the caller's
credential and endpoint variables passed through). Pure; reads os.environ only when no parent is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...core.names import log_group_name
from ..events import LOCAL_ACCOUNT_ID

# The caller's variables passed through to the function: credentials and endpoints (a real Lambda gets its
# role's credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN), the CA bundle, and a
# profile with the files it lives in. Nothing else of the caller's environment reaches the function.
PASSTHROUGH_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
PASSTHROUGH_PREFIXES = ("AWS_ENDPOINT_URL",)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs: which code, which layers, which interpreter, which settings."""

    function_name: str
    version: str  # "1", "2", … or "$LATEST": AWS_LAMBDA_FUNCTION_VERSION
    handler: str  # module.function
    interpreter: Path
    python_version: str  # "3.12": names the layers' site-packages folder and AWS_EXECUTION_ENV
    task_root: Path  # the extracted function code (Lambda's /var/task)
    opt_dir: Path  # the merged layers (Lambda's /opt); may be empty
    runtime_dir: Path  # awslambdaric + boto3 (Lambda's /var/runtime), see runtime_dir.py
    memory_mb: int
    timeout_s: float
    region: str
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)  # the function's own variables
    qualifier: str = ""  # how it was invoked (alias or version), for the invoked function ARN

    @property
    def function_arn(self) -> str:
        return self.arn_for(self.qualifier)

    def arn_for(self, qualifier: str) -> str:
        """The function's ARN as invoked with `qualifier` ("" for the unqualified ARN)."""
        arn = f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"
        return f"{arn}:{qualifier}" if qualifier else arn


def map_lambda_paths(value: str, spec: WorkerSpec) -> str:
    """Rewrite /opt/… and /var/task/… (also inside colon-separated lists) to the worker's local trees."""
    mounts = (("/opt", str(spec.opt_dir)), ("/var/task", str(spec.task_root)))

    def one(part: str) -> str:
        for mount, local in mounts:
            if part == mount or part.startswith(mount + "/"):
                return local + part[len(mount) :]
        return part

    return ":".join(one(part) for part in value.split(":"))


def lambda_environment(
    spec: WorkerSpec, runtime_api: str, log_stream: str, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The worker's complete environment: Lambda's variables, the function's, and the pass-through ones."""
    parent = os.environ if parent is None else parent
    task, opt, runtime = str(spec.task_root), str(spec.opt_dir), str(spec.runtime_dir)
    interpreter_bin = spec.interpreter.parent
    interpreter_lib = spec.interpreter.resolve().parent.parent / "lib"  # Lambda's /var/lang/lib
    env = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{interpreter_bin}:/usr/local/bin:/usr/bin:/bin:{opt}/bin",
        "LD_LIBRARY_PATH": f"{interpreter_lib}:/lib64:/usr/lib64:{runtime}:{runtime}/lib:{task}:{task}/lib:"
        f"{opt}/lib",
        # Lambda's order: the function's code, then the layers, then the runtime's own packages (boto3).
        "PYTHONPATH": f"{task}:{opt}/python/lib/python{spec.python_version}/site-packages:{opt}/python:"
        f"{runtime}",
        # /var/task and /opt are read-only on Lambda: no __pycache__ written next to the shared trees.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # A function may override LANG, PATH, PYTHONPATH, … as on Lambda. Paths into /opt and /var/task (e.g.
    # SLS_MODEL_DIR=/opt/model) are mapped onto the local trees: the worker cannot mount them there.
    env.update({key: map_lambda_paths(value, spec) for key, value in spec.environment.items()})
    for key, value in parent.items():
        if key in PASSTHROUGH_VARS or key.startswith(PASSTHROUGH_PREFIXES):
            env[key] = value
    if "AWS_PROFILE" in env:  # the function has no HOME: point it at the caller's files
        env.setdefault("AWS_CONFIG_FILE", str(Path("~/.aws/config").expanduser()))
        env.setdefault("AWS_SHARED_CREDENTIALS_FILE", str(Path("~/.aws/credentials").expanduser()))
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{spec.python_version}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name(spec.function_name),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task,
            "LAMBDA_RUNTIME_DIR": runtime,
        }
    )
    return env
