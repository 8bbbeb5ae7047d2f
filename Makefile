# Build and test flinkops.flink. `make help` lists the targets.
#
# The checkout is the collection root. ansible-test wants the collection at
# ansible_collections/flinkops/flink/ and writes tests/output/ inside it, so
# `make collection` mirrors the checkout (copies, not symlinks) into
# build/ansible_collections/flinkops/flink/ and every target that runs Ansible,
# ansible-test or pytest uses that tree:
#   ANSIBLE_COLLECTIONS_PATH=build  -> flinkops.flink.* resolves to the checkout
#   PYTHONPATH=build                -> import ansible_collections.flinkops.flink...

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON       ?= python3
VENV         ?= .venv
REQUIREMENTS ?= requirements/test.txt
PIP_VERSION  ?= 26.3
# The floor of the support matrix (meta/runtime.yml: requires_ansible >=2.18.0).
FLOOR_VENV         ?= .venv-2.18
FLOOR_REQUIREMENTS ?= requirements/ansible-2.18.txt

BUILD_DIR      := build
COLLECTION_DIR := $(BUILD_DIR)/ansible_collections/flinkops/flink
REPORT_DIR     := $(CURDIR)/$(BUILD_DIR)/reports
# Set by the *-2.18 targets so their reports do not overwrite the main ones.
STAGE_SUFFIX   ?=

VENV_BIN   := $(abspath $(VENV))/bin
VENV_PY    := $(VENV_BIN)/python
VENV_STAMP := $(VENV)/.installed

# Python version ansible-test sanity runs with (the venv's, i.e. the controller's).
SANITY_PYTHON ?= $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
SANITY_ARGS   ?=
PYTEST_ARGS   ?= -ra
# Flink versions the real-cluster tests run against (tests/flink reads this).
FLINKOPS_TEST_FLINK_VERSIONS ?= 2.3,1.20
LINT_DIRS := $(wildcard roles playbooks examples)

export FLINKOPS_TEST_FLINK_VERSIONS
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(BUILD_DIR)
export PATH := $(VENV_BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

# Stages of `make test`, in order; each runs even when an earlier one failed.
TEST_STAGES ?= changelog-lint lint sanity units sanity-2.18 units-2.18 integration

.PHONY: help venv collection sanity units integration test test-floor \
        sanity-2.18 units-2.18 changelog-lint lint docs bench demo clean

help: ## Show this help
	@echo "Usage: make TARGET [VENV=.venv] [REQUIREMENTS=requirements/test.txt]"
	@echo
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  %-15s %s\n", $$1, $$2}'

# --- environment ------------------------------------------------------------

venv: $(VENV_STAMP) ## Create $(VENV) from $(REQUIREMENTS) (reinstalls when it changes)

$(VENV_STAMP): $(REQUIREMENTS) requirements/units.txt
	@if ! $(VENV_PY) -c '' 2>/dev/null; then \
	  rm -rf $(VENV); echo "+ $(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	$(VENV_PY) -m pip install --quiet --upgrade 'pip==$(PIP_VERSION)'
	$(VENV_PY) -m pip install --quiet -r $(REQUIREMENTS)
	@touch $@

collection: ## Mirror the checkout into build/ansible_collections/flinkops/flink
	@$(PYTHON) hack/sync_collection.py . $(COLLECTION_DIR)

# --- tests ------------------------------------------------------------------

sanity: venv collection ## ansible-test sanity (all tests) on the collection tree
	@$(VENV_PY) hack/get_pip_standin.py --install
	cd $(COLLECTION_DIR) && ANSIBLE_TEST_CONTENT_ROOT="$$PWD" \
	  ansible-test sanity --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)

units: venv collection ## pytest tests/unit (imports from build/)
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/units$(STAGE_SUFFIX).xml tests/unit -- $(PYTEST_ARGS)

integration: venv collection ## pytest tests/integration and tests/flink against real Flink (FLINKOPS_TEST_FLINK_VERSIONS, default 2.3,1.20)
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/integration$(STAGE_SUFFIX).xml tests/integration tests/flink -- $(PYTEST_ARGS)

FLOOR := VENV=$(FLOOR_VENV) REQUIREMENTS=$(FLOOR_REQUIREMENTS) STAGE_SUFFIX=-2.18

sanity-2.18: ## sanity on ansible-core 2.18, the floor (venv .venv-2.18)
	$(MAKE) sanity $(FLOOR)

units-2.18: ## units on ansible-core 2.18, the floor (venv .venv-2.18)
	$(MAKE) units $(FLOOR)

test-floor: sanity-2.18 units-2.18 ## sanity-2.18 and units-2.18

changelog-lint: venv ## antsibull-changelog lint (changelogs/fragments)
	antsibull-changelog lint

lint: venv collection ## ansible-lint --profile production on roles/ playbooks/ examples/
	@if [ -z "$(LINT_DIRS)" ]; then \
	  echo "lint: no roles/, playbooks/ or examples/ yet: nothing to lint"; \
	else \
	  echo "+ ansible-lint --offline --profile production $(LINT_DIRS)"; \
	  ansible-lint --offline --profile production $(LINT_DIRS); \
	fi

test: venv collection ## Everything CI runs; ends with one summary line
	@rm -rf $(REPORT_DIR); mkdir -p $(REPORT_DIR); results=""; \
	for stage in $(TEST_STAGES); do \
	  echo "=== make $$stage"; \
	  if $(MAKE) $$stage; then results="$$results $$stage=ok"; \
	  else results="$$results $$stage=FAILED"; fi; \
	done; \
	$(VENV_PY) hack/summarize.py $(REPORT_DIR) $$results

# --- other ------------------------------------------------------------------

demo: venv collection ## Run the end-to-end demo (tests/flink/demo.py)
	@if [ -f tests/flink/demo.py ]; then \
	  PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) tests/flink/demo.py; \
	else \
	  echo "demo: tests/flink/demo.py is not written yet" >&2; exit 1; \
	fi

docs: venv collection ## TODO: build the docs site with antsibull-docs (not yet)
	@echo "docs: not yet (antsibull-docs collection docs come with the docs issue)"

bench: venv collection ## TODO: benchmarks (not yet)
	@echo "bench: not yet"

clean: ## Remove build/ and test output (keeps the venvs; rm -rf .venv* for those)
	rm -rf $(BUILD_DIR) tests/output .pytest_cache
	find . -name __pycache__ -type d -not -path './.venv*' -prune -exec rm -rf {} +
