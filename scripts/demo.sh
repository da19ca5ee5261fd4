#!/usr/bin/env bash
# Install sls-deploy into .venv (a real, non-editable install), push the example digits model to the local
# target and invoke it with a real held-out image of a "7".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet .
.venv/bin/sls-deploy push examples/digits.onnx --name digits --sample examples/digits-samples.npz
.venv/bin/sls-deploy invoke digits --file examples/digits-request.json
