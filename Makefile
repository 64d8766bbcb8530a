# fedprobe — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/sh
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.fedprobe-installed
# The real OpenStack Keystone (from PyPI) for integration tests, in a venv of its own.
KEYSTONE_VENV ?= .venv-keystone
KS_STAMP := $(KEYSTONE_VENV)/.keystone-installed
export FEDPROBE_KEYSTONE_VENV := $(abspath $(KEYSTONE_VENV))
# OpenStack clients nobody here wrote (the `openstack` CLI, nova/glance/neutron/keystoneclient),
# pinned, in a venv of their own: tests/integration/test_foreign_clients.py runs them.
CLIENTS_VENV ?= .venv-clients
CLIENTS_STAMP := $(CLIENTS_VENV)/.clients-installed
export FEDPROBE_CLIENTS_VENV := $(abspath $(CLIENTS_VENV))
# The locked dependencies' wheels the .deb and the RPM carry (docs/packaging.md), downloaded
# once; the package builds themselves (make packages, tests/integration/test_packages.py) use
# no network.
WHEELHOUSE ?= .setup/wheelhouse
WH_STAMP := $(WHEELHOUSE)/.complete
export FEDPROBE_WHEELHOUSE := $(abspath $(WHEELHOUSE))

.PHONY: demo test lint typecheck unit integration bench fuzz sandbox clean system-deps packages

$(STAMP): pyproject.toml setup.py
	@dev/system-deps
	@dev/venv $(VENV)
	@touch $(STAMP)

system-deps:
	@dev/system-deps

$(KS_STAMP): dev/keystone-requirements.txt
	@dev/pinned-venv $(KEYSTONE_VENV) $< .setup/keystone.log "the real OpenStack Keystone"
	@touch $@

$(CLIENTS_STAMP): dev/clients-requirements.txt
	@dev/pinned-venv $(CLIENTS_VENV) $< .setup/clients.log "the OpenStack clients"
	@touch $@

$(WH_STAMP): packaging/requirements.lock $(STAMP)
	@rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	@$(PY) -m pip download --disable-pip-version-check --only-binary=:all: --no-deps \
		-d $(WHEELHOUSE) -r $< >.setup/wheelhouse.log 2>&1 \
		|| { tail -n 20 .setup/wheelhouse.log; echo "make: the wheels of $< could not be downloaded (log: .setup/wheelhouse.log)" >&2; exit 1; }
	@touch $@

## demo: start the embedded sandbox cloud and drive one VM through its whole life
demo: $(STAMP) system-deps
	@$(PY) examples/vm_demo.py

## test: lint, type-check, unit and integration tests (real servers on loopback)
test: $(STAMP) $(KS_STAMP) $(CLIENTS_STAMP) $(WH_STAMP) system-deps lint typecheck
	@$(PY) -m pytest -q -ra

lint: $(STAMP)
	@$(VENV)/bin/ruff check probes exporters tests benchmarks examples packaging

typecheck: $(STAMP)
	@$(VENV)/bin/mypy

unit: $(STAMP)
	@$(PY) -m pytest -q tests/unit

integration: $(STAMP) system-deps
	@$(PY) -m pytest -q tests/integration

## fuzz: the fuzz suite's larger random search (make test runs it small and derandomized)
fuzz: $(STAMP)
	@FEDPROBE_FUZZ=large $(PY) -m pytest -q tests/fuzz

bench: $(STAMP)
	@$(PY) benchmarks/sandbox_overhead.py

# docs/packaging.md: the wheel and sdist (dashboard, rules, configs and units inside), the .deb
# and the RPM (with the private venv) in dist/
packages: $(STAMP) $(WH_STAMP) system-deps
	@rm -f dist/fedprobe-* dist/fedprobe_*
	@$(PY) -m build --no-isolation --outdir dist . >.setup/packages.log 2>&1 \
		|| { tail -n 30 .setup/packages.log; exit 1; }
	@packaging/build dist $(WHEELHOUSE) .setup/packages
	@ls -1 dist/

sandbox: $(STAMP)
	@$(VENV)/bin/fedprobe sandbox

clean:
	rm -rf $(VENV) $(KEYSTONE_VENV) $(CLIENTS_VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
