# Targets match the README. Everything installs into .venv.
.PHONY: demo test test-quick bench lint

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-quick:
	bash scripts/test.sh -m "not slow"

bench:
	.venv/bin/python tests/bench/bench_invoke.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
