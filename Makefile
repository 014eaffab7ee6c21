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
# pytest-xdist workers of `make test` (tests/conftest.py deals the tests to them, longest first,
# and builds the trained fixtures once for all workers). Three on a 2-core machine: the workflow
# tests wait on clusters, sockets and subprocesses for a part of the time, which a third fills
TEST_WORKERS ?= 3

.PHONY: demo test env lint format clean install-profiles slurm-wlm chromium tesseract orthanc \
	dcmtk dicom3tools docs screenshots

# keyed by the lock file's hash, so it needs no timestamp prerequisite (a fresh clone has new mtimes)
$(HIPSEG_VENV)/.complete:
	@echo "hipseg: setting up the Python environment in $(HIPSEG_VENV) (once; a few minutes)"
	rm -rf $(HIPSEG_VENV)
	$(PYTHON) -m venv $(HIPSEG_VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

env: $(HIPSEG_VENV)/.complete

demo: env tesseract
	snakemake --cores $(CORES)
	@echo
	@echo "Report: $(CURDIR)/results/report/report.html"
	@python -m hipseg report-summary results/report/report.html

test: env slurm-wlm chromium tesseract orthanc dcmtk dicom3tools
	python -m pytest -ra -n $(TEST_WORKERS) --durations=25

# The documentation site (docs/, mkdocs.yml): the configuration reference regenerated from the
# schema, then a strict build (a broken link, anchor or missing page fails) into site/.
docs: env
	python docs/gen_config_reference.py
	python -m mkdocs build --strict

# The pictures of the demo in README.md and docs/ (docs/report.png, docs/segmented.png), drawn
# from a finished `make demo` (results/) in headless Chromium; never edited by hand.
screenshots: env chromium
	python docs/screenshots.py --results results --out docs

# `snakemake --profile metacentrum` / `--profile slurm` from anywhere: link the profiles into
# ~/.config/snakemake (where Snakemake looks for them)
install-profiles:
	python3 -m hipseg install-profile metacentrum slurm

# The SLURM test runs a real one-node cluster (Debian's slurm-wlm + munge, as root). Install them
# when missing and we may (root with apt-get); otherwise the test says why it cannot run.
slurm-wlm:
	@if ! command -v slurmctld >/dev/null && ! test -x /usr/sbin/slurmctld; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing slurm-wlm and munge for the SLURM test (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends slurm-wlm munge >/dev/null; \
	  else \
	    echo "hipseg: slurm-wlm is not installed (needs root + apt-get); the SLURM test will say so"; \
	  fi; \
	fi

# The browser test renders the report in a real headless Chromium (Debian's package). Install it
# when missing and we may (root with apt-get); otherwise the test says why it cannot run.
chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing chromium for the browser test (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "hipseg: chromium is not installed (needs root + apt-get); the browser test will say so"; \
	  fi; \
	fi

# Tesseract OCR (Debian's tesseract-ocr with its English data): the attacker of the redaction
# test, and the optional 'ocr' text detector of de-identification (deid.text_detectors). Installed
# when missing and we may (root with apt-get); otherwise the tests that need it say why.
tesseract:
	@if ! command -v tesseract >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing tesseract-ocr (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends tesseract-ocr tesseract-ocr-eng >/dev/null; \
	  else \
	    echo "hipseg: tesseract is not installed (needs root + apt-get); the OCR test will say so"; \
	  fi; \
	fi

# Orthanc (Debian's orthanc with its DICOMweb plugin): the PACS of the `hipseg listen` tests, run
# by the tests on private loopback ports with its own configuration and storage folder (never
# the system service). Each package is installed when missing (the plugin is checked by itself:
# an Orthanc without it cannot take STOW-RS) and we may (root with apt-get); otherwise the tests
# that need it say why.
orthanc:
	@missing=""; \
	if ! command -v Orthanc >/dev/null && ! test -x /usr/sbin/Orthanc; then missing="orthanc"; fi; \
	if ! test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so \
	    && ! dpkg -s orthanc-dicomweb >/dev/null 2>&1; then missing="$$missing orthanc-dicomweb"; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing$$missing for the DICOM node tests (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "hipseg: not installed:$$missing (needs root + apt-get); the listen tests will say so"; \
	  fi; \
	fi

# dicom3tools (Debian's package): dciodvfy checks the SEG, SR, presentation state and Secondary
# Capture against their IODs, as a strict PACS does (tests/test_thin_headers.py). Installed when
# missing and we may (root with apt-get); otherwise the tests that need it say why.
dicom3tools:
	@if ! command -v dciodvfy >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing dicom3tools for the DICOM conformance tests (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends dicom3tools >/dev/null; \
	  else \
	    echo "hipseg: dicom3tools is not installed (needs root + apt-get); the dciodvfy checks will say so"; \
	  fi; \
	fi

# dcmtk (Debian's package): dcmodify, a de-identification script of the kind hospitals write, in
# tests/test_existing_models.py. Installed when missing and we may (root with apt-get); otherwise
# the test that needs it says why.
dcmtk:
	@if ! command -v dcmodify >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "hipseg: installing dcmtk (once)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends dcmtk >/dev/null; \
	  else \
	    echo "hipseg: dcmtk is not installed (needs root + apt-get); the test that needs it says so"; \
	  fi; \
	fi

lint: env
	ruff check workflow tests docs
	ruff format --check workflow tests docs
	snakefmt --check Snakefile workflow/rules
	snakemake --lint

format: env
	ruff check --fix workflow tests docs
	ruff format workflow tests docs
	snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake site
