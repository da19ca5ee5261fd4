"""The local target: an embedded Lambda emulation without Docker.

target.py (LocalTarget: plan/apply/deploy, invoke, versions, logs, alarms) over
- state.py (the deployed versions on disk; records in versions.py, artifacts and extracted trees in store.py),
- routing.py (qualifier → version, weighted during a canary) and canary.py (alarm rules, canary rollback),
- pool.py (the warm workers: reuse, concurrency limits, scale to zero), which runs on host.py (its PoolHost:
  worker specs, recording finished invocations in telemetry.py / telemetry_store.py),
- worker.py (one awslambdaric process per execution environment, started by bootstrap.py with the
  environment of environment.py, its log pipe in logpipe.py, each invocation's answer and REPORT from
  invocation.py), held to its memory limit by sandbox.py and its CPU share by cpu.py ↔ runtime_api.py (its
  Lambda Runtime API); runtime_dir.py installs awslambdaric + boto3 for the worker's Python (cached).
gateway.py is `sls-deploy serve`: Lambda's Invoke API (invoke_api.py), function URLs (function_url.py) and
the Open Inference Protocol over one HTTP/1.1 server (http11.py) in front of the target's public methods
(resolve_cache.py remembers its resolutions). s3.py is the local S3 endpoint, tune.py runs `tune` locally.
"""
