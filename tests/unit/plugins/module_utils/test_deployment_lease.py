# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deployment lease's steps, each branch on a scripted cluster (jobs, JAR store, REST calls)."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _deployment_lease, _jobstate
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    DeploymentInProgress,
    Guard,
    read_confirmations,
    read_intents,
    stop_trigger_id,
    successor_id,
)
from ansible_collections.flinkops.flink.plugins.module_utils._deployment_lease import (
    DeploymentLease,
    NoRollback,
    Replan,
    Superseded,
)
from ansible_collections.flinkops.flink.plugins.module_utils._identity import running_fingerprint
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    append_operation,
    read_operations,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import StateStore
from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    Changes,
    DeployRequest,
    DeployResult,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_guard import Store

OLD = "1" * 32
SPEC = JobSpec("orders", "sha256:" + "0" * 16, "org.example.Job", ["--v2"])


class Cluster:
    """What the lease reads through REST, scripted: jobs, exceptions, submissions."""

    def __init__(self, monkeypatch, store, jobs=()):
        self.store = store
        self.jobs = list(jobs)
        self.cancelled = []
        self.submitted = []
        self.exceptions = {}
        self.submit_error = None
        for name, fake in (("list_jobs", lambda client: list(self.jobs)),
                           ("find_job", self.find_job),
                           ("cancel_job", lambda client, jid: self.cancelled.append(jid)),
                           ("submit_once", self.submit),
                           ("root_exception", lambda client, jid: "java.lang.RuntimeException: boom")):
            monkeypatch.setattr(_deployment_lease, name, fake)
        # The restart count of a running job is read by _jobstate (recent_restarts).
        monkeypatch.setattr(_jobstate, "job_exceptions",
                            lambda client, jid: self.exceptions.get(jid, {}))

    def find_job(self, client, job_id, jobs=None):
        return next((j for j in (self.jobs if jobs is None else jobs) if j["jid"] == job_id), None)

    def submit(self, client, jar_id, body, before_post=None):
        if before_post is not None:
            before_post()
        if self.submit_error:
            raise self.submit_error
        self.submitted.append(body["jobId"])
        self.jobs.append(job(body["jobId"], name=body.get("name", "orders"), started=2))
        return body["jobId"]


def job(jid, state="RUNNING", name="orders", started=1, duration=1000, end=-1):
    return {"jid": jid, "name": name, "state": state, "start-time": started,
            "duration": duration, "end-time": end, "tasks": {"total": 2, "running": 2}}


def run_of(store, current=None, runs=(), check=False, **request):
    runs = list(runs) or ([current] if current else [])
    return SimpleNamespace(client=None, request=DeployRequest(name="orders", **request),
                           jobs=list(runs), runs=runs, current=current, jars=store.jars(),
                           records=store.jars(), record_store=store, cluster_config={},
                           state=StateStore(None, None),
                           changes=Changes(check_mode=check), result=DeployResult(),
                           stop_trigger_of=None)


@pytest.fixture
def store():
    return Store()


def test_a_claim_fixes_the_successor_id_and_the_stop_trigger(store, monkeypatch):
    Cluster(monkeypatch, store, [job(OLD)])
    lease = DeploymentLease(store)
    run = run_of(store, job(OLD))
    lease.acquire(run, run.current, SPEC)
    successor = successor_id("orders", OLD)
    assert lease.next_job_id(run, SPEC) == successor
    assert run.stop_trigger_of(0) == stop_trigger_id(OLD, successor)
    assert run.stop_trigger_of(1) == stop_trigger_id(OLD, successor, 1) != run.stop_trigger_of(0)
    assert [i.fingerprint for i in read_intents(store.jars())[successor]] == [SPEC.fingerprint]


def test_check_mode_claims_nothing(store, monkeypatch):
    Cluster(monkeypatch, store, [job(OLD)])
    run = run_of(store, job(OLD), check=True)
    DeploymentLease(store).acquire(run, run.current, SPEC)
    assert store.files == []


def test_the_later_run_fails_naming_the_other_and_logs_the_refusal(store, monkeypatch):
    Cluster(monkeypatch, store, [job(OLD)])
    Guard(store, "orders", who="awx job 7 (deploy)").claim(successor_id("orders", OLD), "f" * 16,
                                                           OLD, 600)
    run = run_of(store, job(OLD))
    with pytest.raises(DeploymentInProgress) as caught:
        DeploymentLease(store).acquire(run, run.current, SPEC)
    assert "another deployment of job orders is in progress: awx job 7 (deploy) since" in \
        caught.value.msg
    # How long the claim holds, and how to release it when its run is known dead.
    claim = read_intents(store.jars())[successor_id("orders", OLD)][0]
    assert "at the latest until %s" % time.strftime(
        "%Y-%m-%d %H:%M:%S UTC", time.gmtime(claim.uploaded / 1000.0 + 600)) in caught.value.msg
    assert "If that run is known dead, delete the entries %s" % claim.entry_ids[0] in caught.value.msg
    assert "the JobManager's JAR upload directory" in caught.value.msg
    assert read_operations(store.jars(), "orders")[0]["action"] == "refused"


def test_wait_waits_for_the_other_run_then_plans_again(store, monkeypatch):
    Cluster(monkeypatch, store, [job(OLD)])
    other = Guard(store, "orders", who="other")
    other.claim(successor_id("orders", OLD), "f" * 16, OLD, 600)
    polls = []

    def wait_for(client, check, timeout, interval, what):
        """_poll.wait_for's contract: poll until ``check()`` answers something but None."""
        while True:
            polls.append(check())
            if polls[-1] is not None:
                return polls[-1]
            if len(polls) == 2:  # the other run lets its claim go after a while
                other.release()
    monkeypatch.setattr(_deployment_lease, "wait_for", wait_for)
    run = run_of(store, job(OLD), concurrent_deployment="wait")
    with pytest.raises(Replan):
        DeploymentLease(store).acquire(run, run.current, SPEC)
    # It waited while the claim held (a False would have ended the wait at once).
    assert polls == [None, None, True]


def test_a_run_still_watching_its_new_job_blocks_others(store, monkeypatch):
    new = successor_id("orders", OLD)
    Guard(store, "orders", who="pipeline-a").claim(new, "f" * 16, OLD, 600, window=60)
    uploaded = read_intents(store.jars())[new][0].uploaded
    current = job(new, started=uploaded, duration=3000)
    Cluster(monkeypatch, store, [current])
    run = run_of(store, current)
    with pytest.raises(DeploymentInProgress) as caught:
        DeploymentLease(store).acquire(run, current, SPEC)
    assert "pipeline-a" in caught.value.msg and "it deploys job %s" % new in caught.value.msg
    # The same spec asked for meanwhile is green only once the job passed that run's window.
    watched = []
    monkeypatch.setattr(_deployment_lease, "wait_until_running",
                        lambda client, jid, timeout, new=True: current)
    monkeypatch.setattr(_deployment_lease, "restart_count", lambda client, jid: 0)

    def watch_health(client, jid, window, checkpoint, started, baseline_restarts=0):
        watched.append(window)
        if len(watched) > 1:
            raise FlinkError("job %s restarted during the health window" % jid)
        return {"job": current, "checkpoint": None}
    monkeypatch.setattr(_deployment_lease, "watch_health", watch_health)
    same = run_of(store, current, health_window=5)
    DeploymentLease(store).verify_running(same, current)
    assert same.result.healthy is True and watched == [5]
    with pytest.raises(NoRollback) as gated:
        DeploymentLease(store).verify_running(run_of(store, current), current)
    assert "another deployment (pipeline-a since" in gated.value.msg
    assert "restarted during the health window" in gated.value.msg
    checked = run_of(store, current, check=True)
    DeploymentLease(store).verify_running(checked, current)
    assert checked.result.healthy is False


def test_a_takeover_is_decided_on_the_jobs_running_now(store, monkeypatch):
    """Two re-runs resume an ended job. The twin claimed 3 s before us (our plan was slow) and
    submitted after our run read its job list: our claim must see the twin's job running and
    lose to it, not take its claim over as abandoned on that stale list."""
    ended = job(OLD, state="FAILED", end=1)
    new = successor_id("orders", OLD)
    Guard(store, "orders", who="pipeline-a").claim(new, "f" * 16, OLD, 600, window=60)
    uploaded = read_intents(store.jars())[new][0].uploaded
    store.clock = itertools.count(uploaded + 3000, 7)
    Cluster(monkeypatch, store, [ended, job(new, started=uploaded + 100, duration=2900)])
    run = run_of(store, None, runs=[ended])  # read before the twin submitted
    with pytest.raises(DeploymentInProgress) as caught:
        DeploymentLease(store).acquire(run, None, SPEC)
    assert "pipeline-a since" in caught.value.msg
    assert [i.actor for i in read_intents(store.jars())[new]] == ["pipeline-a"]


def test_history_without_a_listed_run_refuses_an_empty_start(store, monkeypatch):
    Cluster(monkeypatch, store, [])
    append_operation(store, "orders", "upgraded", "ci", print, job_id=OLD,
                     savepoint="file:/sp/savepoint-111111-1")
    run = run_of(store)
    with pytest.raises(NoRollback) as caught:
        DeploymentLease(store).acquire(run, None, SPEC)
    assert "refusing to start it from empty state" in caught.value.msg
    assert "file:/sp/savepoint-111111-1" in caught.value.msg
    for allowed in (dict(allow_start_empty=True), dict(savepoint_path="file:/sp/x")):
        lease = DeploymentLease(store)
        lease.acquire(run_of(store, **allowed), None, SPEC)
        assert lease.successor == successor_id("orders", OLD)  # the log's job is the predecessor
        lease.guard.release()


def test_a_failed_submission_listed_is_no_history_and_the_stop_savepoint_is_resumed(store, monkeypatch):
    """After a leader change Flink lists only a FAILED job with no tasks (a submission that
    failed while the cluster recovered): that is no run of the job, and starting from empty
    state would lose what the logged stop saved."""
    never_ran = job("3" * 32, state="FAILED", end=5)
    never_ran["tasks"] = {"total": 0, "running": 0}
    Cluster(monkeypatch, store, [never_ran])
    append_operation(store, "orders", "started", "ci", print, job_id=OLD)
    append_operation(store, "orders", "stopped", "ci", print, previous_job_id=OLD,
                     savepoint="file:/sp/savepoint-111111-2")
    run = run_of(store, runs=[never_ran])
    DeploymentLease(store).acquire(run, None, SPEC)
    assert run.resume_from == (OLD, "file:/sp/savepoint-111111-2")


def test_prefix_keeps_only_runs_of_its_own(store, monkeypatch):
    other = job("2" * 32, state="FINISHED", name="orders-backfill")
    Cluster(monkeypatch, store, [other])
    run = run_of(store, runs=[other], name_match="prefix")
    DeploymentLease(store).acquire(run, None, SPEC)
    assert run.runs == []


def test_a_duplicate_submission_is_another_runs_job_and_never_rolled_back(store, monkeypatch):
    cluster = Cluster(monkeypatch, store, [job(OLD, state="FINISHED")])
    lease = DeploymentLease(store)
    run = run_of(store, runs=[job(OLD, state="FINISHED")])
    lease.acquire(run, None, SPEC)
    successor = lease.next_job_id(run, SPEC)
    cluster.jobs.append(job(successor))
    cluster.submit_error = FlinkError("run failed", method="POST", url="http://jm/jars/x/run",
                                      status=400, errors=["DuplicateApplicationSubmissionException"])
    with pytest.raises(NoRollback) as caught:
        lease.submit(run, "jar", {"jobId": successor})
    assert caught.value.roll_back is False
    assert "another deployment of job orders is in progress or has finished" in caught.value.msg
    # The result tells what this run did (nothing started) and names the winner apart.
    assert (run.result.action, run.result.job_id, run.result.winner_job_id) == ("none", None, successor)
    cluster.submit_error = FlinkError("bad", method="POST", url="http://jm", status=500)
    with pytest.raises(FlinkError) as other:
        lease.submit(run, "jar", {"jobId": successor})
    assert other.value.msg == "bad"


def test_the_started_job_must_carry_the_name(store, monkeypatch):
    cluster = Cluster(monkeypatch, store, [])
    lease = DeploymentLease(store)
    run = run_of(store)
    lease.acquire(run, None, SPEC)
    cluster.jobs.append(job("3" * 32, name="Orders Job"))
    with pytest.raises(FlinkError) as caught:
        lease.check_started(run, "3" * 32, SPEC)
    assert "'Orders Job', not 'orders'" in caught.value.msg and cluster.cancelled == ["3" * 32]
    cluster.jobs.append(job("4" * 32))
    lease.check_started(run, "4" * 32, SPEC)
    assert lease.next_job_id(run, SPEC) == successor_id("orders", "4" * 32)  # a rollback's id


def test_a_submission_is_confirmed_once_its_job_runs_and_the_claim_held_until_then(
        store, monkeypatch):
    """No upload while the JobManager schedules and restores the new job: the claim (the
    intent, which names the fingerprint) covers it until every task runs."""
    cluster = Cluster(monkeypatch, store, [job(OLD)])
    lease = DeploymentLease(store)
    run = run_of(store, job(OLD))
    lease.acquire(run, run.current, SPEC)
    successor = successor_id("orders", OLD)
    cluster.jobs.append(job(successor, state="INITIALIZING"))
    writes = len(store.files)
    lease.check_started(run, successor, SPEC)
    assert len(store.files) == writes and read_confirmations(store.jars(), "orders") == {}
    assert running_fingerprint(store.jars(), successor, "orders") == SPEC.fingerprint  # from the claim
    lease.confirm(run)
    assert read_confirmations(store.jars(), "orders") == {successor: SPEC.fingerprint}
    assert read_intents(store.jars()) == {}


@pytest.mark.parametrize("ending", ["rollback", "end"])
def test_a_job_that_never_ran_is_confirmed_before_a_rollback_or_at_the_end(
        store, monkeypatch, ending):
    cluster = Cluster(monkeypatch, store, [job(OLD, state="FINISHED")])
    lease = DeploymentLease(store)
    run = run_of(store, job(OLD))
    lease.acquire(run, run.current, SPEC)
    failed = successor_id("orders", OLD)
    cluster.jobs.append(job(failed, state="FAILED"))
    lease.check_started(run, failed, SPEC)
    if ending == "rollback":
        lease.allow_rollback(run, failed, {})
    else:
        lease.release(run, FlinkError("boom"))
    assert read_confirmations(store.jars(), "orders") == {failed: SPEC.fingerprint}
    assert read_intents(store.jars()) == {}


def test_a_rollback_over_another_runs_job_is_refused(store, monkeypatch):
    new = "5" * 32
    cluster = Cluster(monkeypatch, store, [job(new, state="FINISHED")])
    lease = DeploymentLease(store)
    run = run_of(store)
    lease.allow_rollback(run, new, {})  # nobody replaced it: roll back, fenced on it
    assert lease.next_job_id(run, SPEC) == successor_id("orders", new)
    Guard(store, "orders", who="pipeline-b").claim(successor_id("orders", new), "f" * 16, new, 60)
    with pytest.raises(Superseded) as replaced:
        lease.allow_rollback(run, new, {})
    assert "superseded by another deployment (pipeline-b since" in replaced.value.msg
    cluster.jobs = [job(new)]  # still active: its own failure, not superseded
    lease.allow_rollback(run, new, {})
    lease.refusal = "another deployment of job orders is in progress or has finished"
    with pytest.raises(FlinkError) as refused:
        lease.allow_rollback(run, new, {})
    assert refused.value.msg == lease.refusal


def test_a_rollback_refusal_names_who_started_the_successor(store, monkeypatch):
    new = "5" * 32
    successor = successor_id("orders", new)
    cluster = Cluster(monkeypatch, store, [job(new, state="FINISHED"), job(successor)])
    lease = DeploymentLease(store)
    with pytest.raises(Superseded) as replaced:
        lease.allow_rollback(run_of(store), new, {})
    assert replaced.value.msg.endswith("(its successor %s runs)" % successor)
    append_operation(store, "orders", "upgraded", "awx job 7", print, job_id=successor)
    with pytest.raises(Superseded) as replaced:
        lease.allow_rollback(run_of(store), new, {})
    assert "(its successor %s runs, started by awx job 7)" % successor in replaced.value.msg
    assert cluster.jobs[1]["jid"] == successor


def test_a_crash_looping_job_is_not_green(store, monkeypatch):
    cluster = Cluster(monkeypatch, store, [])
    looping = dict(job(OLD), state="RESTARTING")
    cluster.exceptions[OLD] = {"exceptionHistory": {"entries": [
        {"timestamp": int(time.time() * 1000) - 5000}]}}
    with pytest.raises(NoRollback) as caught:
        DeploymentLease(store).verify_running(run_of(store, looping), looping)
    assert "not healthy" in caught.value.msg and "boom" in caught.value.msg
    checked = run_of(store, looping, check=True)
    DeploymentLease(store).verify_running(checked, looping)
    assert checked.result.healthy is False
    # A restart long ago is history: a running job is green.
    cluster.exceptions[OLD] = {"all-exceptions": [{"timestamp": 1}]}
    healthy = run_of(store, job(OLD))
    DeploymentLease(store).verify_running(healthy, job(OLD))
    assert healthy.result.healthy is True


def test_a_job_whose_deployment_failed_its_gate_is_not_green_on_a_retry(store, monkeypatch):
    """The first run failed the checkpoint gate (checkpointing off); the same task again must
    gate the job again, not answer 'up to date'. Once a gate passes, it is verified."""
    Cluster(monkeypatch, store, [job(OLD)])
    append_operation(store, "orders", "failed", "ci", print, job_id=OLD,
                     message="job 111 has checkpointing off ... health_require_checkpoint cannot be met")
    gates = []

    def gate(_lease, run, job_id, window, why):
        gates.append((job_id, why))
        if len(gates) == 1:
            raise NoRollback("job %s runs the requested spec, but %s and it failed the health gate" % (
                job_id, why))
    monkeypatch.setattr(DeploymentLease, "_gate", gate)
    with pytest.raises(NoRollback) as caught:
        DeploymentLease(store).verify_running(
            run_of(store, job(OLD), health_require_checkpoint=True), job(OLD))
    assert "its last deployment failed (job 111 has checkpointing off" in caught.value.msg
    checked = run_of(store, job(OLD), check=True)
    DeploymentLease(store).verify_running(checked, job(OLD))
    assert checked.result.healthy is False and len(gates) == 1  # check mode gates nothing
    DeploymentLease(store).verify_running(run_of(store, job(OLD)), job(OLD))  # the gate passes now
    assert read_operations(store.jars(), "orders")[0]["action"] == "verified"
    DeploymentLease(store).verify_running(run_of(store, job(OLD)), job(OLD))
    assert len(gates) == 2  # verified: no gate any more


def test_the_end_releases_the_claim_and_logs_the_change(store, monkeypatch):
    Cluster(monkeypatch, store, [job(OLD)])
    lease = DeploymentLease(store)
    run = run_of(store, job(OLD))
    lease.acquire(run, run.current, SPEC)
    run.result.update(action="upgraded", job_id="6" * 32, previous_job_id=OLD,
                      savepoint="file:/sp/2")
    lease.release(run, None)
    assert read_intents(store.jars()) == {}
    entry = read_operations(store.jars(), "orders")[0]
    assert entry["action"] == "upgraded" and entry["savepoint"] == "file:/sp/2"
    assert entry["previous_job_id"] == OLD and entry["fingerprint"] == SPEC.fingerprint
    failed = DeploymentLease(store)
    failed.acquire(run_of(store, job(OLD)), job(OLD), SPEC)
    run.result.update(rolled_back=True)
    failed.release(run, FlinkError("boom"))
    assert read_operations(store.jars(), "orders")[0]["action"] == "rolled back"


def test_the_log_numbers_each_version_a_change_applies(store, monkeypatch):
    """Issue 25: each entry that applies a spec records its version number (the next one for a
    spec never applied, its own for one applied before), so numbers survive the log's pruning."""
    Cluster(monkeypatch, store, [job(OLD)])
    other = JobSpec("orders", "sha256:" + "1" * 16, "org.example.Job", ["--v1"])
    for spec, action in ((other, "started"), (SPEC, "upgraded"), (other, "upgraded")):
        lease = DeploymentLease(store)
        run = run_of(store, job(OLD))
        lease.acquire(run, run.current, spec)
        run.result.update(action=action, job_id="6" * 32, previous_job_id=OLD)
        lease.release(run, None)
    logged = read_operations(store.jars(), "orders")
    assert [(e["action"], e["version"]) for e in logged] == [("upgraded", 1), ("upgraded", 2), ("started", 1)]
    # The log not read (the store failed): no number rather than a wrong one.
    append_operation(store, "orders", "upgraded", "me", print, fingerprint="9" * 16, logged=None)
    assert "version" not in read_operations(store.jars(), "orders")[0]
