# clipneuron — the two commands of the README:
#   make book  [PROFILE=paper|offline|smoke]   set up, run the chapters with papermill, build the book
#   make check [PROFILE=...]                   set up, then list what the chapters need and what is missing
#   make test                                  set up, unit tests, nbval on the smoke notebooks, smoke book + browser test
# Everything is installed into .venv/ at the repository root; it is rebuilt only when pyproject.toml changes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PROFILE ?= paper
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# extra arguments for the pipeline, e.g. make book PROFILE=offline ARGS="-p max_length=3"
ARGS ?=
# the smoke profile's executed notebooks live in tests/nbval/ (the nbval references), the others in book/
BOOK_FROM := $(if $(filter smoke,$(PROFILE)),--notebooks tests/nbval --output _build/smoke,)

.PHONY: book check test env notebooks html pair smoke-notebooks unit nbval nbval-cpus smoke-book browser mutation clean help

help:
	@sed -n '1,5p' Makefile

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

env: $(STAMP)

## make book: run the chapters under $(PROFILE), then build _build/html
book: notebooks html

## make check: what the chapters of $(PROFILE) need (WordNet, SNLI splits, CLIP weights, MiniLM, disk), ready or
## missing with the command that fixes it; runs and writes nothing, exits 1 when something is missing
check: env
	$(PY) -m clipneuron_utils.run.pipeline --profile $(PROFILE) --check $(ARGS)

notebooks: env
	$(PY) -m clipneuron_utils.run.pipeline --profile $(PROFILE) $(ARGS)

html: env
	$(PY) -m clipneuron_utils.render.book $(BOOK_FROM)

## pair notebooks/*.py with .ipynb twins (for Jupyter, or papermill --help-notebook)
pair: env
	$(VENV)/bin/jupytext --sync notebooks/*.py

## make test: what CI runs
test: unit nbval nbval-cpus smoke-book browser

unit: env
	$(PY) -m pytest tests --ignore=tests/nbval --ignore=tests/browser -q

NBVAL = $(PY) -m pytest --nbval tests/nbval --nbval-sanitize-with tests/nbval/sanitize.cfg -q -p no:cacheprovider

nbval: env
	$(NBVAL)

## the smoke references must hold on other CPUs too: rerun them from scratch (fresh runs/) as torch computes
## on an AVX2-only and on a baseline CPU
nbval-cpus: env
	@for isa in avx2 default; do \
	  runs=$$(mktemp -d); \
	  echo "nbval from scratch with ATEN_CPU_CAPABILITY=$$isa ONEDNN_MAX_CPU_ISA=AVX2"; \
	  CLIPNEURON_RUNS=$$runs ATEN_CPU_CAPABILITY=$$isa ONEDNN_MAX_CPU_ISA=AVX2 $(NBVAL) || { rm -rf $$runs; exit 1; }; \
	  rm -rf $$runs; \
	done

smoke-book: env
	$(PY) -m clipneuron_utils.render.book --notebooks tests/nbval --output _build/smoke

browser: env
	$(PY) -m pytest tests/browser -q

## make mutation: mutmut over the science core (about 23 min on 2 cores; not part of make test): the kill rate
## per module and the survivors. ARGS are the script's, e.g. ARGS="--per-module 100 --seed 1" or ARGS="--report-only"
mutation: env
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	$(PY) tests/mutation.py $(ARGS)

## regenerate the nbval references (after an intended change of a chapter's output)
smoke-notebooks: env
	$(PY) -m clipneuron_utils.run.pipeline --profile smoke $(ARGS)

clean:
	rm -rf _build runs/smoke mutants
