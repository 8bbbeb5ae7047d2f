# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every branch of the deployment engine, on a scripted Flink (the order of requests is the
order of steps: a step out of order fails the script)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils import _engine
from ansible_collections.flinkops.flink.plugins.module_utils._engine import Engine
from ansible_collections.flinkops.flink.plugins.module_utils._guard import confirmation_name
from ansible_collections.flinkops.flink.plugins.module_utils._hooks import Hooks
from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    Changes,
    DeployFailure,
    DeployRequest,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._records._jarstore import EMPTY_ZIP
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names
from ansible_collections.flinkops.flink.plugins.module_utils._versions import VERSIONS_KEPT
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    content_key,
    spec_record_names,
)

from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import IN_PROGRESS, checkpoints, job, overview, savepoint_done
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.unleased import Unleased

OLD_ID = "aaaaaaaaaaaaaaaa" + "1" * 16
SP = "file:/sp/savepoint-aaaaaa-1"
ID = r"[0-9a-f]{32}"
CONFIG = {"flink-version": "2.3.0", "refresh-interval": 3000}


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / "orders-job.jar"
    path.write_bytes(EMPTY_ZIP + b"v2")
    return str(path)


@pytest.fixture
def sha(jar):
    with open(jar, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def uploaded(sha):
    return {"id": "u1_orders-job-sha256-%s.jar" % sha[:16],
            "name": "orders-job-sha256-%s.jar" % sha[:16], "uploaded": 2}


OLD_SPEC = JobSpec("orders", "sha256:" + "0" * 16, "org.example.Job", ["--v1"])


def old_record_jars():
    """The JAR store holding the running job's spec record, and its JAR (what a rollback runs)."""
    return [{"id": "u0_old.jar", "name": "old.jar", "uploaded": 1}] + [
        {"id": "r%d_%s" % (i, name), "name": name, "uploaded": 1}
        for i, name in enumerate(spec_record_names(OLD_SPEC, "u0_old.jar"))]


def request(jar, **changes):
    fields = dict(name="orders", jar_path=jar, entry_class="org.example.Job", args=["--v2"],
                  savepoint_dir="file:/sp", wait_timeout=5)
    fields.update(changes)
    return DeployRequest(**fields)


def spec_of(req, sha):
    return JobSpec(req.name, content_key(sha), req.entry_class, req.args, req.parallelism,
                   req.configuration)


@pytest.fixture(autouse=True)
def fixed_job_ids(monkeypatch):
    """Job ids as the engine allocates them, minus the randomness: fingerprint + 9s."""
    monkeypatch.setattr(_engine, "new_job_id", new_id)


def new_id(spec):
    return spec.fingerprint + "9" * 16


def engine(client, req, check_mode=False, hooks=None, lease=Unleased):
    """The engine's own steps: no hooks, no lease (unless given)."""
    return Engine(client, req, Changes(check_mode), hooks=hooks if hooks is not None else [],
                  new_lease=lease)


def running_id(spec, tail="2" * 16):
    return spec.fingerprint + tail


def expect_prepared(script, uploaded, spec, jars=None):
    """The steps before anything stops: jars, plan, the spec record."""
    script.on("GET", "/jars", {"files": [uploaded] + (jars or [])})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/%s/plan" % uploaded["id"], {"plan": {"nodes": []}})
    expect_record(script, spec, uploaded["id"])


def expect_record(script, spec, jar_id):
    for _name in spec_record_names(spec, jar_id):
        script.on("POST", "/jars/upload", {"filename": "/tmp/x/r_flinkops-spec.jar"})


def expect_stop(script, location=SP, job_id=OLD_ID):
    script.on("POST", "/jobs/%s/stop" % job_id, {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % job_id, IN_PROGRESS)
    script.on("GET", "/jobs/%s/savepoints/t1" % job_id, savepoint_done(location))


def expect_run(script, spec, healthy=True, check=None):
    """The submission of ``spec``, then the wait until it runs."""
    jid = new_id(spec)
    script.on("POST", "/jars/.*/run", {"jobid": jid}, check=check)
    if healthy:
        expect_healthy(script, jid)
    return jid


NO_FAILURES = {"exceptionHistory": {"entries": []}}


def expect_healthy(script, jid, polls=2):
    """The wait for a new job: polls until every task runs, then no restart since the start."""
    for poll in range(polls):
        script.on("GET", "/jobs/overview", overview(job(jid, running=0 if poll < polls - 1
                                                        else None)))
    script.on("GET", "/jobs/%s/exceptions" % jid, NO_FAILURES)


# --- no change ---------------------------------------------------------------------------

def expect_no_op(script, current, restored=None):
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": []})  # the records: which spec the job runs (a rescale?)
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(restored=restored))


def test_same_spec_running_is_a_no_op_with_three_reads(client, script, jar, sha):
    req = request(jar)
    current = job(running_id(spec_of(req, sha)))
    expect_no_op(script, current)
    result = engine(client, req).run()
    assert result.action == "none" and result.job_id == current["jid"]
    assert script.calls() == ["GET /jobs/overview", "GET /jars", "GET /jobs/%s/checkpoints" % current["jid"]]
    assert result.diff["before"] == result.diff["after"] and result.restored_from is None


def test_no_op_reports_what_flink_says_the_job_was_restored_from(client, script, jar, sha):
    """Issue 14.3: null means empty state, so a job restored from a savepoint says so."""
    req = request(jar)
    current = job(running_id(spec_of(req, sha)))
    expect_no_op(script, current, restored={"external_path": SP, "is_savepoint": True,
                                            "restore_timestamp": 5})
    assert engine(client, req).run().restored_from == SP


@pytest.mark.parametrize("check_mode", [False, True], ids=["apply", "check"])
def test_another_spec_running_is_left_as_it_is_when_it_may_not_be_replaced(client, script, jar, sha,
                                                                           check_mode):
    """replace_running=false (the heal playbook): a version deployed since the caller looked
    runs; nothing is uploaded, stopped or started, and the warning names the job."""
    req = request(jar, replace_running=False)
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": []})
    eng = engine(client, req, check_mode=check_mode)
    result = eng.run()
    assert result.action == "none" and result.job_id == current["jid"]
    assert script.calls() == ["GET /jobs/overview", "GET /jars"]
    assert not eng.changes.changed and result.diff["before"] == result.diff["after"]
    assert any(current["jid"] in w and "replace_running=false" in w for w in eng.warnings), eng.warnings


def test_same_spec_not_yet_running_is_waited_for(client, script, jar, sha):
    req = request(jar)
    jid = running_id(spec_of(req, sha))
    expect_no_op(script, job(jid, running=0))
    script.on("GET", "/jobs/overview", overview(job(jid)))
    result = engine(client, req).run()
    assert result.job["tasks"]["running"] == 2 and result.action == "none"


def test_two_active_runs_are_refused_naming_both(client, script, jar):
    script.on("GET", "/jobs/overview", overview(job("1" * 32), job("2" * 32, state="RESTARTING")))
    script.on("GET", "/jars", {"files": []})  # neither is a green this collection started
    with pytest.raises(FlinkError) as failed:
        engine(client, request(jar)).run()
    assert "2 jobs match name 'orders'" in str(failed.value) and "1" * 32 in str(failed.value)


# --- fresh start and resume --------------------------------------------------------------

def test_fresh_start_from_empty_state(client, script, jar, sha, uploaded):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview())
    expect_prepared(script, uploaded, spec_of(req, sha))
    jid = expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.action == "started" and result.restored_from is None and result.job_id == jid
    body = script.body_of("/run")
    assert "savepointPath" not in body and body["programArgsList"] == ["--v2"]
    assert body["jobId"] == jid and body["entryClass"] == "org.example.Job"


def test_fresh_start_uploads_a_missing_jar_under_its_content_name(client, script, jar, sha):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", {"files": []})
    script.on("POST", "/jars/upload", {"filename": "/tmp/up/u9_orders-job-sha256-%s.jar" % sha[:16]})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/u9_orders-job-sha256-%s.jar/plan" % sha[:16], {"plan": {}})
    expect_record(script, spec_of(req, sha), "u9_orders-job-sha256-%s.jar" % sha[:16])
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.action == "started"
    first_upload = next(body for call, body in script.sent if call == "POST /jars/upload")
    assert b"orders-job-sha256-%s.jar" % sha[:16].encode() in first_upload


def test_an_upload_whose_program_cannot_be_planned_is_removed_again(client, script, jar, sha):
    req = request(jar)
    jar_id = "u9_orders-job-sha256-%s.jar" % sha[:16]
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", {"files": []})
    script.on("POST", "/jars/upload", {"filename": "/tmp/up/" + jar_id})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/%s/plan" % jar_id, {"errors": ["java.lang.ClassNotFoundException: X"]}, status=500)
    script.on("DELETE", "/jars/%s" % jar_id, {})
    with pytest.raises(FlinkError, match="ClassNotFoundException"):
        engine(client, req).run()
    assert script.calls()[-1] == "DELETE /jars/%s" % jar_id


def test_start_from_savepoint_path(client, script, jar, sha, uploaded):
    req = request(jar, savepoint_path=SP, restore_mode="no_claim", allow_non_restored_state=True)
    script.on("GET", "/jobs/overview", overview())
    expect_prepared(script, uploaded, spec_of(req, sha))
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    body = script.body_of("/run")
    assert result.action == "started" and result.restored_from == SP
    assert body["savepointPath"] == SP and body["claimMode"] == "NO_CLAIM"
    assert body["allowNonRestoredState"] is True


def test_resume_from_the_newest_run_that_ran(client, script, jar, sha, uploaded):
    req = request(jar)
    ended = job("e" * 32, state="FINISHED", running=0, start=5, end=1)
    never_ran = job("d" * 32, state="FAILED", running=0, total=0, start=9, end=1)
    script.on("GET", "/jobs/overview", overview(never_ran, ended))
    expect_prepared(script, uploaded, spec_of(req, sha))
    script.on("GET", "/jobs/%s/checkpoints" % ("e" * 32), checkpoints(
        savepoint={"external_path": SP, "latest_ack_timestamp": 10}))
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.action == "resumed" and result.previous_job_id == "e" * 32
    assert result.restored_from == SP == script.body_of("/run")["savepointPath"]


STOP_TRIGGER = "5" * 32
NEXT_TRIGGER = "6" * 32


def trigger_of(attempt):
    return STOP_TRIGGER if attempt == 0 else NEXT_TRIGGER if attempt == 1 else "7" * 32


def resume_after_a_dead_stop(client, script, jar, sha, uploaded, stop_answer, status=200):
    """A run died between its stop and its submit; the retry shares the stop's trigger id."""
    req = request(jar)
    ended = job("e" * 32, state="FINISHED", running=0, start=5, end=1)
    script.on("GET", "/jobs/overview", overview(ended))
    expect_prepared(script, uploaded, spec_of(req, sha))
    script.on("GET", "/jobs/%s/checkpoints" % ("e" * 32), checkpoints(
        savepoint={"external_path": SP, "latest_ack_timestamp": 10}))
    script.on("GET", "/jobs/%s/savepoints/%s" % ("e" * 32, STOP_TRIGGER), stop_answer,
              status=status)
    if status == 200 and not stop_answer["operation"].get("location"):
        # A failed stop: a later attempt's trigger may hold the savepoint; Flink knows none.
        script.on("GET", "/jobs/%s/savepoints/%s" % ("e" * 32, NEXT_TRIGGER),
                  {"errors": ["Operation not found under key"]}, status=404)
    expect_run(script, spec_of(req, sha))
    run = engine(client, req)
    run.stop_trigger_of = trigger_of
    return run.run()


def test_resume_after_a_dead_stop_takes_the_stops_own_savepoint(client, script, jar, sha, uploaded):
    """/checkpoints may not list the stop's savepoint yet; the stop's status names it."""
    stop_sp = "file:/sp/savepoint-eeeeee-stop"
    result = resume_after_a_dead_stop(client, script, jar, sha, uploaded, savepoint_done(stop_sp))
    assert result.action == "resumed" and result.restored_from == stop_sp
    assert script.body_of("/run")["savepointPath"] == stop_sp


@pytest.mark.parametrize("answer, status", [
    ({"errors": ["Operation not found under key"]}, 404),
    (savepoint_done(failure="java.io.IOException: disk full"), 200),
], ids=["unknown-trigger", "stop-failed"])
def test_resume_after_a_dead_stop_without_its_savepoint_takes_the_newest(
        client, script, jar, sha, uploaded, answer, status):
    result = resume_after_a_dead_stop(client, script, jar, sha, uploaded, answer, status)
    assert result.action == "resumed" and result.restored_from == SP
    assert script.body_of("/run")["savepointPath"] == SP


def test_resume_off_starts_empty(client, script, jar, sha, uploaded):
    req = request(jar, resume=False)
    script.on("GET", "/jobs/overview", overview(job("e" * 32, state="FINISHED", end=1)))
    expect_prepared(script, uploaded, spec_of(req, sha))
    expect_run(script, spec_of(req, sha))
    assert engine(client, req).run().action == "started"


def test_fresh_start_that_fails_is_not_rolled_back(client, script, jar, sha, uploaded):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview())
    expect_prepared(script, uploaded, spec_of(req, sha))
    jid = expect_run(script, spec_of(req, sha), healthy=False)
    script.on("GET", "/jobs/overview", overview(job(jid, state="FAILED", end=3)))
    script.on("GET", "/jobs/%s/exceptions" % jid, {"exceptionHistory": {"entries": [
        {"stacktrace": "java.lang.RuntimeException: boom\nCaused by: java.lang.IllegalStateException: bad"}]}})
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert "went FAILED instead of running" in str(failed.value)
    assert "IllegalStateException: bad" in str(failed.value)


# --- upgrades -----------------------------------------------------------------------------

def upgrade_setup(script, jar, sha, uploaded, **changes):
    """A running job of the old (recorded) spec, and a request for a new one."""
    req = request(jar, **changes)
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=old_record_jars())
    return req, current


def test_upgrade_by_savepoint_stops_atomically_and_starts_from_that_savepoint(
        client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, savepoint_dir=None, drain=False)
    script.on("GET", "/jobmanager/config", [{"key": "state.savepoints.dir", "value": "file:/c"}])
    expect_stop(script, job_id=current["jid"])
    jid = expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert (result.action, result.previous_job_id, result.job_id) == (
        "upgraded", current["jid"], jid)
    assert result.savepoint == SP == result.restored_from == script.body_of("/run")["savepointPath"]
    assert script.body_of("/stop") == {"drain": False, "formatType": "CANONICAL",
                                       "targetDirectory": "file:/c"}
    assert result.diff["before"]["args"] == ["--v1"] and result.diff["after"]["args"] == ["--v2"]
    assert "jar_id" not in result.diff["before"]


def upgrade_stopping_with(client, script, jar, sha, uploaded, probes, trigger):
    """An upgrade whose stop first asks Flink about the shared trigger ids (``probes``: the
    answer per id, in order), then stops with ``trigger``; returns the result."""
    req, current = upgrade_setup(script, jar, sha, uploaded, savepoint_dir="file:/c")
    status = "/jobs/%s/savepoints/%%s" % current["jid"]
    for probed, (answer, code) in probes:
        script.on("GET", status % probed, answer, status=code)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": trigger},
              check=lambda body: body["triggerId"] == trigger)
    script.on("GET", status % trigger, savepoint_done(SP))
    expect_run(script, spec_of(req, sha))
    run = engine(client, req)
    run.stop_trigger_of = trigger_of
    return run.run()


def test_a_stop_after_a_failed_stop_takes_the_next_trigger(client, script, jar, sha, uploaded):
    """An earlier run's stop failed (the job ran on); Flink still reports that failure
    under its trigger id, so repeating that id would only replay it."""
    failed = savepoint_done(failure="CheckpointException: Checkpoint Coordinator is suspending.")
    result = upgrade_stopping_with(client, script, jar, sha, uploaded, [
        (STOP_TRIGGER, (failed, 200)),
        (NEXT_TRIGGER, ({"errors": ["Operation not found under key"]}, 404))], NEXT_TRIGGER)
    assert result.action == "upgraded" and result.restored_from == SP


def test_a_stop_shares_a_trigger_in_progress(client, script, jar, sha, uploaded):
    """Another run's stop of the same job for the same successor is under way: join it."""
    result = upgrade_stopping_with(client, script, jar, sha, uploaded,
                                   [(STOP_TRIGGER, (IN_PROGRESS, 200))], STOP_TRIGGER)
    assert result.restored_from == SP


STOPPING_FAILED = (
    "java.util.concurrent.CompletionException: org.apache.flink.runtime.scheduler.stopwithsavepoint."
    "StopWithSavepointStoppingException: A savepoint has been created at: file:/c/savepoint-written, "
    "but the corresponding job %s failed during stopping. The savepoint is consistent, but might "
    "have uncommitted transactions. If you want to commit the transaction please restart a job "
    "from this savepoint.\nCaused by: java.lang.Exception: TaskManager lost")


def stop_failing_after_its_savepoint(script, current, then):
    """A TaskManager lost after the stop's savepoint was written (real Flink 2.3, fault suite);
    ``then``: the job's state as Flink reports it next."""
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"],
              savepoint_done(failure=STOPPING_FAILED % current["jid"]))
    script.on("GET", "/jobs/overview", overview(dict(current, state="RESTARTING")))
    script.on("GET", "/jobs/overview", overview(dict(current, state=then)))


def test_a_stop_that_wrote_its_savepoint_before_the_job_failed_carries_on_from_it(
        client, script, jar, sha, uploaded):
    """Flink ended the job (FAILED) right after its savepoint: that savepoint is its final state."""
    req, current = upgrade_setup(script, jar, sha, uploaded)
    stop_failing_after_its_savepoint(script, current, "FAILED")
    jid = expect_run(script, spec_of(req, sha))
    run = engine(client, req)
    result = run.run()
    assert (result.action, result.job_id) == ("upgraded", jid)
    assert result.savepoint == result.restored_from == "file:/c/savepoint-written"
    assert script.body_of("/run")["savepointPath"] == "file:/c/savepoint-written"
    assert run.result.warnings == [
        "the stop of job %s wrote its savepoint file:/c/savepoint-written, then a task failed before "
        "the job finished and Flink ended the job: that savepoint holds its final state" % current["jid"]]


def test_a_stop_that_failed_after_its_savepoint_leaves_a_job_flink_restarted(
        client, script, jar, sha, uploaded):
    """Flink failed the job over instead: it runs on from its latest checkpoint, so the
    savepoint is not where its state ends; starting from it would process records twice."""
    req, current = upgrade_setup(script, jar, sha, uploaded)
    stop_failing_after_its_savepoint(script, current, "RUNNING")
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "the savepoint of job %s failed; the savepoint was written, but the job failed while " \
           "stopping and Flink restarted it" % current["jid"] in msg and "nothing was started" in msg
    assert not any("/run" in call for call in script.calls())


def test_a_stop_that_failed_after_its_savepoint_and_showed_no_outcome_says_so(
        client, script, jar, sha, uploaded, clock):
    """The job neither ended nor ran again within wait_timeout: nothing is started, and the
    message names the written savepoint without claiming Flink restarted the job."""
    req, current = upgrade_setup(script, jar, sha, uploaded, wait_timeout=0.3)
    stop_failing_after_its_savepoint(script, current, "RESTARTING")  # polls at 0 and 0.2 s
    script.on("GET", "/jobs/overview", overview(dict(current, state="RESTARTING")))  # at 0.4 s
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "the savepoint file:/c/savepoint-written was written, but the job failed while stopping " \
           "and within 0.3s it neither ended nor ran again (last seen RESTARTING); nothing was " \
           "started" in msg, msg
    assert "Flink restarted it" not in msg
    assert not any("/run" in call for call in script.calls())


def test_upgrade_without_a_savepoint_directory_stops_nothing(client, script, jar, sha, uploaded):
    req, _current = upgrade_setup(script, jar, sha, uploaded, savepoint_dir=None)
    script.on("GET", "/jobmanager/config", [])
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert "no savepoint directory" in str(failed.value) and "left running" in str(failed.value)


def test_failed_savepoint_leaves_the_old_job_and_starts_nothing(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"],
              savepoint_done(failure="java.io.IOException: disk full"))
    script.on("GET", "/jobs/overview", overview(current))
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "the savepoint of job %s failed; the job was left as it is" % current["jid"] in msg
    assert "GET http://flink.test:8081/jobs/%s/savepoints/t1 answered HTTP 200" % current["jid"] in msg
    assert not any("/run" in call for call in script.calls())


def test_a_failed_stop_savepoint_of_a_job_that_ended_says_so(client, script, jar, sha, uploaded):
    """Issue 30: "the job was left as it is" was said of a job the stop had ended (FINISHED)."""
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"],
              savepoint_done(failure="java.io.IOException: disk full"))
    script.on("GET", "/jobs/overview", overview(job(current["jid"], state="FINISHED", end=2)))
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "left as it is" not in msg
    assert "the savepoint of job %s failed; the job has ended all the same (FINISHED); nothing " \
           "was started: run the task again" % current["jid"] in msg
    assert not any("/run" in call for call in script.calls())


def test_lost_savepoint_status_says_the_stop_outcome_is_unknown(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    for _round in range(2):  # the read is retried once, then given up
        script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], {"errors": []}, status=503)
    for _round in range(2):  # ... and the job cannot be asked either
        script.on("GET", "/jobs/overview", {"errors": []}, status=503)
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert failed.value.stage == "stop" and failed.value.outcome == "stop-unknown"
    assert "HTTP 503" in msg and "outcome is unknown" in msg and "Run the task again" in msg
    assert "(trigger t1)" in msg and "left as it is" not in msg


def test_savepoint_timeout_says_the_stop_outcome_is_unknown(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, savepoint_timeout=0.03)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    for _round in range(3):
        script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], IN_PROGRESS)
    for _round in range(2):
        script.on("GET", "/jobs/overview", {"errors": []}, status=503)
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "did not complete within 0.03s (trigger t1)" in msg and "outcome is unknown" in msg
    assert "left as it is" not in msg


def test_a_stop_whose_status_is_lost_is_settled_from_the_job_itself(
        client, script, jar, sha, uploaded, monkeypatch):
    """Under JobManager overload the stop's status read failed, but the job ended FINISHED
    with a savepoint completed after the stop was requested: that is the stop's savepoint."""
    monkeypatch.setattr(_engine.time, "time", lambda: 100.0)  # the stop requested at 100 000 ms
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    for _round in range(2):
        script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], {"errors": []}, status=503)
    finished = dict(current, state="FINISHED", **{"end-time": 1})
    script.on("GET", "/jobs/overview", overview(finished))
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(
        savepoint={"external_path": SP, "latest_ack_timestamp": 100500}))
    expect_run(script, spec_of(req, sha))
    eng = engine(client, req)
    result = eng.run()
    assert result.action == "upgraded" and result.savepoint == SP
    assert script.body_of("/run")["savepointPath"] == SP
    assert any("could not be read" in w and SP in w for w in eng.result.warnings)


def test_a_savepoint_older_than_the_stop_never_settles_it(client, script, jar, sha, uploaded, monkeypatch):
    monkeypatch.setattr(_engine.time, "time", lambda: 100.0)
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    for _round in range(2):
        script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], {"errors": []}, status=503)
    script.on("GET", "/jobs/overview", overview(dict(current, state="FINISHED", **{"end-time": 1})))
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(
        savepoint={"external_path": SP, "latest_ack_timestamp": 99000}))
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    assert failed.value.outcome == "stop-unknown"
    assert not any(call.endswith("/run") for call in script.calls())


def test_a_jobmanager_lost_after_the_stop_names_the_savepoint_and_what_a_rerun_does(
        client, script, jar, sha, uploaded):
    """The JobManager died under the submit: no answer, and the check whether the job exists
    cannot be made either. Not a bare 'cannot reach Flink': the stop's savepoint is named."""
    req, current = upgrade_setup(script, jar, sha, uploaded)
    expect_stop(script, job_id=current["jid"])
    lost = requests.exceptions.ConnectionError("Connection refused")
    script.on("POST", "/jars/.*/run", lost)
    for _round in range(4):  # does the job exist? (twice), is it active before a rollback? (twice)
        script.on("GET", "/jobs/overview", lost)
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert failed.value.outcome == "interrupted-after-stop"
    assert "This run had stopped job %s with the savepoint %s" % (current["jid"], SP) in msg
    assert "nothing was rolled back" in msg and "goes on from that savepoint" in msg
    # The records are in the upload directory (no store): a JobManager that restarts empty
    # before the re-run forgets the savepoint, and only this message still names it.
    assert "the re-run cannot know this savepoint: then deploy with savepoint_path set to %s" % SP in msg


def test_with_durable_records_a_lost_run_does_not_warn_of_a_forgotten_savepoint():
    failure = DeployFailure("start", FlinkError("cannot reach Flink"), "interrupted-after-stop",
                            state_at=SP, previous_job_id=OLD_ID, job_id=None, records_durable=True)
    assert str(failure).endswith("when one does, it names it") and "savepoint_path" not in str(failure)


def test_drain_and_native_format_reach_the_stop(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, drain=True,
                                 savepoint_format="native")
    expect_stop(script, job_id=current["jid"])
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert script.body_of("/stop") == {"drain": True, "formatType": "NATIVE",
                                       "targetDirectory": "file:/sp"}
    assert result.action == "upgraded"


def expect_upgrade_of_the_old_spec(script, req, sha, uploaded, more_records):
    """An upgrade of the job running OLD_SPEC, ``more_records`` beside the old spec's in the store."""
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=old_record_jars() + more_records)
    expect_stop(script, job_id=current["jid"])
    expect_run(script, spec_of(req, sha))


def test_upgrade_prunes_spec_records_no_listed_run_needs(client, script, jar, sha, uploaded):
    gone = JobSpec("orders", "sha256:" + "7" * 16, "org.example.Gone")
    stale = [{"id": "s%d_%s" % (i, n), "name": n, "uploaded": 1}
             for i, n in enumerate(spec_record_names(gone, "u7.jar"))]
    req = request(jar)
    expect_upgrade_of_the_old_spec(script, req, sha, uploaded, stale)
    for entry in stale:
        script.on("DELETE", "/jars/%s" % entry["id"], {})
    changes = Changes()
    Engine(client, req, changes, hooks=[], new_lease=Unleased).run()
    assert any("old spec record" in action for action in changes.actions)


def test_upgrade_keeps_the_spec_records_of_the_newest_versions(client, script, jar, sha, uploaded):
    """Issue 25: a spec the log says was applied (a version) keeps its record although Flink
    lists no run of it, so it can be returned to by number; an older one's is pruned."""
    versions = [JobSpec("orders", "sha256:" + "%016d" % n, "org.example.V%d" % n) for n in range(VERSIONS_KEPT + 1)]
    entries = [n for spec in versions for n in spec_record_names(spec, "u.jar")]
    for number, spec in enumerate(versions):
        entries += operation_names("orders", {"time": number, "action": "upgraded", "fingerprint": spec.fingerprint},
                                   now_ms=1_000_000 + number)
    records = [{"id": "s%d_%s" % (i, n), "name": n, "uploaded": 1} for i, n in enumerate(entries)]
    oldest = set(spec_record_names(versions[0], "u.jar"))
    req = request(jar)
    expect_upgrade_of_the_old_spec(script, req, sha, uploaded, records)
    for entry in records:
        if entry["name"] in oldest:
            script.on("DELETE", "/jars/%s" % entry["id"], {})
    Engine(client, req, Changes(), hooks=[], new_lease=Unleased).run()
    deleted = [call for call in script.calls() if call.startswith("DELETE")]
    assert len(deleted) == len(oldest), deleted


RETAINED = {"externalization": {"enabled": True, "delete_on_cancellation": False}}


def expect_last_state_cancel(script, jid, chk, after_end=None):
    """last-state's steps up to the read of the last checkpoint: the checks before the stop, a
    checkpoint triggered, /checkpoints polled until its cache entry was refilled (the counts
    changed), the cancel, the end, then the answer read once that entry expired."""
    path = "/jobs/%s/checkpoints" % jid
    script.on("GET", path, checkpoints(completed=chk))
    script.on("GET", path + "/config", RETAINED)
    script.on("POST", path, {"request-id": "c1"})
    for total in (7, 7, 8):
        script.on("GET", path, checkpoints(completed=chk, counts={"total": total}))
    script.on("PATCH", "/jobs/%s" % jid, {})
    script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELLING")))
    script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELED", end=1)))
    script.on("GET", path, after_end if after_end is not None else checkpoints(completed=chk))


def test_last_state_cancels_and_starts_from_the_retained_checkpoint(
        client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    jid = current["jid"]
    chk = {"external_path": "file:/chk/%s/chk-7" % jid, "latest_ack_timestamp": 70, "id": 7}
    expect_last_state_cancel(script, jid, chk)
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.restored_from == chk["external_path"] == script.body_of("/run")["savepointPath"]
    assert result.savepoint is None and result.action == "upgraded"


@pytest.mark.parametrize("chk, config, expected", [
    (None, None, "needs a completed checkpoint"),
    ({"external_path": "file:/c/1"}, {"externalization": {"enabled": True,
                                                          "delete_on_cancellation": True}},
     "RETAIN_ON_CANCELLATION"),
])
def test_last_state_is_refused_before_anything_stops(client, script, jar, sha, uploaded, chk,
                                                     config, expected):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(completed=chk))
    if config:
        script.on("GET", "/jobs/%s/checkpoints/config" % current["jid"], config)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert expected in str(failed.value) and "left running" in str(failed.value)


def test_last_state_without_a_retained_checkpoint_after_the_cancel(client, script, jar, sha,
                                                                   uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    expect_last_state_cancel(script, current["jid"], {"external_path": "x"},
                             after_end=checkpoints())
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert "no retained checkpoint; nothing was started" in str(failed.value)


FAILING = {"exceptionHistory": {"entries": [{"timestamp": stamp, "exceptionName": "java.lang.RuntimeException",
                                             "stacktrace": "RuntimeException: poison record"}
                                            for stamp in (9, 5)]}}
RETAINED = {"externalization": {"enabled": True, "delete_on_cancellation": False}}


def crash_loop_setup(script, jar, sha, uploaded):
    """A job of the old spec that restarts over and over, and a request for a fixed version."""
    req = request(jar)
    current = job(running_id(OLD_SPEC), state="RESTARTING")
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=old_record_jars())
    script.on("GET", "/jobs/%s/exceptions" % current["jid"], FAILING)
    return req, current


def test_a_crash_looping_job_is_replaced_from_its_latest_retained_checkpoint(
        client, script, jar, sha, uploaded):
    """Issue 30: no savepoint is possible; the fixed version carries the checkpoint over."""
    req, current = crash_loop_setup(script, jar, sha, uploaded)
    jid = current["jid"]
    chk = {"external_path": "file:/chk/%s/chk-9" % jid, "latest_ack_timestamp": 90, "id": 9}
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(completed=chk))
    script.on("GET", "/jobs/%s/checkpoints/config" % jid, RETAINED)
    script.on("PATCH", "/jobs/%s" % jid, {})
    script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELED", end=1)))
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(completed=chk))
    script.on("GET", "/jobs/%s/checkpoints/config" % jid, RETAINED)
    expect_run(script, spec_of(req, sha))
    eng = engine(client, req)
    result = eng.run()
    assert result.action == "upgraded" and result.savepoint is None
    assert result.restored_from == chk["external_path"] == script.body_of("/run")["savepointPath"]
    assert not any(c.endswith("/stop") for c in script.calls())
    assert any("crash-looping" in w and chk["external_path"] in w for w in eng.warnings), eng.warnings


def test_a_crash_looping_job_that_never_checkpointed_is_replaced_from_what_it_started_from(
        client, script, jar, sha, uploaded):
    req, current = crash_loop_setup(script, jar, sha, uploaded)
    jid = current["jid"]
    started_from = {"external_path": "file:/sp/savepoint-0a0a0a-1", "is_savepoint": True}
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(restored=started_from))
    script.on("PATCH", "/jobs/%s" % jid, {})
    script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELED", end=1)))
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.restored_from == started_from["external_path"] == script.body_of("/run")["savepointPath"]


@pytest.mark.parametrize("chk, config, expected", [
    (None, None, "no completed checkpoint (nor a savepoint it was started from)"),
    ({"external_path": "file:/c/1"}, {"externalization": {"enabled": True, "delete_on_cancellation": True}},
     "RETAIN_ON_CANCELLATION"),
])
def test_a_crash_looping_job_without_state_to_carry_is_refused_before_the_cancel(
        client, script, jar, sha, uploaded, chk, config, expected):
    req, current = crash_loop_setup(script, jar, sha, uploaded)
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(completed=chk))
    if config:
        script.on("GET", "/jobs/%s/checkpoints/config" % current["jid"], config)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert expected in str(failed.value) and "crash-looping" in str(failed.value)
    assert "left as it is" in str(failed.value) and "upgrade_mode=stateless" in str(failed.value)
    assert not any(c.startswith("PATCH") or c.endswith("/stop") for c in script.calls())


def test_a_job_restarting_once_is_stopped_with_a_savepoint_not_cancelled(client, script, jar, sha, uploaded):
    """One failover (a TaskManager lost) is not a crash loop: the stop with a savepoint is tried."""
    req = request(jar)
    current = job(running_id(OLD_SPEC), state="RESTARTING")
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=old_record_jars())
    once = {"exceptionHistory": {"entries": FAILING["exceptionHistory"]["entries"][:1]}}
    script.on("GET", "/jobs/%s/exceptions" % current["jid"], once)
    expect_stop(script, job_id=current["jid"])
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.restored_from == result.savepoint == SP


def test_stateless_cancels_and_starts_empty(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="stateless")
    script.on("PATCH", "/jobs/%s" % current["jid"], {})
    script.on("GET", "/jobs/overview", overview(job(current["jid"], state="CANCELED", end=1)))
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.restored_from is None and "savepointPath" not in script.body_of("/run")


def test_main_that_throws_fails_at_the_plan_before_anything_stops(client, script, jar, uploaded):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview(job(running_id(OLD_SPEC))))
    script.on("GET", "/jars", {"files": [uploaded]})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/.*/plan", {"errors": ["org.apache.flink.client.program."
                                                   "ProgramInvocationException: main failed"]},
              status=500)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert "POST http://flink.test:8081/jars/" in str(failed.value)
    assert "main failed" in str(failed.value)


# --- rollback ------------------------------------------------------------------------------

def expect_failing_start(script, spec):
    jid = expect_run(script, spec, healthy=False)
    script.on("GET", "/jobs/overview", overview(job(jid, state="RESTARTING")))
    failed = {"root-exception": "java.lang.Exception: fail-on-start variant fails on purpose"}
    script.on("GET", "/jobs/%s/exceptions" % jid, failed)  # not a wait for slots
    script.on("GET", "/jobs/%s/exceptions" % jid, failed)  # its root cause
    return jid


def test_failed_new_version_is_rolled_back_to_the_recorded_spec(
        client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    expect_stop(script, job_id=current["jid"])
    failed_id = expect_failing_start(script, spec_of(req, sha))
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="RESTARTING")))
    script.on("PATCH", "/jobs/%s" % failed_id, {})
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="CANCELED", end=1)))
    back_id = expect_run(script, OLD_SPEC)
    eng = engine(client, req)
    with pytest.raises(DeployFailure) as failed:
        eng.run()
    msg = str(failed.value)
    assert failed.value.outcome == "rolled-back" and eng.result.rolled_back
    assert "the new version (job %s) failed and was rolled back: the previous version runs " \
           "again as job %s, restored from %s" % (failed_id, back_id, SP) in msg
    assert "fail-on-start variant fails on purpose" in msg
    body = script.body_of("/run")
    assert body["jobId"] == back_id and body["savepointPath"] == SP
    assert body["programArgsList"] == ["--v1"] and body["allowNonRestoredState"] is False
    assert eng.result.to_dict()["failed_job_id"] == failed_id
    assert any(a.startswith("roll back: start the previous spec") for a in eng.changes.actions)


def test_rollback_off_says_where_the_state_is(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, rollback=False)
    expect_stop(script, job_id=current["jid"])
    expect_failing_start(script, spec_of(req, sha))
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "the previous job %s is stopped (its state is in %s); not rolled back: rollback is " \
           "off" % (current["jid"], SP) in msg


def test_no_rollback_for_a_job_of_unknown_spec(client, script, jar, sha, uploaded):
    req = request(jar)
    current = job("c" * 32)  # started by another tool: no record
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha))
    expect_stop(script, job_id=current["jid"])
    failed_id = expect_failing_start(script, spec_of(req, sha))
    # Issue 30: not left restarting over and over (a crash loop); the state stays in the savepoint.
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="RESTARTING")))
    script.on("PATCH", "/jobs/%s" % failed_id, {})
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="CANCELED", end=1)))
    eng = engine(client, req)
    with pytest.raises(DeployFailure) as failed:
        eng.run()
    msg = str(failed.value)
    assert "not started by flinkops.flink, so its spec is unknown; the new job %s was cancelled" % \
        failed_id in msg
    assert "its state is in %s" % SP in msg
    # Said before the stop too.
    assert any("the running spec cannot be started again" in w for w in eng.result.warnings)


def test_a_rollback_a_rotated_secret_would_make_impossible_is_refused_before_the_stop(
        client, script, jar, sha, uploaded):
    """Issue 30: the recorded spec keeps only a hash of a secret argument; with the secret
    changed together with the version, the running spec could not be started again."""
    old = JobSpec("orders", "sha256:" + "0" * 16, "org.example.Job", ["--db-password", "s3cr3t-old"])
    req = request(jar, args=["--db-password", "s3cr3t-new"], secret_args=["--db-password"])
    current = job(running_id(old))
    script.on("GET", "/jobs/overview", overview(current))
    records = [{"id": "u0_old.jar", "name": "old.jar", "uploaded": 1}] + [
        {"id": "r%d_%s" % (i, name), "name": name, "uploaded": 1}
        for i, name in enumerate(spec_record_names(old, "u0_old.jar"))]
    script.on("GET", "/jars", {"files": [uploaded] + records})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/%s/plan" % uploaded["id"], {"plan": {"nodes": []}})
    with pytest.raises(FlinkError) as refused:
        engine(client, req).run()
    msg = str(refused.value)
    assert "job %s (orders) could not be started again if the new version failed" % current["jid"] in msg
    assert "secret values that differ" in msg and "rollback=false" in msg and "nothing was changed" in msg
    assert "s3cr3t" not in msg
    # Nothing but reads (and the plan, which changes nothing) was sent.
    assert not [call for call in script.calls() if not call.startswith("GET") and not call.endswith("/plan")]


def test_failed_rollback_says_both_failures(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    expect_stop(script, job_id=current["jid"])
    failed_id = expect_failing_start(script, spec_of(req, sha))
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="FAILED", end=2)))
    script.on("POST", "/jars/.*/run", {"errors": ["java.io.FileNotFoundException: Cannot find "
                                                  "checkpoint or savepoint"]}, status=400)
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="FAILED", end=2)))
    eng = engine(client, req)
    with pytest.raises(DeployFailure) as failed:
        eng.run()
    msg = str(failed.value)
    assert "failed too, so nothing runs now" in msg
    assert failed.value.stage == "rollback" and not eng.result.rolled_back
    assert "starting the previous version again from %s failed too" % SP in msg
    assert "fails on purpose" in msg and "Cannot find checkpoint or savepoint" in msg
    assert failed.value.status == 400


# --- the exactly-once submit ----------------------------------------------------------------

LOST = requests.exceptions.ConnectionError("Connection reset by peer")


def fresh(script, jar, sha, uploaded, **changes):
    req = request(jar, **changes)
    script.on("GET", "/jobs/overview", overview())
    expect_prepared(script, uploaded, spec_of(req, sha))
    return req, new_id(spec_of(req, sha))


def test_lost_answer_but_the_job_exists_is_not_sent_again(client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", LOST)
    script.on("GET", "/jobs/overview", overview(job(jid)))
    expect_healthy(script, jid, polls=1)
    assert engine(client, req).run().job_id == jid
    assert [c for c in script.calls() if c.endswith("/run")] == ["POST /jars/%s/run" % uploaded["id"]]


def test_lost_answer_and_no_job_is_sent_again_with_the_same_id(client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", LOST)
    script.on("GET", "/jobs/overview", overview())
    script.on("POST", "/jars/.*/run", {"jobid": jid}, check=lambda b: b["jobId"] == jid or 1 / 0)
    expect_healthy(script, jid, polls=1)
    assert engine(client, req).run().job_id == jid


@pytest.mark.parametrize("status", [500, 400])  # 400: seen on 2.3 with two runs of one JAR
def test_a_run_failed_by_a_jar_another_request_closed_is_sent_again_once_no_job_has_the_id(
        client, script, jar, sha, uploaded, status):
    req, jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", {"errors": ["java.util.zip.ZipException: ZipFile closed"]},
              status=status)
    script.on("GET", "/jobs/overview", overview())
    script.on("POST", "/jars/.*/run", {"jobid": jid}, check=lambda b: b["jobId"] == jid or 1 / 0)
    expect_healthy(script, jid, polls=1)
    assert engine(client, req).run().job_id == jid


@pytest.mark.parametrize("duplicate", ["DuplicateJobSubmissionException",
                                       "DuplicateApplicationSubmissionException"])
def test_repeat_rejected_as_duplicate_means_the_first_one_started(client, script, jar, sha,
                                                                  uploaded, duplicate):
    req, jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", LOST)
    script.on("GET", "/jobs/overview", overview())
    script.on("POST", "/jars/.*/run", {"errors": ["org.apache.flink.runtime.client.%s: Job has "
                                                  "already been submitted." % duplicate]},
              status=400)
    expect_healthy(script, jid, polls=1)
    assert engine(client, req).run().job_id == jid


def test_repeat_that_fails_says_the_first_attempt_was_lost(client, script, jar, sha, uploaded):
    req, _jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", LOST)
    script.on("GET", "/jobs/overview", overview())
    script.on("POST", "/jars/.*/run", {"errors": ["java.lang.ClassNotFoundException: X"]},
              status=500)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "after a first attempt was lost" in msg and "Connection reset by peer" in msg
    assert "HTTP 500" in msg and "ClassNotFoundException: X" in msg


def test_rejected_submission_is_not_repeated(client, script, jar, sha, uploaded):
    req, _jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", {"errors": ["java.lang.ClassNotFoundException: X"]},
              status=500)
    with pytest.raises(FlinkError):
        engine(client, req).run()


# --- the health window -----------------------------------------------------------------------

def test_health_window_with_a_checkpoint_passes(client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded, health_window=0.3,
                     health_require_checkpoint=True)
    expect_run(script, spec_of(req, sha))
    # health_require_checkpoint triggers a checkpoint (_health.prove_checkpoint).
    script.on("GET", "/jobs/%s/checkpoints/config" % jid, {"interval": 600000})
    script.on("POST", "/jobs/%s/checkpoints" % jid, {"request-id": "t"},
              check=lambda body: set(body) == {"triggerId"})
    script.on("GET", "/jobs/%s/checkpoints/[0-9a-f]{32}" % jid,
              {"status": {"id": "COMPLETED"}, "operation": {"checkpointId": 4}})
    for _poll in range(2):  # at the start and at the end of the 0.3 s window
        script.on("GET", "/jobs/overview", overview(job(jid)))
    script.on("GET", "/jobs/%s/exceptions" % jid, {"exceptionHistory": {"entries": []}})
    result = engine(client, req).run()
    assert result.health["window"] == 0.3 and result.health["checkpoint"]["checkpoint_id"] == 4
    assert result.health["checkpoint"]["trigger_id"] == script.body_of("/checkpoints$")["triggerId"]


@pytest.mark.parametrize("trouble, expected", [
    ("restart", "restarted during the health window"),
    ("no-checkpoint", "has checkpointing off"),
    ("unhealthy", "is not healthy: state RESTARTING"),
])
def test_health_window_failures_fail_the_start(client, script, jar, sha, uploaded, trouble,
                                               expected):
    req, jid = fresh(script, jar, sha, uploaded, health_window=0.1,
                     health_require_checkpoint=trouble == "no-checkpoint")
    expect_run(script, spec_of(req, sha))
    if trouble == "no-checkpoint":
        script.on("GET", "/jobs/%s/checkpoints/config" % jid, {"interval": 2 ** 63 - 1})
    elif trouble == "unhealthy":
        script.on("GET", "/jobs/overview", overview(job(jid, state="RESTARTING")))
        script.on("GET", "/jobs/%s/exceptions" % jid, {"exceptionHistory": {"entries": []}})
    else:
        for _round in range(2):
            script.on("GET", "/jobs/overview", overview(job(jid)))
        if trouble == "restart":
            history = {"exceptionHistory": {"entries": [{"exceptionName": "java.io.IOException"}]}}
            script.on("GET", "/jobs/%s/exceptions" % jid, history)
            script.on("GET", "/jobs/%s/exceptions" % jid, history)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert expected in str(failed.value)


def test_no_wait_submits_and_returns(client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded, wait=False)
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    result = engine(client, req).run()
    assert result.job_id == jid and result.job is None


def test_wait_timeout_names_the_state_and_last_failure(client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded, wait_timeout=0.05)
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    for _round in range(3):  # two polls, then the look at what it is doing
        script.on("GET", "/jobs/overview", overview(job(jid, running=0)))
    script.on("GET", "/jobs/%s/exceptions" % jid, {})
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "timed out after 0.05s waiting for every task of job %s to run" % jid in msg
    assert "state RUNNING" in msg


# --- check mode ---------------------------------------------------------------------------------

def test_check_mode_upgrade_reads_and_plans_only_and_reports_planned_values(
        client, script, jar, sha, uploaded):
    req = request(jar)
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": [uploaded] + old_record_jars()})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/.*/plan", {"plan": {}})
    eng = engine(client, req, check_mode=True)
    result = eng.run()
    assert eng.changes.changed
    assert result.to_dict()["savepoint"] is None and result.to_dict()["restored_from"] is None
    assert result.job_id is None and result.action == "upgraded"
    assert eng.changes.actions[-1] == "start job orders (%s) from the savepoint that stops job " \
        "%s" % (spec_of(req, sha).fingerprint, current["jid"])
    assert not any("<" in action for action in eng.changes.actions)


def test_check_mode_with_a_jar_to_upload_does_not_plan(client, script, jar, sha):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", {"files": []})
    script.on("GET", "/config", CONFIG)  # the run body is built, never sent
    eng = engine(client, req, check_mode=True)
    result = eng.run()
    assert result.action == "started" and result.job_id is None
    assert eng.changes.actions[0].startswith("upload %s as orders-job-sha256-" % jar)


def test_check_mode_last_state_plans_the_retained_checkpoint(client, script, jar, sha, uploaded):
    req = request(jar, upgrade_mode="last-state")
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": [uploaded]})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/.*/plan", {"plan": {}})
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints(completed={"id": 1}))
    script.on("GET", "/jobs/%s/checkpoints/config" % current["jid"],
              {"externalization": {"enabled": True}})
    eng = engine(client, req, check_mode=True)
    eng.run()
    assert eng.changes.actions[-1].endswith("from the last retained checkpoint of job %s"
                                            % current["jid"])


# --- state: stopped -------------------------------------------------------------------------------

def test_stop_with_a_savepoint(client, script, jar):
    req = request(jar, state="stopped")
    script.on("GET", "/jobs/overview", overview(job(OLD_ID)))
    expect_stop(script)
    script.on("GET", "/jars", {"files": []})
    result = engine(client, req).run()
    assert (result.action, result.savepoint, result.previous_job_id) == ("stopped", SP, OLD_ID)
    assert result.diff == {"before": {"running": True, "job_id": OLD_ID},
                           "after": {"running": False}}


def test_stop_mode_drain_drains(client, script, jar):
    req = request(jar, state="stopped", stop_mode="drain")
    script.on("GET", "/jobs/overview", overview(job(OLD_ID)))
    expect_stop(script)
    script.on("GET", "/jars", {"files": []})
    engine(client, req).run()
    assert script.body_of("/stop")["drain"] is True


def test_stop_mode_cancel(client, script, jar):
    req = request(jar, state="stopped", stop_mode="cancel")
    script.on("GET", "/jobs/overview", overview(job(OLD_ID)))
    script.on("PATCH", "/jobs/%s" % OLD_ID, {})
    script.on("GET", "/jobs/overview", overview(job(OLD_ID, state="CANCELED", end=1)))
    script.on("GET", "/jars", {"files": []})
    assert engine(client, req).run().action == "cancelled"


def test_a_stop_prunes_the_records_of_specs_no_listed_run_needs(client, script, jar):
    """Issue 14: the records of a job that is stopped for good must not pile up."""
    req = request(jar, state="stopped")
    stopped = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(stopped))
    expect_stop(script, job_id=stopped["jid"])
    older = JobSpec("orders", "sha256:" + "9" * 64, "org.example.Job", ["--v0"], 1, {})
    older_records = [{"id": "o%d_%s" % (i, name), "name": name, "uploaded": 1}
                     for i, name in enumerate(spec_record_names(older, "u0_old.jar"))]
    script.on("GET", "/jars", {"files": old_record_jars() + older_records})
    for record in older_records:
        script.on("DELETE", "/jars/%s" % record["id"], {})
    assert engine(client, req).run().action == "stopped"
    deleted = [call for call in script.calls() if call.startswith("DELETE")]
    assert deleted == ["DELETE /jars/%s" % record["id"] for record in older_records]


def test_stopped_when_nothing_runs_changes_nothing(client, script, jar):
    req = request(jar, state="stopped")
    script.on("GET", "/jobs/overview", overview(job(OLD_ID, state="FINISHED", end=1)))
    eng = engine(client, req)
    assert eng.run().action == "none" and not eng.changes.changed


# --- hooks and the lease --------------------------------------------------------------------------

class Recorder(Hooks, Unleased):
    """A hook and a lease at once: it records each call, in order."""

    def __init__(self, refuse=None):
        self.calls = []
        self.refuse = refuse

    def pre_check(self, run, current, spec, jar_id):
        self.calls.append("pre_check")
        if self.refuse:
            raise FlinkError(self.refuse)

    def acquire(self, run, current, spec):
        self.calls.append("acquire")

    def next_job_id(self, run, spec):
        self.calls.append("next_job_id")
        return spec.fingerprint + "8" * 16

    def submit(self, run, jar_id, body):
        self.calls.append("submit")
        return super().submit(run, jar_id, body)

    def check_started(self, run, job_id, spec):
        self.calls.append("check_started %s" % job_id[16:])

    def confirm(self, run):
        self.calls.append("confirm")

    def allow_rollback(self, run, failed_job_id, previous):
        self.calls.append("allow_rollback")

    def release(self, run, failure):
        self.calls.append("release %s" % (failure is not None))

    def after_change(self, run, failure):
        self.calls.append("after_change %s" % (failure is not None))


def recorded(client, req, recorder):
    return engine(client, req, hooks=[recorder], lease=lambda: recorder)


def test_the_lease_and_hooks_are_called_at_their_steps_in_order(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    expect_stop(script, job_id=current["jid"])
    jid = spec_of(req, sha).fingerprint + "8" * 16
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    expect_healthy(script, jid, polls=1)
    recorder = Recorder()
    result = recorded(client, req, recorder).run()
    assert result.job_id == jid
    assert recorder.calls == ["pre_check", "acquire", "next_job_id", "submit",
                              "check_started " + "8" * 16, "confirm",
                              "release False", "after_change False"]


def test_a_pre_check_refusal_stops_nothing_and_records_nothing(client, script, jar, uploaded):
    req = request(jar)
    script.on("GET", "/jobs/overview", overview(job(running_id(OLD_SPEC))))
    script.on("GET", "/jars", {"files": [uploaded]})
    script.on("GET", "/config", CONFIG)
    script.on("POST", "/jars/.*/plan", {"plan": {}})
    recorder = Recorder(refuse="state of vertex abc would be dropped")
    with pytest.raises(FlinkError, match="would be dropped"):
        recorded(client, req, recorder).run()
    assert recorder.calls == ["pre_check"]  # no lease taken: nothing to release


def test_a_refused_rollback_says_why_and_leaves_the_state_where_it_is(
        client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    expect_stop(script, job_id=current["jid"])
    expect_failing_start(script, spec_of(req, sha))

    class RefuseRollback(Unleased):
        def allow_rollback(self, run, failed_job_id, previous):
            raise FlinkError("another deployment of orders is in progress")

    with pytest.raises(DeployFailure) as failed:
        engine(client, req, lease=RefuseRollback).run()
    msg = str(failed.value)
    assert "not rolled back: another deployment of orders is in progress" in msg
    assert "its state is in %s" % SP in msg


def test_the_lease_is_released_and_the_hooks_hear_of_a_failure(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"errors": ["no"]}, status=500)
    recorder = Recorder()
    with pytest.raises(FlinkError):
        recorded(client, req, recorder).run()
    assert recorder.calls == ["pre_check", "acquire", "release True", "after_change True"]


def test_a_stop_takes_and_releases_the_lease(client, script, jar):
    script.on("GET", "/jobs/overview", overview(job(OLD_ID)))
    script.on("PATCH", "/jobs/%s" % OLD_ID, {"errors": ["gone"]}, status=404)
    recorder = Recorder()
    with pytest.raises(FlinkError):
        recorded(client, request(jar, state="stopped", stop_mode="cancel"), recorder).run()
    assert recorder.calls == ["acquire", "release True", "after_change True"]


def test_jar_id_request_uses_the_upload_as_is(client, script, uploaded):
    req = request(None, jar_id=uploaded["id"])
    spec = JobSpec("orders", "sha256:" + uploaded["name"].split("-sha256-")[1][:16],
                   "org.example.Job", ["--v2"])
    current = job(running_id(spec))
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": [uploaded]})  # read once: the JAR and the records
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints())
    assert engine(client, req).run().action == "none"


def test_unknown_jar_id_is_an_error(client, script):
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", {"files": []})
    with pytest.raises(FlinkError, match="no uploaded JAR with id nope"):
        engine(client, request(None, jar_id="nope")).run()


def test_the_deployment_lease_is_used_when_none_is_given(client, script, jar, sha):
    """Every run holds the job name's lease: it reads the records and the job's failures."""
    req = request(jar)
    job_id = running_id(spec_of(req, sha))
    script.on("GET", "/jobs/overview", overview(job(job_id)))
    script.on("GET", "/jars", {"files": []})
    script.on("GET", "/jobs/%s/checkpoints" % job_id, checkpoints())
    script.on("GET", "/jobs/%s/exceptions" % job_id, {"exceptionHistory": {"entries": []}})
    result = Engine(client, req, Changes()).run()
    assert result.action == "none" and result.healthy is True


# --- healthy the way Flink means it (issue 14.1) ------------------------------------------------

def test_finished_subtasks_count_as_healthy_in_the_wait(client, script, jar, sha, uploaded):
    """A source subtask without a split finishes; the job runs on and is healthy."""
    req, jid = fresh(script, jar, sha, uploaded, parallelism=4)
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    script.on("GET", "/jobs/overview", overview(job(jid, total=8, running=6, finished=2)))
    script.on("GET", "/jobs/%s/exceptions" % jid, NO_FAILURES)
    result = engine(client, req).run()
    assert result.job["tasks"]["finished"] == 2 and result.action == "started"


def test_finished_subtasks_count_as_healthy_in_the_no_op(client, script, jar, sha):
    req = request(jar)
    current = job(running_id(spec_of(req, sha)), total=8, running=6, finished=2)
    expect_no_op(script, current)
    assert engine(client, req).run().action == "none"
    assert len(script.calls()) == 3  # no wait


def test_finished_subtasks_count_as_healthy_in_the_health_window(
        client, script, jar, sha, uploaded):
    req, jid = fresh(script, jar, sha, uploaded, health_window=0.1)
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    for poll in range(3):
        script.on("GET", "/jobs/overview", overview(job(jid, total=4, running=3, finished=1)))
        if poll == 0:
            script.on("GET", "/jobs/%s/exceptions" % jid, NO_FAILURES)
    script.on("GET", "/jobs/%s/exceptions" % jid, NO_FAILURES)
    assert engine(client, req).run().health["window"] == 0.1


def test_a_restart_before_the_wait_saw_it_fails_the_new_job(client, script, jar, sha, uploaded):
    """Running again after a quick restart is not healthy: it restarted since it started."""
    req, jid = fresh(script, jar, sha, uploaded)
    script.on("POST", "/jars/.*/run", {"jobid": jid})
    script.on("GET", "/jobs/overview", overview(job(jid)))
    restarted = {"exceptionHistory": {"entries": [
        {"exceptionName": "java.lang.RuntimeException: flaky"}]}}
    script.on("GET", "/jobs/%s/exceptions" % jid, restarted)
    script.on("GET", "/jobs/%s/exceptions" % jid, restarted)
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert "restarted 1 time since it started" in str(failed.value)
    assert "flaky" in str(failed.value)


def test_no_op_does_not_hold_old_recovered_failures_against_a_running_job(client, script, jar,
                                                                          sha):
    req = request(jar)
    jid = running_id(spec_of(req, sha))
    expect_no_op(script, job(jid, running=1))
    script.on("GET", "/jobs/overview", overview(job(jid)))  # healthy: no restart count read
    assert engine(client, req).run().job["tasks"]["running"] == 2


def test_rollback_whose_job_is_active_but_unhealthy_says_so(client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, wait_timeout=0.05)
    expect_stop(script, job_id=current["jid"])
    failed_id = expect_failing_start(script, spec_of(req, sha))
    script.on("GET", "/jobs/overview", overview(job(failed_id, state="FAILED", end=2)))
    back_id = new_id(OLD_SPEC)
    script.on("POST", "/jars/.*/run", {"jobid": back_id})
    for _round in range(3):
        script.on("GET", "/jobs/overview", overview(job(back_id, running=1)))
    script.on("GET", "/jobs/%s/exceptions" % back_id, {})
    script.on("GET", "/jobs/overview", overview(job(back_id, running=1),
                                                job(failed_id, state="FAILED", end=2)))
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert "failed too, so what runs now is job %s (state RUNNING" % back_id in msg
    assert "nothing runs now" not in msg


def test_unchanged_secret_spec_is_a_no_op_when_the_job_id_carries_no_fingerprint(
        client, script, jar, sha, uploaded):
    """A spec with a secret is fingerprinted with the salt of the running job's record; that
    record is found through the guard's id -> fingerprint map (its confirmation record), not
    the job id's prefix."""
    req = request(jar, args=["--v2", "--password", "hunter2-hunter2"])
    running = JobSpec(req.name, content_key(sha), req.entry_class, req.args)
    assert running.salt  # the password is sealed with a salt of its own
    jid = "b" * 32
    records = [{"id": "r%d_%s" % (i, name), "name": name, "uploaded": 1}
               for i, name in enumerate(spec_record_names(running, uploaded["id"]))]
    records.append({"id": "c_confirm", "name": confirmation_name(req.name, jid, running.fingerprint),
                    "uploaded": 1})
    script.on("GET", "/jobs/overview", overview(job(jid)))
    script.on("GET", "/jars", {"files": [uploaded] + records})
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints())
    result = engine(client, req, hooks=[]).run()
    assert result.action == "none" and result.job_id == jid


def test_resume_takes_the_run_that_ended_last_not_the_one_started_last(client, script, jar, sha, uploaded):
    """An aborted blue/green: green started after blue but was cancelled before blue stopped;
    its state is older, and resuming it would roll the state back."""
    req = request(jar)
    blue = job("b" * 32, state="FINISHED", running=0, start=1, end=30)
    green = job("9" * 32, state="CANCELED", running=0, start=10, end=20)
    script.on("GET", "/jobs/overview", overview(green, blue))
    expect_prepared(script, uploaded, spec_of(req, sha))
    script.on("GET", "/jobs/%s/checkpoints" % ("b" * 32), checkpoints(
        savepoint={"external_path": SP, "latest_ack_timestamp": 29}))
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.action == "resumed" and result.previous_job_id == "b" * 32
    assert script.body_of("/run")["savepointPath"] == SP
