# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What flink_job reports and compares, on real clusters (issue 14.3, 14.4, 14.6)."""

from __future__ import annotations

import time


def wait_for(check, timeout=30):
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, "timed out"
        time.sleep(0.5)


def test_no_op_reports_the_savepoint_the_running_job_was_restored_from(flink, job_params, module):
    """14.3: restored_from null means empty state; a no-op of a restored job says where from."""
    params = job_params()
    module("flink_job", params)
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    upgraded = module("flink_job", v2)
    assert upgraded["action"] == "upgraded" and upgraded["restored_from"]
    flink.wait_restored(upgraded["job_id"])  # Flink's /checkpoints cache shows it by then
    again = module("flink_job", v2)
    assert again["action"] == "none" and not again["changed"]
    assert again["restored_from"] == upgraded["restored_from"], again


def test_no_op_of_a_job_started_empty_reports_null(flink, job_params, module):
    params = job_params()
    module("flink_job", params)
    time.sleep(3.5)  # past Flink's /checkpoints cache refresh: the answer is final
    again = module("flink_job", params)
    assert again["action"] == "none" and again["restored_from"] is None


def test_equivalent_specs_do_not_restart_the_job(flink, job_params, module):
    """14.4: an empty entry_class is the manifest's Main-Class, as is none, and as is naming
    that class (issue 30); true is "true" and "TRUE"; 1 s is 1000 ms; 64 mb is 65536 kb."""
    spelled = {"pipeline.object-reuse": True, "pipeline.auto-watermark-interval": "1 s",
               "taskmanager.memory.managed.size": "64 mb"}
    params = job_params(entry_class="", configuration=spelled)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    same = dict(params, configuration={"pipeline.object-reuse": "true",
                                       "pipeline.auto-watermark-interval": "1000ms",
                                       "taskmanager.memory.managed.size": "65536 KB"})
    del same["entry_class"]
    again = module("flink_job", same)
    assert again["action"] == "none" and not again["changed"], again
    named = module("flink_job", dict(same, entry_class=flink.entry_class,
                                     configuration=dict(spelled, **{"pipeline.object-reuse": "TRUE"})))
    assert named["action"] == "none" and not named["changed"], named
    assert flink.the_running_job(params["name"])["jid"] == started["job_id"]
    changed = module("flink_job", dict(same, configuration=dict(
        spelled, **{"pipeline.auto-watermark-interval": "2 s"})), check=True)
    assert changed["changed"] and changed["action"] == "upgraded", changed


def test_configuration_values_take_flinks_flat_form(flink, job_params, module):
    """14.6: nested keys, booleans and numbers reach Flink as Flink spells them."""
    # --checkpoint-interval 0: the program leaves checkpointing to the configuration.
    params = job_params(extra_args=["--checkpoint-interval", "0"], configuration={
        "execution": {"checkpointing": {"interval": 1700}},
        "pipeline": {"object-reuse": True},
    })
    started = module("flink_job", params)
    assert started["action"] == "started", started
    job_id = started["job_id"]
    interval = wait_for(lambda: flink.get("/jobs/%s/checkpoints/config" % job_id).get("interval"))
    assert interval == 1700
    execution = flink.get("/jobs/%s/config" % job_id)["execution-config"]
    assert execution["object-reuse-mode"] is True


def test_null_configuration_value_is_refused_naming_the_key(flink, job_params, module):
    params = job_params(configuration={"state.backend.type": None})
    before = flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result["failed"]
    assert "configuration key state.backend.type has no value (null)" in result["msg"]
    assert flink.snapshot(params["name"]) == before


def few_splits_params(flink, name, version="v1", **overrides):
    """The zoo's few-splits job: one split, so at parallelism > 1 source subtasks FINISH
    while the job runs on and checkpoints (Flink 1.15+)."""
    zoo = flink.jobs["zoo"]["few-splits"]
    params = dict(url=flink.url, name=name, jar=zoo["jars"][version],
                  entry_class=zoo["entry_class"], parallelism=3, wait_timeout=40,
                  args=["--name", name, "--tag", name, "--rate", "100", "--keys", "4",
                        "--every", "10", "--splits", "1"])
    params.update(overrides)
    return params


def test_a_job_with_finished_subtasks_is_healthy(flink, unique_job_name, module):
    """14.1: deploy, no-op, health-gated upgrade and rescale of a job whose idle source subtasks
    finished: none times out or rolls back, and no message says nothing runs."""
    params = few_splits_params(flink, unique_job_name)
    started = module("flink_job", params)
    assert started["action"] == "started", started.get("msg")
    # The idle source subtasks finish once the enumerator says there is no split for them.
    job = wait_for(lambda: [j for j in flink.active(unique_job_name)
                            if j["tasks"].get("finished")])[0]
    assert job["state"] == "RUNNING" and job["jid"] == started["job_id"]
    assert job["tasks"]["running"] + job["tasks"]["finished"] == job["tasks"]["total"]

    again = module("flink_job", params)
    assert again["action"] == "none" and not again["changed"], again.get("msg")

    upgraded = module("flink_job", few_splits_params(flink, unique_job_name, "v2",
                                                     health_window=4))
    assert upgraded["action"] == "upgraded" and not upgraded["rolled_back"], upgraded.get("msg")
    assert upgraded["health"]["window"] == 4

    rescaled = module("flink_job", few_splits_params(flink, unique_job_name, "v2", parallelism=4,
                                                     health_window=4))
    assert rescaled["action"] == "upgraded" and not rescaled["rolled_back"], rescaled.get("msg")
    job = flink.the_running_job(unique_job_name)
    assert job["jid"] == rescaled["job_id"] and job["tasks"]["finished"] > 0
