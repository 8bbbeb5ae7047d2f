# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state-compatibility pre-check and the checkpoint-proving health gate on real clusters.

Every claim is checked through Flink's REST API (observer.Flink), never through the modules.
The "incompatible" variant of the test program gives its keyed counter another uid.
"""

from __future__ import annotations

import json
import os
import re

from flinkops_devkit.modules import warnings_of
from flinkops_devkit.playbooks import run_playbook

COUNTER = "flinkops-keyed-counter"


def started_with_a_checkpoint(flink, module, params):
    started = module("flink_job", params)
    assert started["action"] == "started", json.dumps(started)
    flink.wait_checkpoint(started["job_id"], timeout=120)
    return started


def savepoints_of(flink, job_id):
    """Savepoint directories Flink wrote for this job (named savepoint-<first 6 of its id>-...)."""
    directory = flink.cluster.savepoint_dir
    return [p for p in os.listdir(directory) if p.startswith("savepoint-%s" % job_id[:6])]


def assert_untouched(flink, name, job_id):
    job = flink.the_running_job(name)
    assert job["jid"] == job_id and job["tasks"]["running"] == job["tasks"]["total"]
    assert savepoints_of(flink, job_id) == []
    assert flink.checkpoints(job_id)["latest"]["savepoint"] is None


def test_changed_uid_of_a_keyed_operator_is_refused_before_the_stop(flink, job_params, module):
    params = job_params()
    started = started_with_a_checkpoint(flink, module, params)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"]))
    assert result["failed"], result
    assert result["msg"].startswith("upgrade refused before anything stopped"), result["msg"]
    assert COUNTER in result["msg"] and "bytes of state" in result["msg"]
    assert "operator chain" in result["msg"]  # the limit is said where it matters
    check = result["state_check"]
    assert check["outcome"] == "refused"
    assert [v["name"] for v in check["vanished"]] == [COUNTER]
    assert check["dropped_state_bytes"] == check["vanished"][0]["state_size"] > 0
    assert not any("stop job" in a for a in result.get("actions", []))
    assert_untouched(flink, params["name"], started["job_id"])


def test_check_mode_predicts_the_refusal(flink, job_params, module):
    params = job_params()
    started = started_with_a_checkpoint(flink, module, params)
    # The new JAR is already on the cluster (as a CI pipeline stages it), so check mode plans it.
    staged = module("flink_jar", dict(url=flink.url, src=flink.jobs["stateful-incompatible"]))
    assert staged.get("jar_id"), staged
    before = flink.snapshot(params["name"])
    planned = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"]), check=True)
    assert planned["failed"] and planned["state_check"]["outcome"] == "refused", planned
    assert planned["msg"].startswith("upgrade refused before anything stopped")
    assert COUNTER in planned["msg"]
    assert flink.snapshot(params["name"]) == before
    real = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"]))
    assert real["failed"]
    # The same refusal; only the checkpoint id and sizes of a later checkpoint may differ.
    assert re.sub(r"\d+", "N", real["msg"]) == re.sub(r"\d+", "N", planned["msg"])
    assert [v["id"] for v in real["state_check"]["vanished"]] == \
        [v["id"] for v in planned["state_check"]["vanished"]]
    assert_untouched(flink, params["name"], started["job_id"])


def test_allow_non_restored_state_upgrades_and_says_what_is_dropped(flink, job_params, module):
    params = job_params()
    started = started_with_a_checkpoint(flink, module, params)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"],
                                      allow_non_restored_state=True))
    assert result["changed"] and result["action"] == "upgraded", result
    assert result["previous_job_id"] == started["job_id"] and result["savepoint"]
    assert result["state_check"]["outcome"] == "refused"
    assert any(COUNTER in w and "Flink drops that state" in w for w in warnings_of(result))
    job = flink.the_running_job(params["name"])
    assert job["jid"] == result["job_id"]
    # The new counter starts from nothing: its first count is 50 again.
    seen = flink.wait_counts(params["name"], "incompatible", minimum=1)
    assert all(counts[0] == 50 for (version, _key), counts in seen.items()
               if version == "incompatible")
    restored = flink.wait_restored(job["jid"])
    assert restored["external_path"] == result["savepoint"]


def test_state_check_warn_lets_the_restore_decide(flink, job_params, module):
    params = job_params()
    started_with_a_checkpoint(flink, module, params)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"],
                                      state_check="warn"))
    # Flink refuses the restore itself, and the previous version is started again.
    assert result["failed"] and result.get("rolled_back"), result
    assert any("upgrade refused" in w for w in warnings_of(result))
    assert "Failed to rollback to checkpoint/savepoint" in result["msg"]


def test_compatible_upgrade_passes_the_check(flink, job_params, module):
    params = job_params()
    started = started_with_a_checkpoint(flink, module, params)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert result["action"] == "upgraded" and result["state_check"]["outcome"] == "passed", result
    assert {v["id"] for v in result["state_check"]["stateful_vertices"]} == {
        v["id"] for v in flink.get("/jobs/%s" % started["job_id"])["vertices"]}


def test_no_checkpoint_yet_warns_and_goes_on(flink, job_params, module):
    # Checkpointing off: no completed checkpoint, ever (a 10 min interval is no guarantee: Flink
    # schedules the first checkpoint at a random delay within the interval).
    params = job_params(extra_args=["--checkpoint-interval", "0"])
    assert module("flink_job", params)["action"] == "started"
    flink.wait_counts(params["name"], "v1", minimum=1)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert result["action"] == "upgraded", result
    assert result["state_check"]["outcome"] == "not_run"
    assert any("could not run" in w for w in warnings_of(result))


def test_checkpoint_gate_proves_a_checkpoint_of_a_slow_checkpointing_job(flink, job_params, module):
    # Checkpoints every 10 minutes: only a triggered checkpoint can pass this gate soon.
    params = job_params(extra_args=["--checkpoint-interval", "600000"],
                        health_require_checkpoint=True, health_window=1)
    result = module("flink_job", params)
    assert result["action"] == "started" and not result.get("failed"), result
    proof = result["health"]["checkpoint"]
    assert proof["interval_ms"] == 600000 and len(proof["trigger_id"]) == 32
    stats = flink.checkpoints(result["job_id"])
    assert stats["latest"]["completed"]["id"] >= proof["checkpoint_id"] >= 1
    assert flink.get("/jobs/%s/checkpoints/config" % result["job_id"])["interval"] == 600000


def test_checkpoint_gate_fails_a_job_without_checkpointing(flink, job_params, module):
    params = job_params(extra_args=["--checkpoint-interval", "0"], health_require_checkpoint=True)
    result = module("flink_job", params)
    assert result["failed"], result
    assert "checkpointing off" in result["msg"] and "health_require_checkpoint" in result["msg"]
    # The same task again: the job runs the requested spec but never passed its gate, so it
    # is not up to date (a retry once answered rc=0, action none).
    again = module("flink_job", params)
    assert again.get("failed"), json.dumps(again)[:4000]
    assert "its last deployment failed" in again["msg"] and "checkpointing off" in again["msg"], again["msg"]
    assert flink.the_running_job(params["name"])["jid"] == result["job_id"]


def test_role_refuses_in_its_pre_flight_and_its_plan_shows_the_check(flink, unique_job_name, tmp_path):
    def role_vars(jar):
        return {"job_deploy_url": flink.url, "job_deploy_name": unique_job_name,
                "job_deploy_jar": flink.jobs[jar], "job_deploy_jar_name": unique_job_name,
                "job_deploy_entry_class": flink.entry_class,
                "job_deploy_args": ["--name", unique_job_name, "--tag", unique_job_name],
                "job_deploy_health_window": 1}
    first = run_playbook("flinkops.flink.deploy", role_vars("stateful-v1"), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    flink.wait_checkpoint(first.outcome["job_id"], timeout=120)
    upgraded = run_playbook("flinkops.flink.deploy", role_vars("stateful-v2"), tmp_path)
    assert upgraded.rc == 0, upgraded.output[-3000:]
    assert "State check: state compatibility check passed: all 2 stateful vertices" in upgraded.output
    job_id = upgraded.outcome["job_id"]
    flink.wait_checkpoint(job_id, timeout=120)
    refused = run_playbook("flinkops.flink.deploy", role_vars("stateful-incompatible"), tmp_path)
    assert refused.rc != 0 and refused.recap["rescued"] == 1, refused.output[-3000:]
    assert "Pre-flight | check that the new program can restore" in refused.output
    assert "upgrade refused before anything stopped" in refused.output and COUNTER in refused.output
    assert_untouched(flink, unique_job_name, job_id)


SQL_TABLES = [
    "CREATE TABLE src (k INT, v BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '50', "
    "'fields.k.min' = '0', 'fields.k.max' = '3')",
    "CREATE TABLE snk (k INT, c BIGINT) WITH ('connector' = 'blackhole')",
]


def sql_params(flink, name, insert):
    zoo = flink.jobs["zoo"]["sql"]
    args = ["--name", name]
    for statement in SQL_TABLES + [insert]:
        args += ["--sql", statement]
    return dict(url=flink.url, name=name, jar=zoo["jar"], entry_class=zoo["entry_class"], args=args)


def test_sql_statement_change_that_breaks_state_is_refused_before_the_stop(
        flink, unique_job_name, module):
    params = sql_params(flink, unique_job_name, "INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k")
    started = started_with_a_checkpoint(flink, module, params)
    # SQL operators have no uid: their ids derive from the plan's shape. A changed predicate keeps
    # the shape (and the state); an extra aggregation level changes it, so the aggregation's
    # state cannot be mapped.
    same_shape = sql_params(flink, unique_job_name,
                            "INSERT INTO snk SELECT k, COUNT(*) FROM src WHERE v <> 0 GROUP BY k")
    planned = module("flink_job", same_shape, check=True)
    assert not planned.get("failed") and planned["state_check"]["outcome"] == "passed", planned
    changed = sql_params(flink, unique_job_name,
                         "INSERT INTO snk SELECT k, SUM(c) FROM (SELECT k, v, COUNT(*) AS c FROM src "
                         "GROUP BY k, v) GROUP BY k")
    result = module("flink_job", changed)
    assert result.get("failed"), result
    assert result["msg"].startswith("upgrade refused before anything stopped"), result["msg"]
    assert result["state_check"]["vanished"] and result["state_check"]["dropped_state_bytes"] > 0
    assert any("GroupAggregate" in v["name"] for v in result["state_check"]["vanished"]), result
    assert_untouched(flink, unique_job_name, started["job_id"])
