# fedprobe — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/sh
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.fedprobe-installed

.PHONY: demo test lint typecheck unit integration bench sandbox clean system-deps

$(STAMP): pyproject.toml setup.py
	@dev/system-deps
	@dev/venv $(VENV)
	@touch $(STAMP)

system-deps:
	@dev/system-deps

## demo: start the embedded sandbox cloud and drive one VM through its whole life
demo: $(STAMP) system-deps
	@$(PY) examples/vm_demo.py

## test: lint, type-check, unit and integration tests (real servers on loopback)
test: $(STAMP) system-deps lint typecheck
	@$(PY) -m pytest -q -ra

lint: $(STAMP)
	@$(VENV)/bin/ruff check probes exporters tests benchmarks examples

typecheck: $(STAMP)
	@$(VENV)/bin/mypy

unit: $(STAMP)
	@$(PY) -m pytest -q tests/unit

integration: $(STAMP) system-deps
	@$(PY) -m pytest -q tests/integration

bench: $(STAMP)
	@$(PY) benchmarks/sandbox_overhead.py

sandbox: $(STAMP)
	@$(VENV)/bin/fedprobe sandbox

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
