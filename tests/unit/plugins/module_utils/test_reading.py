# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading Flink's answers (_jobstate), waiting (_poll) and the JAR store (_store)."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    FlinkTimeout,
)
from ansible_collections.flinkops.flink.plugins.module_utils._health import recent_restarts
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    cluster_info,
    describe_job,
    is_healthy,
    last_state,
    restart_count,
    resume_point,
    root_exception,
    settled_checkpoints,
    unhealthy_reason,
)
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    OperationFailed,
    dispose_savepoint,
    poll_operation,
    stop_savepoint,
    wait_savepoint,
    wait_until_running,
    wait_until_terminal,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    Changes,
    DeployFailure,
    DeployResult,
    Planned,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    decode,
    encode,
    ensure_jar,
    jar_key,
    jars_named,
    local_jar,
    stem_of,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    IN_PROGRESS,
    checkpoints,
    job,
    overview,
    savepoint_done,
)

JID = "a" * 32


# --- health ----------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, restarts, reason", [
    (job(JID), 0, None),
    (job(JID, total=4, running=3, finished=1), 0, None),
    (job(JID, total=4, running=2, finished=1), 0, "not every task runs"),
    (job(JID, total=0, running=0), 0, "not every task runs"),
    (job(JID, state="RESTARTING"), 0, "state RESTARTING"),
    (job(JID), 2, "restarted 2 times since it started"),
    (None, 0, "state None"),
])
def test_unhealthy_reason(entry, restarts, reason):
    found = unhealthy_reason(entry, restarts)
    assert (found is None) if reason is None else (reason in found), found
    assert is_healthy(entry, restarts) == (reason is None)


# A new job's slot requests failed: its TaskManager was lost and is not back yet (the
# history entry's shape as real Flink 2.3 recorded it in the TaskManager-kill fault test).
SLOT_WAIT = {"exceptionName": "org.apache.flink.runtime.jobmanager.scheduler."
                              "NoResourceAvailableException",
             "stacktrace": "org.apache.flink.runtime.jobmanager.scheduler."
                           "NoResourceAvailableException: Could not acquire the minimum "
                           "required resources.\n\tat org.apache.flink...",
             "timestamp": 10 ** 13}
PROGRAM_FAILED = {"exceptionName": "java.lang.IllegalStateException",
                  "stacktrace": "java.lang.IllegalStateException: boom", "timestamp": 10 ** 13}


def history(*entries):
    return {"exceptionHistory": {"entries": list(entries)}}


def test_a_new_job_waiting_for_slots_is_waited_for_not_failed(client, script):
    script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT))
    script.on("GET", "/jobs/overview", overview(job(JID, state="RUNNING", running=0)))
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT, SLOT_WAIT))
    assert wait_until_running(client, JID, 60)["state"] == "RUNNING"


def test_a_restarting_job_whose_history_is_not_read_yet_is_waited_for(client, script):
    """Flink's cached /exceptions can lag the job's state by a refresh interval."""
    script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
    script.on("GET", "/jobs/%s/exceptions" % JID, history())
    script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(PROGRAM_FAILED))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(PROGRAM_FAILED))
    with pytest.raises(FlinkError) as failed:
        wait_until_running(client, JID, 60)
    assert "went RESTARTING instead of running" in str(failed.value)
    assert "IllegalStateException: boom" in str(failed.value)


@pytest.mark.parametrize("newest, older", [(PROGRAM_FAILED, SLOT_WAIT), (SLOT_WAIT, PROGRAM_FAILED)])
def test_a_program_failure_fails_a_new_job_even_beside_slot_waits(client, script, newest, older):
    if newest is PROGRAM_FAILED:
        script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
        script.on("GET", "/jobs/%s/exceptions" % JID, history(newest, older))
    else:  # it got its slots back, but it had failed before: a restart all the same
        script.on("GET", "/jobs/overview", overview(job(JID)))
        script.on("GET", "/jobs/%s/exceptions" % JID, history(newest, older))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(newest, older))
    with pytest.raises(FlinkError) as failed:
        wait_until_running(client, JID, 60)
    assert ("went RESTARTING" if newest is PROGRAM_FAILED else "restarted 1 time") in str(
        failed.value)


def test_a_job_that_never_gets_slots_times_out_saying_so(client, script, clock):
    for _poll in range(3):
        script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
        script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT))
    script.on("GET", "/jobs/overview", overview(job(JID, state="RESTARTING")))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT))
    with pytest.raises(FlinkTimeout) as failed:
        wait_until_running(client, JID, 1.0, interval=0.5)
    assert "NoResourceAvailableException" in str(failed.value)
    assert "waited for task slots no TaskManager offered" in str(failed.value)


def test_a_job_that_got_its_slots_late_times_out_saying_it_was_restoring(client, script, clock):
    """As CI saw it on a loaded machine: the TaskManager came back, the tasks were restoring."""
    restoring = dict(job(JID, running=0), tasks={"total": 2, "running": 0, "initializing": 2})
    for _poll in range(4):
        script.on("GET", "/jobs/overview", overview(restoring))
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT))
    with pytest.raises(FlinkTimeout) as failed:
        wait_until_running(client, JID, 1.0, interval=0.5)
    assert "got them and was still restoring its state" in str(failed.value)
    assert "no TaskManager offered" not in str(failed.value)


def test_slot_waits_are_not_restarts(client, script):
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT, PROGRAM_FAILED, SLOT_WAIT))
    assert restart_count(client, JID) == 1
    old = dict(PROGRAM_FAILED, timestamp=1)
    script.on("GET", "/jobs/%s/exceptions" % JID, history(SLOT_WAIT, PROGRAM_FAILED, old))
    assert recent_restarts(client, JID, now_ms=10 ** 13 + 1) == 1


# --- failures and state -------------------------------------------------------------------------

@pytest.mark.parametrize("answer, cause", [
    ({"exceptionHistory": {"entries": [{"stacktrace": "x\nCaused by: java.io.IOException: y"}]}},
     "java.io.IOException: y"),
    ({"exceptionHistory": {"entries": [{"exceptionName": "java.lang.Error"}]}}, "java.lang.Error"),
    ({"root-exception": "java.lang.RuntimeException: 1.x style\n\tat x"},
     "java.lang.RuntimeException: 1.x style"),
    ({}, None),
])
def test_root_exception_on_1x_and_2x(client, script, answer, cause):
    script.on("GET", "/jobs/%s/exceptions" % JID, answer)
    assert root_exception(client, JID) == cause


def test_root_exception_when_flink_cannot_say(client, script):
    script.on("GET", "/jobs/%s/exceptions" % JID, {"errors": ["gone"]}, status=404)
    assert root_exception(client, JID) is None


def test_last_state_is_the_newer_of_savepoint_and_retained_checkpoint(client, script):
    answer = checkpoints(completed={"external_path": "file:/chk-9", "latest_ack_timestamp": 20},
                         savepoint={"external_path": "file:/sp-1", "latest_ack_timestamp": 10})
    script.on("GET", "/jobs/%s/checkpoints/config" % JID,
              {"externalization": {"enabled": True, "delete_on_cancellation": False}})
    assert last_state(client, JID, answer) == "file:/chk-9"


def test_last_state_falls_back_to_the_restore_origin(client, script):
    answer = checkpoints(completed={"external_path": "<checkpoint-not-externally-addressable>"},
                         restored={"external_path": "file:/sp-0", "is_savepoint": True})
    assert last_state(client, JID, answer) == "file:/sp-0"
    assert last_state(client, JID, checkpoints()) is None


def test_resume_point_waits_for_flinks_cache_after_a_recent_end(client, script, clock):
    import time
    ended = job(JID, state="CANCELED", running=0, end=int(time.time() * 1000))
    script.on("GET", "/config", {"refresh-interval": 3000})
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints())
    assert resume_point(client, [ended]) == (ended, None)
    assert clock.slept and clock.slept[0] <= 4.0
    assert resume_point(client, [job(JID)]) == (None, None)


@pytest.mark.parametrize("cache_ttl, longest_wait", [(None, 4.0), (30.0, 31.0)])
def test_an_ended_jobs_checkpoints_are_read_once_flinks_cache_can_hold_no_older_answer(
        client, script, clock, cache_ttl, longest_wait):
    """A cache timeout longer than the refresh interval (rest.cache.checkpoint-statistics.timeout)
    is waited out: an answer cached before the end could list a checkpoint since deleted."""
    import time
    ended = job(JID, state="CANCELED", running=0, end=int(time.time() * 1000))
    if cache_ttl is None:  # the cluster's configuration not at hand: the refresh interval
        script.on("GET", "/config", {"refresh-interval": 3000})
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints())
    settled_checkpoints(client, ended, cache_ttl)
    assert len(clock.slept) == 1 and longest_wait - 1.5 <= clock.slept[0] <= longest_wait, clock.slept


def test_describe_job_of_a_failed_managed_job(client, script):
    entry = job(JID, state="FAILED", running=0, end=99)
    script.on("GET", "/jobs/%s" % JID, {"vertices": [{"parallelism": 2}, {"parallelism": 3}]})
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints(
        completed={"external_path": "file:/c", "latest_ack_timestamp": 5, "id": 4},
        savepoint={"external_path": "file:/s", "trigger_timestamp": 3, "id": 2,
                   "checkpoint_type": "SAVEPOINT"}))
    script.on("GET", "/jobs/%s/exceptions" % JID, {"root-exception": "boom"})
    described = describe_job(client, entry, {"name": "orders", "jar": "sha256:x"})
    assert described["active"] is False and described["managed"] is True
    assert described["parallelism"] == 3 and described["end_time"] == 99
    assert described["latest_checkpoint"] == {"path": "file:/c", "timestamp": 5, "id": 4}
    assert described["latest_savepoint"]["timestamp"] == 3 and described["failure"] == "boom"
    assert described["spec"]["name"] == "orders"


def test_describe_job_of_a_running_unmanaged_job(client, script):
    script.on("GET", "/jobs/%s" % JID, {})
    script.on("GET", "/jobs/%s/checkpoints" % JID, {})
    described = describe_job(client, job(JID))
    assert described["active"] is True and described["managed"] is False
    assert described["parallelism"] is None and described["end_time"] is None
    assert described["latest_checkpoint"] is None and described["spec"] is None


def test_cluster_info_on_1x_keys(client, script):
    script.on("GET", "/config", {"flink-version": "1.20.5", "refresh-interval": 3000})
    script.on("GET", "/overview", {"taskmanagers": 1, "slots-total": 4, "slots-available": 2})
    script.on("GET", "/jobmanager/config", [
        {"key": "state.savepoints.dir", "value": "file:/sp"},
        {"key": "state.checkpoints.dir", "value": "file:/chk"},
        {"key": "execution.checkpointing.dir", "value": ""},
        {"key": "restart-strategy", "value": "fixed-delay"}])
    info = cluster_info(client)
    assert info["flink_version"] == "1.20.5" and info["overview"]["slots_available"] == 2
    conf = info["configuration"]
    assert conf["savepoint_dir"] == "file:/sp" and conf["checkpoint_dir"] == "file:/chk"
    assert conf["restart_strategy"] == "fixed-delay" and conf["checkpoint_interval"] is None


# --- waiting ------------------------------------------------------------------------------------------

def test_disposal_completed_without_failure_removed_it(client, script):
    script.on("POST", "/savepoint-disposal", {"request-id": "d1"})
    script.on("GET", "/savepoint-disposal/d1", IN_PROGRESS)
    script.on("GET", "/savepoint-disposal/d1", savepoint_done())
    assert dispose_savepoint(client, "file:/sp", 10) is True


def test_disposal_of_a_missing_path_is_already_gone(client, script):
    script.on("POST", "/savepoint-disposal", {"request-id": "d1"})
    script.on("GET", "/savepoint-disposal/d1", savepoint_done(
        failure="org.apache.flink.util.FlinkException: x\nCaused by: java.io."
                "FileNotFoundException: Cannot find checkpoint or savepoint file/directory "
                "'file:/sp' on file system 'file'."))  # as 2.3.0 answers for a missing path
    assert dispose_savepoint(client, "file:/sp", 10) is False


def test_disposal_that_really_failed_says_so(client, script):
    script.on("POST", "/savepoint-disposal", {"request-id": "d1"})
    script.on("GET", "/savepoint-disposal/d1", savepoint_done(failure="java.io.IOException: EACCES"))
    with pytest.raises(OperationFailed) as failed:
        dispose_savepoint(client, "file:/sp", 10)
    assert "the disposal of savepoint file:/sp failed" in str(failed.value)
    assert "EACCES" in str(failed.value)


def test_an_ended_jobs_stop_that_failed_after_its_savepoint_names_that_savepoint(client, script):
    """A re-run after the stop failed while the job was ending (and Flink ended it) resumes
    from the savepoint the stop wrote, not from an older checkpoint."""
    script.on("GET", "/jobs/%s/savepoints/s0" % JID, savepoint_done(failure="java.io.IOException: disk full"))
    script.on("GET", "/jobs/%s/savepoints/s1" % JID, savepoint_done(failure=(
        "org.apache.flink.runtime.scheduler.stopwithsavepoint.StopWithSavepointStoppingException: "
        "A savepoint has been created at: file:/sp/savepoint-x, but the corresponding job %s failed "
        "during stopping." % JID)))
    assert stop_savepoint(client, JID, lambda attempt: "s%d" % attempt) == "file:/sp/savepoint-x"


def test_plain_savepoint_timeout_leaves_the_job(client, script):
    for _round in range(2):
        script.on("GET", "/jobs/%s/savepoints/t" % JID, IN_PROGRESS)
    with pytest.raises(FlinkTimeout) as failed:
        wait_savepoint(client, JID, "t", 0.02)
    assert str(failed.value) == ("the savepoint of job %s did not complete within 0.02s "
                                 "(trigger t); the job was left as it is" % JID)


def test_operation_failure_without_a_stack_trace_names_its_class(client, script):
    script.on("GET", "/op", {"status": {"id": "COMPLETED"},
                             "operation": {"failure-cause": {"class": "java.lang.Boom"}}})
    with pytest.raises(OperationFailed, match="java.lang.Boom"):
        poll_operation(client, "/op", 1, "the thing")


def test_wait_until_terminal_returns_the_last_entry_or_the_id(client, script):
    script.on("GET", "/jobs/overview", overview(job(JID, state="CANCELLING")))
    script.on("GET", "/jobs/overview", overview(job(JID, state="CANCELED", end=1)))
    assert wait_until_terminal(client, JID, 5)["state"] == "CANCELED"
    script.on("GET", "/jobs/overview", overview())
    assert wait_until_terminal(client, JID, 5) == {"jid": JID}


# --- the JAR store -------------------------------------------------------------------------------------

def test_jar_names_and_keys():
    assert stem_of("orders-job-sha256-0123456789abcdef.jar") == "orders-job"
    assert stem_of("orders.jar") is None
    assert jar_key("orders.jar") == "jar:orders.jar"
    jars = [{"id": "1", "name": "a-sha256-0123456789abcdef.jar", "uploaded": 1},
            {"id": "2", "name": "a-sha256-fedcba9876543210.jar", "uploaded": 2},
            {"id": "3", "name": "ab-sha256-fedcba9876543210.jar", "uploaded": 3},
            {"id": "4", "name": "a.jar", "uploaded": 4}]
    assert [j["id"] for j in jars_named(jars, "a")] == ["2", "1"]


def test_ensure_jar_through_a_change_recorder(client, script, tmp_path):
    path = tmp_path / "x.jar"
    path.write_bytes(b"PK\x03\x04rest")
    sha = local_jar(str(path))
    changes = Changes(check_mode=True)
    jar_id, uploaded = ensure_jar(client, str(path), sha, "x", [], changes.do)
    assert isinstance(jar_id, Planned) and uploaded
    assert ensure_jar(client, str(path), sha, "x", [{"id": "u_x", "name": "x-sha256-%s.jar"
                                                    % sha[:16]}], changes.do) == ("u_x", False)


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    (b"not a zip", "is not a JAR file"),
])
def test_local_jar_is_checked_before_anything_is_sent(tmp_path, content, expected):
    path = tmp_path / "x.jar"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FlinkError, match=expected):
        local_jar(str(path))


def test_record_codec_round_trip_and_rejects_garbage():
    assert decode(encode({"a": ["ü", 1]})) == {"a": ["ü", 1]}
    for garbage in ("!!!", "AAAA"):
        with pytest.raises(ValueError):
            decode(garbage)


# --- values crossing the boundary -------------------------------------------------------------------

def test_planned_values_never_reach_a_result():
    result = DeployResult()
    result.update(savepoint=Planned("the savepoint that stops job x"), job={"jid": "x"})
    data = result.to_dict()
    assert data["savepoint"] is None and data["job"] == {"jid": "x"} and "health" not in data
    with pytest.raises(AttributeError):
        result.update(no_such_field=1)
    assert Planned("a") == Planned("a") and len({Planned("a"), Planned("a")}) == 1
    assert repr(Planned("a")) == "Planned('a')"


def test_deploy_failure_keeps_the_deciding_error_and_names_the_stage():
    error = FlinkError("boom", method="POST", url="http://f/x", status=500, errors=["E: e"])
    failure = DeployFailure("start", error, "not-rolled-back", previous_job_id="p",
                            state_at=None, reason="rollback is off")
    assert "it had no saved state" in failure.msg and failure.status == 500
    assert failure.to_dict()["stage"] == "start"
    with pytest.raises(ValueError):
        raise DeployFailure("x", error, "no-such-outcome")
