# Two commands on a fresh machine:
#   make demo   # set up the environment (once, cached) and run the synthetic demo end to end
#   make test   # set up the environment (once, cached) and run the whole test suite
#
# The Python environment is cached outside the clone, keyed by the hash of requirements.lock,
# so a fresh clone reuses it; HIPSEG_VENV overrides the location.

SHELL := /bin/bash
PYTHON ?= python3
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-12)
HIPSEG_VENV ?= $(HOME)/.cache/hipseg/venv-$(LOCK_HASH)
BIN := $(HIPSEG_VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/workflow$(if $(PYTHONPATH),:$(PYTHONPATH))
CORES ?= all

.PHONY: demo test env lint format clean

# keyed by the lock file's hash, so it needs no timestamp prerequisite (a fresh clone has new mtimes)
$(HIPSEG_VENV)/.complete:
	@echo "hipseg: setting up the Python environment in $(HIPSEG_VENV) (once; a few minutes)"
	rm -rf $(HIPSEG_VENV)
	$(PYTHON) -m venv $(HIPSEG_VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

env: $(HIPSEG_VENV)/.complete

demo: env
	snakemake --cores $(CORES)
	@echo
	@echo "Report: $(CURDIR)/results/report/report.html"

test: env
	python -m pytest -ra

lint: env
	ruff check workflow tests
	ruff format --check workflow tests
	snakefmt --check Snakefile workflow/rules
	snakemake --lint

format: env
	ruff check --fix workflow tests
	ruff format workflow tests
	snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake
