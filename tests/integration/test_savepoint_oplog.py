# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A savepoint flink_savepoint takes of a managed job is in the job's operation log (the durable
store's, else the JAR store's), so the heal resumes from it when it is the newest state: of a job
lost by a JobManager restart without HA, rather than from the last deployment's savepoint; of a
failed run that completed no checkpoint since, rather than from the run's restore point.
Restarts the JobManager and a TaskManager: a slow suite (one worker)."""

from __future__ import annotations

import os
import time

from test_heal import (
    FAILS_ONCE_LOST,
    counts_by_key,
    heal,
    restart_jobmanager_empty,
    restored_path,
    started_then_upgraded,
    wait_one_running,
    wait_state,
)


def wait_counted_past(flink, name, seen, timeout=120):
    """Until every key of ``seen`` ({key: counts}) was counted past its highest count there."""
    deadline = time.time() + timeout
    while not all(max(counts_by_key(flink, name).get(key, [0])) > max(counts) for key, counts in seen.items()):
        assert time.time() < deadline, "job %s does not count past %s" % (name, seen)
        time.sleep(1)


def assert_counted_once_from_the_savepoint(flink, name, before_savepoint, before_loss):
    """Every record counted exactly once per key, the job resumed from the savepoint taken after
    ``before_savepoint`` ({key: counts}) was read, not from an older state."""
    for key, counts in counts_by_key(flink, name).items():
        # Each count of the key, in steps of 50, with none missing (no state lost, none started
        # from empty state).
        assert sorted(set(counts)) == list(range(50, max(counts) + 1, 50)), "key %s: counts missing" % key
        assert counts.count(50) == 1, "key %s: counted from empty state again" % key
        # Only counts printed after the savepoint was triggered are printed again (the stdout
        # sink is not transactional); from an older state, those printed before it would be too.
        repeated = sorted(set(c for c in counts if counts.count(c) > 1))
        assert all(c > max(before_savepoint.get(key, [0])) for c in repeated), \
            "key %s: counts before the savepoint taken repeated (resumed from an older state): %s" % (key, repeated)
        assert all(c <= max(before_loss.get(key, [0])) for c in repeated), \
            "key %s: counts repeated after the loss: %s" % (key, repeated)


def test_the_heal_resumes_from_a_savepoint_flink_savepoint_took_after_the_deployment(
        flink, flink_cluster, job_params, module, state_store_of, tmp_path):
    store = state_store_of("zookeeper")
    params = job_params(state_store=store)
    name = params["name"]
    upgraded = started_then_upgraded(flink, module, params)
    # More records flow after the upgrade's savepoint before flink_savepoint takes one.
    flink.wait_counts(name, "v2", minimum=3)
    before_savepoint = counts_by_key(flink, name)
    taken = module("flink_savepoint", dict(url=flink.url, name=name, state_store=store))
    assert taken["changed"] and taken["location"] and taken["job_id"] == upgraded["job_id"], taken
    assert taken["location"].rstrip("/") != upgraded["savepoint"].rstrip("/")

    info = module("flink_job_info", dict(url=flink.url, name=name, state_store=store))
    logged = info["operations"][0]
    assert (logged["action"], logged["job_id"], logged["savepoint"]) == (
        "savepoint", upgraded["job_id"], taken["location"]), info["operations"][:2]
    assert logged["actor"] and logged["fingerprint"] == info["operations"][1]["fingerprint"]
    assert info["savepoints"][0]["path"] == taken["location"], info["savepoints"]

    # Records flow after the savepoint too, until the JobManager is lost.
    at_savepoint = counts_by_key(flink, name)
    wait_counted_past(flink, name, at_savepoint)
    restart_jobmanager_empty(flink_cluster)
    assert flink.jobs_named(name) == [] and flink.jar_names() == []
    before_loss = counts_by_key(flink, name)

    healed = heal(name, flink.url, tmp_path, flink_state_store=store,
                  flink_heal_jar=os.path.dirname(flink.jobs["stateful-v2"]))
    assert healed.rc == 0, healed.output[-5000:]
    job = wait_one_running(flink, name)
    assert restored_path(flink, job["jid"]).rstrip("/") == taken["location"].rstrip("/")
    ops = module("flink_job_info", dict(url=flink.url, name=name, state_store=store))["operations"]
    assert (ops[0]["action"], ops[0]["job_id"]) == ("started", job["jid"]) and \
        "flinkops.flink.heal" in ops[0]["actor"], ops[0]
    assert ops[0]["savepoint"].rstrip("/") == taken["location"].rstrip("/")

    wait_counted_past(flink, name, before_loss)
    assert_counted_once_from_the_savepoint(flink, name, before_savepoint, before_loss)


def test_a_failed_run_is_healed_from_a_savepoint_taken_after_its_restore_point(
        flink, flink_cluster, job_params, module, tmp_path):
    """The run restored from the upgrade's savepoint checkpoints an hour apart (at most the one
    flink_job's gate triggers); flink_savepoint takes a savepoint of it (logged in the JAR store);
    its TaskManager is lost and it FAILS. The heal resumes from that newer savepoint, not from the
    run's older checkpoint or restore point."""
    params = job_params(configuration=FAILS_ONCE_LOST, extra_args=("--checkpoint-interval", "3600000"))
    name = params["name"]
    upgraded = started_then_upgraded(flink, module, params)
    flink.wait_counts(name, "v2", minimum=3)
    before_savepoint = counts_by_key(flink, name)
    taken = module("flink_savepoint", dict(url=flink.url, name=name))
    assert taken["location"] and taken["job_id"] == upgraded["job_id"], taken
    wait_counted_past(flink, name, counts_by_key(flink, name))

    flink_cluster.restart_taskmanager()
    wait_state(flink, upgraded["job_id"], ("FAILED",))
    before_loss = counts_by_key(flink, name)
    info = module("flink_job_info", dict(url=flink.url, name=name))
    failed = [job for job in info["jobs"] if job["job_id"] == upgraded["job_id"]][0]
    # The states the heal chooses from: the run's restore point (the upgrade's savepoint), its
    # latest checkpoint if any (the one flink_job's gate may have triggered right after the
    # upgrade), both older than the savepoint taken, logged and listed first.
    assert info["operations"][0]["action"] == "savepoint" and info["savepoints"][0]["path"] == taken["location"]
    assert failed["restored_from"]["path"].rstrip("/") == upgraded["savepoint"].rstrip("/"), failed
    assert (failed["latest_checkpoint"] or {}).get("timestamp", 0) < info["savepoints"][0]["timestamp"], (
        failed["latest_checkpoint"], info["savepoints"][0])

    healed = heal(name, flink.url, tmp_path)
    assert healed.rc == 0, healed.output[-5000:]
    result = healed.stats["flink_heal_result"]
    assert result["outcome"] == "healed" and result["restored_from"] == taken["location"], result
    job = wait_one_running(flink, name)
    assert restored_path(flink, job["jid"]).rstrip("/") == taken["location"].rstrip("/")
    wait_counted_past(flink, name, before_loss)
    assert_counted_once_from_the_savepoint(flink, name, before_savepoint, before_loss)
