# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rescale_mode=in-place against real clusters: an adaptive-scheduler cluster of its own per
Flink version (started once for this file), and the fallback on the shared default one."""

from __future__ import annotations

import os
import uuid

from flinkops_devkit import flinkctl
import pytest
from flinkops_devkit.modules import collection_root
from flinkops_devkit.observer import ACTIVE
from flinkops_devkit.playbooks import run_playbook
from flinkops_devkit.pytest_plugin import configured_versions
from flinkops_devkit.rest import rest

# Module-scoped fixtures (a cluster, a proxy, a started job): under pytest-xdist the whole
# module runs on one worker, so they start once.
pytestmark = pytest.mark.xdist_group("test_rescale")


@pytest.fixture(scope="module", params=configured_versions(), ids=lambda v: "adaptive-flink-%s" % v)
def adaptive_cluster(request):
    """``jobmanager.scheduler: adaptive`` is a cluster setting (Flink ignores it per job)."""
    cluster = flinkctl.Cluster(request.param, name="adaptive-%s" % uuid.uuid4().hex[:6], slots=4,
                               extra_config={"jobmanager.scheduler": "adaptive"})
    cluster.jobs = flinkctl.build_jobs(request.param)
    with cluster:  # started here, stopped however the tests end
        yield cluster


@pytest.fixture
def adaptive(flink, adaptive_cluster, unique_job_name):
    """The adaptive cluster; this test's jobs are cancelled after it, so that the next test
    finds the cluster's slots free (its pre-flight counts them)."""
    yield type(flink)(adaptive_cluster)
    status, overview = rest(adaptive_cluster.url, "GET", "/jobs/overview", timeout=30)
    for job in overview.get("jobs", []) if status == 200 else []:
        if job["name"] == unique_job_name and job["state"] in ACTIVE:
            rest(adaptive_cluster.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"], timeout=30)


def deploy_playbook():
    return os.path.join(collection_root(), "ansible_collections", "flinkops", "flink", "playbooks", "deploy.yml")


def parallelism_of(flink, job_id):
    return [vertex["parallelism"] for vertex in flink.get("/jobs/%s" % job_id)["vertices"]]


def assert_counts_went_on(flink, tag, version="v1"):
    """No key started over: every count printed after the change continues the one before."""
    seen = flink.wait_counts(tag, version, minimum=3)
    for (_version, key), counts in seen.items():
        assert counts == sorted(counts) or all(c > 50 for c in counts[1:]), (key, counts[:10])


def test_in_place_rescale_keeps_the_job_id_and_a_rerun_is_a_noop(adaptive, unique_job_name, module):
    name = unique_job_name
    params = dict(url=adaptive.url, name=name, jar=adaptive.jobs["stateful-v1"],
                  entry_class=adaptive.entry_class, args=["--name", name, "--tag", name, "--rate", "400"],
                  parallelism=1)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    adaptive.wait_counts(name, "v1", minimum=2)
    assert parallelism_of(adaptive, started["job_id"]) == [1, 1]

    result = module("flink_job", dict(params, parallelism=2, rescale_mode="in-place"))
    assert result["changed"] and result["action"] == "rescaled", result
    assert result["job_id"] == result["previous_job_id"] == started["job_id"]
    assert "rescale_fallback" not in result
    assert adaptive.the_running_job(name)["jid"] == started["job_id"]
    assert set(parallelism_of(adaptive, started["job_id"])) == {2}
    before = adaptive.counts(name)
    seen = adaptive.wait_counts(name, "v1", minimum=max(len(c) for c in before.values()) + 2)
    # State survived the restart from the checkpoint: the counters never went back to the start.
    assert all(counts[-1] > 100 for counts in seen.values())

    again = module("flink_job", dict(params, parallelism=2, rescale_mode="in-place"))
    assert not again["changed"] and again["action"] == "none", again
    assert again["job_id"] == started["job_id"]
    assert set(parallelism_of(adaptive, started["job_id"])) == {2}
    # The same spec with the default rescale_mode is a no-op too (it stopped and restarted it).
    default_mode = module("flink_job", dict(params, parallelism=2))
    assert not default_mode["changed"] and default_mode["action"] == "none", default_mode
    assert default_mode["job_id"] == started["job_id"]
    # flink_job_info answers which spec the job runs as the engine does: the rescaled one.
    info = module("flink_job_info", dict(url=adaptive.url, name=name))
    assert [job["spec"]["parallelism"] for job in info["jobs"] if job["active"]] == [2], info["jobs"]


def test_default_scheduler_falls_back_to_a_savepoint_upgrade(flink, job_params, module):
    params = job_params(parallelism=1)
    started = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    result = module("flink_job", dict(params, parallelism=2, rescale_mode="in-place"))
    assert result["changed"] and result["action"] == "upgraded", result
    assert "adaptive scheduler" in result["rescale_fallback"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == result["job_id"] != started["job_id"]
    assert flink.state(started["job_id"]) == "FINISHED"
    assert set(parallelism_of(flink, job["jid"])) == {2}
    restored = flink.wait_restored(job["jid"])
    assert restored["external_path"] == result["savepoint"]

    again = module("flink_job", dict(params, parallelism=2, rescale_mode="in-place"))
    assert not again["changed"], again


def test_a_rescaled_job_failing_its_gate_is_rescaled_back(adaptive, unique_job_name, module):
    """Issue 30: the in-place rescale ignored health_require_checkpoint and health_window. With
    checkpointing off the gate cannot be met: the job is rescaled back, the run fails saying so.
    Check mode plans it without a crash (the role's first task runs in check mode)."""
    name = unique_job_name
    params = dict(url=adaptive.url, name=name, jar=adaptive.jobs["stateful-v1"],
                  entry_class=adaptive.entry_class, parallelism=1,
                  args=["--name", name, "--tag", name, "--rate", "400", "--checkpoint-interval", "0"])
    started = module("flink_job", params)
    assert started["action"] == "started", started
    adaptive.wait_counts(name, "v1", minimum=2)
    gated = dict(params, parallelism=2, rescale_mode="in-place", health_require_checkpoint=True)

    planned = module("flink_job", gated, check=True)
    assert planned["changed"] and planned["action"] == "rescaled", planned
    assert planned["rescaled"] == {"parallelism": 2, "checkpoint_before": None}, planned
    assert parallelism_of(adaptive, started["job_id"]) == [1, 1]

    result = module("flink_job", gated)
    assert result["failed"], result
    assert "rescaled in place to parallelism 2 and failed its health gate" in result["msg"], result["msg"]
    assert "checkpointing off" in result["msg"] and "rescaled back" in result["msg"], result["msg"]
    assert result["rolled_back"] is True, result
    assert adaptive.the_running_job(name)["jid"] == started["job_id"]
    assert parallelism_of(adaptive, started["job_id"]) == [1, 1]
    # The records say parallelism 1 runs: the same spec again is a no-op.
    again = module("flink_job", params)
    assert again["action"] == "none" and not again["changed"], again


def test_the_role_rescales_in_place(adaptive, unique_job_name, module, tmp_path):
    """Issue 30: job_deploy_rescale_mode in-place failed every time (the role's first task runs
    in check mode). Through the role: the same job id, the new parallelism, the gate passed."""
    name = unique_job_name
    args = ["--name", name, "--tag", name, "--rate", "400"]
    started = module("flink_job", dict(url=adaptive.url, name=name, jar=adaptive.jobs["stateful-v1"],
                                       entry_class=adaptive.entry_class, args=args, parallelism=1))
    adaptive.wait_counts(name, "v1", minimum=2)
    deployed = run_playbook(deploy_playbook(), dict(
        job_deploy_url=adaptive.url, job_deploy_name=name, job_deploy_jar=adaptive.jobs["stateful-v1"],
        job_deploy_entry_class=adaptive.entry_class, job_deploy_args=args, job_deploy_parallelism=2,
        job_deploy_rescale_mode="in-place", job_deploy_health_window=2), tmp_path)
    assert deployed.rc == 0, deployed.output[-4000:]
    assert deployed.outcome["action"] == "rescaled", deployed.outcome
    assert deployed.outcome["job_id"] == started["job_id"] == adaptive.the_running_job(name)["jid"]
    assert set(parallelism_of(adaptive, started["job_id"])) == {2}
