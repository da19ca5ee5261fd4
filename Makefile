# Targets match the README. Everything installs into .venv.
.PHONY: demo test test-quick bench lint template

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-quick:
	bash scripts/test.sh -m "not slow"

# Each script prints ratios measured side by side in one run; bench_compress skips models whose packages are
# missing (see its docstring).
bench:
	.venv/bin/python tests/bench/bench_invoke.py
	.venv/bin/python tests/bench/bench_gateway.py
	.venv/bin/python tests/bench/bench_telemetry.py
	.venv/bin/python tests/bench/bench_drift.py
	.venv/bin/python tests/bench/bench_compress.py
	.venv/bin/python tests/bench/bench_recovery.py
	.venv/bin/python tests/bench/bench_processing.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

# Regenerate the example deployment's template.yaml (tests/template/test_example_template.py checks it).
template:
	.venv/bin/sls-deploy build examples/digits.onnx --name digits --sample examples/digits-samples.npz
