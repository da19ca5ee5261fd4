"""The local target: an embedded Lambda emulation without Docker.

state.py (the deployed versions on disk) → target.py (LocalTarget: deploy, invoke, list, open_session) →
pool.py (the warm workers: reuse, concurrency limits, scale to zero) → worker.py (one awslambdaric process per
execution environment, held to its memory limit by sandbox.py) ↔ runtime_api.py (its Lambda Runtime API);
runtime_dir.py installs awslambdaric + boto3 for the worker's Python (cached). gateway.py is `sls-deploy
serve`: Lambda's Invoke API (invoke_api.py), function URLs (function_url.py) and the Open Inference Protocol
over one HTTP/1.1 server (http11.py) in front of the pool.
"""
