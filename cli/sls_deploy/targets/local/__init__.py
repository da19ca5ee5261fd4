"""The local target: an embedded Lambda emulation without Docker.

state.py (the deployed versions on disk) → target.py (LocalTarget: deploy, invoke, list, open_session) →
worker.py (one awslambdaric process per execution environment) ↔ runtime_api.py (its Lambda Runtime API);
runtime_dir.py installs awslambdaric + boto3 for the worker's Python (cached).
"""
