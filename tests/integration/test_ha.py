# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job on a ZooKeeper-HA session cluster (flinkops_devkit.hacluster: two JobManagers, each
serving REST with its own upload directory, one TaskManager), the way production runs Flink.

Without a durable state store every change is refused (the records would live in one
JobManager's upload directory); with one (each real backend) the same spec through either
JobManager is a no-op, flink_job_info answers the same through both, a stopped job resumes from
its stop's savepoint after the leader restarted with an empty upload directory, and two versions
deployed at once through the two JobManagers leave one job with its state carried exactly once.

One HA cluster per Flink version of the run, shared by this module's tests (one worker).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.hacluster import FlinkCannotRecover
from flinkops_devkit.modules import ModuleRun, warnings_of
from flinkops_devkit.rest import rest

# One worker for every HA-cluster and state-store suite: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")

KINDS = ("s3", "zookeeper", "postgresql")
ROUNDS = int(os.environ.get("FLINKOPS_RACE_ROUNDS", "2"))
# The races run with ZooKeeper, FLINKOPS_RACE_ROUNDS rounds; with FLINKOPS_HA_RACES_EVERY_STORE
# (make test's stage of its own, first Flink version) with S3 and PostgreSQL too, at most
# OTHER_STORE_ROUNDS rounds each: the election is the same code on every store, their
# primitives differ.
EVERY_STORE = bool(os.environ.get("FLINKOPS_HA_RACES_EVERY_STORE"))
RACE_KINDS = KINDS if EVERY_STORE else ("zookeeper",)
OTHER_STORE_ROUNDS = 3
RACES = [(kind, "round-%d" % (i + 1)) for kind in RACE_KINDS
         for i in range(ROUNDS if kind == "zookeeper" else min(ROUNDS, OTHER_STORE_ROUNDS))]


@pytest.fixture(autouse=True)
def both_jobmanagers_up(ha):
    """Each test starts with both JobManagers serving (a failed test may have left one down,
    or Flink may have left none able to start: then the cluster is built again)."""
    for via in (0, 1):
        try:
            rest(ha.url_of(via), "GET", "/overview", timeout=10)
        except OSError:
            try:
                ha.restart_jobmanager_of(via, wipe_upload_dir=True)
            except FlinkCannotRecover:
                ha.rebuild()
                break
    ha.wait_leader(timeout=180)


def test_without_a_durable_store_every_change_is_refused(ha_flink, ha_job, module):
    params = ha_job()
    before = ha_flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result.get("failed"), result
    assert "high availability (high-availability" in result["msg"], result["msg"]
    assert "state_store" in result["msg"] and "Nothing was changed" in result["msg"]
    assert ha_flink.snapshot(params["name"]) == before
    # Reading is not refused.
    info = module("flink_job_info", dict(url=params["url"], name=params["name"]))
    assert not info.get("failed") and info["jobs"] == [], info


@pytest.mark.parametrize("kind", KINDS)
def test_either_jobmanager_sees_the_same_records(ha_flink, ha_job, module, state_store_of, kind):
    store = state_store_of(kind)
    started = module("flink_job", ha_job(via=0, state_store=store))
    assert started["action"] == "started", started
    through_b = module("flink_job", ha_job(via=1, state_store=store))
    assert through_b["action"] == "none" and not through_b["changed"], through_b
    assert through_b["job_id"] == started["job_id"]
    infos = [module("flink_job_info", dict(url=ha_job(via=via)["url"], name=ha_job()["name"],
                                           state_store=store))
             for via in (0, 1)]
    for info in infos:
        assert [op["action"] for op in info["operations"]] == ["started"], info
    assert infos[0]["operations"] == infos[1]["operations"]
    assert [j["spec"] for j in infos[0]["jobs"]] == [j["spec"] for j in infos[1]["jobs"]]
    # The versions too, numbered the same; only whether the answering JobManager holds the JAR
    # may differ (each has an upload directory of its own).
    versions = [[dict(version, jar_on_cluster=None, spec=dict(version["spec"], jar_on_cluster=None))
                 for version in info["versions"]] for info in infos]
    assert [v["version"] for v in versions[0]] == [1] and versions[0] == versions[1], infos


@pytest.mark.parametrize("kind", KINDS)
def test_a_stopped_job_resumes_after_the_leader_restarted_empty(ha, ha_flink, ha_job, module,
                                                                state_store_of, kind):
    store = state_store_of(kind)
    params = ha_job(via=0, state_store=store)
    assert module("flink_job", params)["action"] == "started"
    ha_flink.wait_counts(params["name"], "v1", minimum=2)
    stopped = module("flink_job", dict(params, state="stopped"))
    assert stopped["action"] == "stopped" and stopped["savepoint"], stopped

    # A leader restarted before Flink's own clean-up of the stopped job ends makes the next leader
    # redo that clean-up and list the job for an hour (seen in CI): not the case under test.
    ha.wait_job_cleaned_up(stopped["job_id"])
    leader = ha.wait_leader()
    ha.restart_jobmanager_of(leader, wipe_upload_dir=True)
    other = ha.wait_leader(timeout=180)
    # Flink lists no run of the job any more (finished jobs are not recovered).
    deadline = time.time() + 60
    while ha_flink.jobs_named(params["name"]):
        assert time.time() < deadline, "the leader change kept the finished job listed"
        time.sleep(1)

    resumed = module("flink_job", ha_job(via=other, jar="stateful-v2", state_store=store))
    assert resumed["action"] == "resumed", resumed
    assert resumed["restored_from"] == stopped["savepoint"]
    assert any(stopped["savepoint"] in warning for warning in warnings_of(resumed)), json.dumps(resumed)
    ha_flink.wait_counts(params["name"], "v2", minimum=2)
    ha_flink.assert_exactly_once(params["name"])


@pytest.mark.parametrize("kind, round_id", RACES, ids=["%s-%s" % race for race in RACES])
def test_two_versions_at_once_through_the_two_jobmanagers(ha_flink, ha_job, module, state_store_of,
                                                          kind, round_id):
    store = state_store_of(kind)
    first = module("flink_job", ha_job(via=0, state_store=store))
    assert first["action"] == "started", first
    ha_flink.wait_counts(ha_job()["name"], "v1", minimum=2)
    # Two different specs of one program (a configuration change): state-compatible.
    runs = [ModuleRun(ha_job(via=0, jar="stateful-v2", state_store=store), "via-a"),
            ModuleRun(ha_job(via=1, jar="stateful-v2", configuration={"pipeline.object-reuse": "true"},
                             state_store=store), "via-b")]
    results = [run.result() for run in runs]
    for result in results:
        assert "Traceback" not in json.dumps(result), result
    green = [r for r in results if not r.get("failed")]
    assert green, results
    deadline = time.time() + 120
    while len(ha_flink.active(ha_job()["name"])) != 1 or \
            ha_flink.the_running_job(ha_job()["name"])["tasks"]["running"] == 0:
        assert time.time() < deadline, ha_flink.active(ha_job()["name"])
        time.sleep(1)
    running = ha_flink.the_running_job(ha_job()["name"])["jid"]
    replaced = set(r.get("previous_job_id") for r in green)
    assert all(r["job_id"] == running or r["job_id"] in replaced for r in green), results
    ha_flink.wait_counts(ha_job()["name"], "v2", minimum=2)
    ha_flink.assert_exactly_once(ha_job()["name"])


def savepoint_job(path):
    """The job id prefix Flink names a savepoint directory with (savepoint-<prefix>-<random>)."""
    return os.path.basename(path.rstrip("/")).split("-")[1]


@pytest.mark.parametrize("kind", RACE_KINDS)
def test_a_leader_change_between_the_stop_and_the_submit_of_one_of_two_runs(
        ha, ha_flink, ha_job, module, state_store_of, kind):
    """Run A goes through the leader; when it submits (its old job stopped), the leader is
    killed and run B starts through the other JobManager. Whatever each run reports, in the
    end one job runs, resumed from A's stop savepoint, every count exactly once."""
    store = state_store_of(kind)
    v1 = ha_job(via=0, state_store=store)
    assert module("flink_job", v1)["action"] == "started"
    ha_flink.wait_counts(v1["name"], "v1", minimum=2)
    leader = ha.wait_leader()
    other = 1 - leader
    runs = {}

    def leader_dies_and_b_starts():
        ha.kill_jobmanager_of(leader)
        runs["b"] = ModuleRun(ha_job(via=other, jar="stateful-v2", configuration={"pipeline.object-reuse": "true"},
                                     state_store=store, concurrent_deployment="wait"), "run-b")

    with FaultProxy(ha.url_of(leader)) as proxy:
        proxy.add("POST", r"^/jars/.+/run$", "stall:2", 1, hook=leader_dies_and_b_starts)
        a = ModuleRun(ha_job(via=0, url=proxy.url, jar="stateful-v2", state_store=store), "run-a").result()
    b = runs["b"].result()
    assert a.get("failed"), a  # its JobManager died under its submit
    assert a["savepoint"] and a["savepoint"] in a["msg"], a  # ... and it says where the state is
    try:
        ha.restart_jobmanager_of(leader, wipe_upload_dir=True)
    except FlinkCannotRecover:
        # Flink's fault, not the collection's: no leader can start, so nothing can run or be
        # checked. The runs said what they could; the next test's both_jobmanagers_up builds
        # the cluster again.
        for result in (a, b):
            assert "Traceback" not in json.dumps(result), result
        pytest.xfail("Flink %s could not recover its HA store after the leader was killed under "
                     "a submission (Dispatcher.onStart failed its check on recovered dirty job "
                     "results on every JobManager)" % ha.version)
    ha.wait_leader(timeout=180)
    final = b
    deadline = time.time() + 300
    while final.get("failed") or not ha_flink.active(v1["name"]):
        assert time.time() < deadline, (a, b, final)
        time.sleep(5)
        final = module("flink_job", ha_job(via=other, jar="stateful-v2", state_store=store,
                                           concurrent_deployment="wait"))
    for result in (a, b, final):
        assert "Traceback" not in json.dumps(result), result
    running = ha_flink.the_running_job(v1["name"])
    assert running["jid"] in (b.get("job_id"), final.get("job_id")), (b, final, running)
    try:
        restored = ha_flink.wait_restored(running["jid"], timeout=60)
    except AssertionError:
        raise AssertionError(json.dumps(dict(a=a, b=b, final=final, running=running,
                                             checkpoints=ha_flink.checkpoints(running["jid"])))[:12000])
    # A's savepoint, or one of the same job taken after it: a leader killed right after the stop
    # can leave the stop unrecorded in the HA store, so the next leader recovers that job and a
    # later run stops it again (seen on 1.20 with PostgreSQL). Never a savepoint of another job;
    # the counts below prove the state went on exactly once.
    assert restored["external_path"] == a["savepoint"] or (
        restored["is_savepoint"] and savepoint_job(restored["external_path"]) == savepoint_job(a["savepoint"])), \
        (restored, a["savepoint"])
    ha_flink.wait_counts(v1["name"], "v2", minimum=2)
    if restored["external_path"] == a["savepoint"]:
        ha_flink.assert_exactly_once(v1["name"])
    else:
        # The next leader recovered v1 from its last checkpoint and printed again what v1 printed
        # after it (seen on 1.20): output, not state. v2 must go on from v1's last count.
        ha_flink.assert_carried_once(v1["name"], "v1", "v2")
