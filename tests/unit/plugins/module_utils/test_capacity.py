# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Task slots asked for against the cluster's, judged before anything changes (issue 30)."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._capacity import capacity_verdict, slots_needed
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec

OVERVIEW = {"taskmanagers": 2, "slots-total": 8, "slots-available": 1}


def spec(parallelism=None):
    return JobSpec("orders", "sha256:" + "a" * 16, parallelism=parallelism)


def plan(*widths):
    return {"plan": {"nodes": [{"id": str(i), "parallelism": w} for i, w in enumerate(widths)]}}


def test_slots_needed_is_the_widest_operator_of_the_plan_else_the_parallelism_else_the_default():
    assert slots_needed({}, spec(3), plan(2, 6, 1)) == 6
    assert slots_needed({}, spec(3), None) == 3
    assert slots_needed({"parallelism.default": "5"}, spec(), {"plan": {"nodes": []}}) == 5
    assert slots_needed({}, spec(), None) == 1


def test_more_slots_than_the_whole_cluster_is_refused_naming_both_numbers():
    refusal, warning = capacity_verdict("orders", 40000, OVERVIEW, {})
    assert warning is None
    assert "job orders needs at least 40000 task slots" in refusal
    assert "the cluster has 8 in all (2 TaskManager(s))" in refusal and "nothing was changed" in refusal


@pytest.mark.parametrize("needed", [1, 8])
def test_what_fits_the_cluster_is_not_refused_whatever_is_free_now(needed):
    # Slots other jobs hold now may be freed (this job's own old version among them).
    assert capacity_verdict("orders", needed, OVERVIEW, {}) == (None, None)


@pytest.mark.parametrize("config", [
    {"execution.target": "kubernetes-session"},  # an active resource manager adds TaskManagers
    {"execution.target": "yarn-session"},
    {"scheduler-mode": "REACTIVE"},               # the job is sized to the cluster
])
def test_a_cluster_that_grows_or_sizes_jobs_to_itself_is_not_judged(config):
    assert capacity_verdict("orders", 40000, OVERVIEW, config) == (None, None)


def test_the_adaptive_scheduler_runs_with_what_there_is_and_says_so():
    refusal, warning = capacity_verdict("orders", 12, OVERVIEW, {"jobmanager.scheduler": "adaptive"})
    assert refusal is None and "runs it with at most 8" in warning


@pytest.mark.parametrize("overview", [{}, {"slots-total": None}, {"slots-available": 0}])
def test_unknown_capacity_refuses_nothing(overview):
    assert capacity_verdict("orders", 40000, overview, {}) == (None, None)
