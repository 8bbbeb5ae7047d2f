# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The single-run cases of issue 13 on real clusters: the job that starts is the job asked
for, a retried failure stays red, prefix matching keeps to its own state, a lost stop answer is
polled, and a JobManager that lost its job list is not silently started from empty state."""

from __future__ import annotations

import time
import uuid

import pytest

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.pytest_plugin import configured_versions

# Module-scoped fixtures (a cluster, a proxy, a started job): under pytest-xdist the whole
# module runs on one worker, so they start once.
pytestmark = pytest.mark.xdist_group("test_guard_cases")


def test_a_job_named_otherwise_is_cancelled_and_named(flink, job_params, module):
    params = job_params()
    params["args"] = ["--name", params["name"] + "-other"] + params["args"][2:]
    for _attempt in range(2):
        result = module("flink_job", params)
        assert result["failed"], result
        assert "%r" % (params["name"] + "-other") in result["msg"], result["msg"]
        assert "%r" % params["name"] in result["msg"] and "cancelled" in result["msg"]
        assert flink.jobs_named(params["name"] + "-other", ("RUNNING", "CREATED",
                                                            "INITIALIZING")) == []
    # Two attempts, no copies left running: never one more job per run.
    assert flink.active(params["name"]) == []


def test_an_empty_name_is_rejected(flink, job_params, module):
    result = module("flink_job", job_params(name=""))
    assert result["failed"] and "name" in result["msg"] and "empty" in result["msg"], result


def test_a_retried_failure_stays_red(flink, job_params, module):
    """A fresh start that crash-loops fails; the same request again must fail too, with the
    root cause, in check mode (the role's fast path) as in a real run."""
    # The job throws on its first record: a health window sees that even when every task
    # reached RUNNING before the first record flowed.
    params = job_params(extra_args=["--variant", "fail-on-start"], wait_timeout=20, health_window=5)
    first = module("flink_job", params)
    assert first["failed"], first
    again = module("flink_job", params)
    assert again["failed"], again
    assert "fail-on-start variant fails on purpose" in again["msg"], again["msg"]
    planned = module("flink_job", params, check=True)
    assert planned.get("healthy") is False or planned.get("failed"), planned


def test_prefix_never_resumes_another_jobs_state(flink, job_params, module, unique_job_name):
    other = job_params(name=unique_job_name + "-backfill", tag=unique_job_name + "-backfill")
    other["args"][1] = unique_job_name + "-backfill"
    assert module("flink_job", other)["action"] == "started"
    flink.wait_counts(unique_job_name + "-backfill", "v1", minimum=2)
    stopped = module("flink_job", dict(other, state="stopped"))
    assert stopped["action"] == "stopped" and stopped["savepoint"]
    mine = job_params(name_match="prefix")
    result = module("flink_job", mine)
    assert not result.get("failed"), result
    assert result["action"] == "started" and not result["restored_from"], result
    seen = flink.wait_counts(unique_job_name, "v1", minimum=1)
    assert all(counts[0] == 50 for counts in seen.values()), seen  # its own, empty state


def test_a_lost_stop_answer_is_polled_not_reported_unreachable(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    with FaultProxy(flink.url) as proxy:
        rule = proxy.add("POST", r"^/jobs/[0-9a-f]+/stop$", "lose", 1)
        result = module("flink_job", dict(params, url=proxy.url, jar=flink.jobs["stateful-v2"]))
    assert rule.fired == 1
    assert not result.get("failed"), result
    assert result["action"] == "upgraded" and result["previous_job_id"] == started["job_id"]
    assert flink.the_running_job(params["name"])["jid"] == result["job_id"]
    seen = flink.wait_counts(params["name"], "v2", minimum=1)
    for (version, key), counts in seen.items():
        if version == "v2":
            assert counts[0] == seen[("v1", key)][-1] + 50


@pytest.fixture(scope="module")
def lonely_cluster():
    """A non-HA cluster of its own: its JobManager is restarted (and forgets every job)."""
    version = configured_versions()[0]
    cluster = flinkctl.Cluster(version, name="guard-%s" % uuid.uuid4().hex[:6], slots=4)
    cluster.jobs = flinkctl.build_jobs(version)
    with cluster:
        yield cluster


def test_jobmanager_lost_refuses_an_empty_start_and_names_the_state(
        flink, lonely_cluster, module):
    lonely = type(flink)(lonely_cluster)
    name = "jmloss-%s" % uuid.uuid4().hex[:6]
    params = dict(url=lonely.url, name=name, jar=lonely.jobs["stateful-v1"],
                  entry_class=lonely.entry_class, parallelism=1, wait_timeout=120,
                  args=["--name", name, "--tag", name, "--rate", "400"])
    assert module("flink_job", params)["action"] == "started"
    lonely.wait_counts(name, "v1", minimum=2)
    upgraded = module("flink_job", dict(params, jar=lonely.jobs["stateful-v2"]))
    assert upgraded["action"] == "upgraded", upgraded
    lonely.wait_counts(name, "v2", minimum=1)
    lonely_cluster.restart_jobmanager()
    deadline = time.time() + 120
    while lonely.get("/overview")["taskmanagers"] < 1:
        assert time.time() < deadline
        time.sleep(1)
    assert lonely.active(name) == []  # gone with the JobManager
    refused = module("flink_job", dict(params, jar=lonely.jobs["stateful-v2"]))
    assert refused["failed"], refused
    assert "refusing to start it from empty state" in refused["msg"], refused["msg"]
    assert upgraded["savepoint"] in refused["msg"]
    assert lonely.active(name) == []
    resumed = module("flink_job", dict(params, jar=lonely.jobs["stateful-v2"],
                                       savepoint_path=upgraded["savepoint"]))
    assert resumed["action"] == "started" and resumed["restored_from"] == upgraded["savepoint"]
    info = module("flink_job_info", dict(url=lonely.url, name=name))
    operations = info["jobs"][0]["operations"] if info["jobs"] else info.get("operations")
    actions = [op["action"] for op in operations]
    assert actions[:3] == ["started", "refused", "upgraded"], operations
