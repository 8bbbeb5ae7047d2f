# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade_mode=blue-green and rescale_mode=in-place on a scripted Flink: the order of requests
is the order of steps (the safety argument of _bluegreen and _rescale)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _bluegreen, _lag
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import content_key, spec_record_names

from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    IN_PROGRESS,
    checkpoints,
    job,
    overview,
    savepoint_done,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_engine import (  # noqa: F401 pylint: disable=unused-import
    OLD_ID,
    OLD_SPEC,
    SP,
    engine,
    expect_healthy,
    expect_no_op,
    expect_prepared,
    expect_run,
    expect_stop,
    fixed_job_ids,
    jar,
    new_id,
    old_record_jars,
    request,
    running_id,
    sha,
    spec_of,
    uploaded,
)

HANDOVER = "file:/sp/savepoint-aaaaaa-handover"


@pytest.fixture(autouse=True)
def fixed_green_ids(monkeypatch):
    """Green's job id as the strategy allocates it, minus the randomness (as test_engine does)."""
    monkeypatch.setattr(_bluegreen, "new_job_id", new_id)


TRIGGER = r"[0-9a-f]{32}"


def expect_savepoint_while_running(script, job_id=OLD_ID, location=HANDOVER):
    script.on("POST", "/jobs/%s/savepoints" % job_id, {"request-id": "h1"},
              check=assert_keeps_running)
    script.on("GET", "/jobs/%s/savepoints/h1" % job_id, IN_PROGRESS)
    script.on("GET", "/jobs/%s/savepoints/h1" % job_id, savepoint_done(location))


def assert_keeps_running(body):
    assert body["cancel-job"] is False and len(body["triggerId"]) == 32


def expect_checkpoint(script, jid, failure=None):
    script.on("POST", "/jobs/%s/checkpoints" % jid, {"request-id": "c1"})
    script.on("GET", "/jobs/%s/checkpoints/%s" % (jid, TRIGGER), IN_PROGRESS)
    done = {"status": {"id": "COMPLETED"}, "operation": {"checkpointId": 7}}
    if failure:
        done["operation"] = {"failure-cause": {"class": "java.io.IOException", "stack-trace": failure}}
    script.on("GET", "/jobs/%s/checkpoints/%s" % (jid, TRIGGER), done)


def expect_no_lag_metrics(script, blue, within=5):
    """Blue's sources report no pendingRecords in any listing for METRICS_REFRESH seconds, or
    ``within`` (the request's wait_timeout) when shorter: green's catch-up cannot be measured."""
    for _poll in range(int(min(_lag.METRICS_REFRESH, within) / _lag.LAG_POLL_INTERVAL) + 1):
        script.on("GET", "/jobs/%s" % blue, {"vertices": [{"id": "src"}, {"id": "sink"}]})
        script.on("GET", "/jobs/%s/vertices/src/subtasks/metrics" % blue, [{"id": "Source__in.numRecordsOut"}])
        script.on("GET", "/jobs/%s/vertices/sink/subtasks/metrics" % blue, [{"id": "numRecordsIn"}])


PENDING = "Source__orders.pendingRecords"


def expect_lag_metrics(script, jid, listed=True, gauge=True):
    script.on("GET", "/jobs/%s" % jid, {"vertices": [{"id": "src"}]})
    script.on("GET", "/jobs/%s/vertices/src/subtasks/metrics" % jid,
              [{"id": "Source__orders.numRecordsOut"}] + [{"id": PENDING}] * gauge if listed else [])


def expect_pending(script, green, blue, green_pending, blue_pending):
    """One reading of both jobs' pending records (aggregated over subtasks)."""
    for jid, value in ((green, green_pending), (blue, blue_pending)):
        script.on("GET", "/jobs/%s/vertices/src/subtasks/metrics" % jid, [{"id": PENDING, "sum": value}])


def blue_green_setup(script, jar, sha, uploaded, free=4, **changes):
    req = request(jar, upgrade_mode="blue-green", **changes)
    current = job(running_id(OLD_SPEC))
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=old_record_jars())
    script.on("GET", "/jobmanager/config", [{"key": "parallelism.default", "value": "2"}])
    script.on("GET", "/overview", {"slots-available": free})
    return req, current


# --- blue-green ------------------------------------------------------------------------

def test_blue_green_keeps_blue_running_until_green_passed_its_gate(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded, wait_timeout=30)
    expect_savepoint_while_running(script, current["jid"])
    jid = expect_run(script, spec_of(req, sha),
                     check=lambda body: body["savepointPath"] == HANDOVER or pytest.fail(body))
    expect_checkpoint(script, jid)
    expect_no_lag_metrics(script, current["jid"], within=30)
    expect_stop(script, job_id=current["jid"])  # promote: blue stops last
    result = engine(client, req).run()
    assert (result.action, result.job_id, result.previous_job_id) == ("upgraded", jid, current["jid"])
    assert result.restored_from == HANDOVER and result.savepoint == SP
    assert result.strategy == "blue-green" and result.overlap_seconds >= 0
    assert result.catch_up == {"measured": False,
                               "reason": "the sources of job %s report no pendingRecords" % current["jid"]}
    assert [c for c in script.calls() if c.startswith(("POST", "PATCH"))][-4:] == [
        "POST /jobs/%s/savepoints" % current["jid"], "POST /jars/%s/run" % uploaded["id"],
        "POST /jobs/%s/checkpoints" % jid, "POST /jobs/%s/stop" % current["jid"]]


def test_blue_is_stopped_only_once_green_caught_up_with_its_input(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded)
    blue = current["jid"]
    expect_savepoint_while_running(script, blue)
    jid = expect_run(script, spec_of(req, sha))
    expect_checkpoint(script, jid)
    expect_lag_metrics(script, blue, listed=False)  # the JobManager's metrics cache, first fill
    expect_lag_metrics(script, blue)
    expect_lag_metrics(script, jid, listed=False)  # green's metrics: after the next refresh
    expect_lag_metrics(script, jid)
    expect_pending(script, jid, blue, 4000, 12)  # green reads again what blue read since the savepoint
    expect_pending(script, jid, blue, 109, 12)
    expect_stop(script, job_id=blue)
    result = engine(client, req).run()
    assert result.catch_up == {"measured": True, "pending_records": 109, "running_job_pending_records": 12}
    assert result.to_dict()["catch_up"]["measured"] is True
    assert script.calls()[-4].endswith("/subtasks/metrics") and script.calls()[-3] == "POST /jobs/%s/stop" % blue


def test_a_listing_without_the_gauge_waits_for_the_next_refresh(client, script, jar, sha, uploaded):
    """The cache was filled before blue's sources registered pendingRecords (CI, shared
    cluster): that listing is not taken as 'no gauge' while a refresh may still add it."""
    req, current = blue_green_setup(script, jar, sha, uploaded)
    blue = current["jid"]
    expect_savepoint_while_running(script, blue)
    jid = expect_run(script, spec_of(req, sha))
    expect_checkpoint(script, jid)
    for _poll in range(3):
        expect_lag_metrics(script, blue, gauge=False)
    expect_lag_metrics(script, blue)
    expect_lag_metrics(script, jid)
    expect_pending(script, jid, blue, 20, 12)
    expect_stop(script, job_id=blue)
    result = engine(client, req).run()
    assert result.catch_up == {"measured": True, "pending_records": 20, "running_job_pending_records": 12}


def test_a_metrics_cache_that_stays_empty_is_waited_for_30_s_then_named(
        client, script, jar, sha, uploaded, clock, monkeypatch):
    """A TaskManager too busy to answer the JobManager's metrics refresh: promote without the
    catch-up measured, saying why, after METRICS_APPEAR seconds (of the fake clock)."""
    req, current = blue_green_setup(script, jar, sha, uploaded, wait_timeout=120)
    blue = current["jid"]
    expect_savepoint_while_running(script, blue)
    jid = expect_run(script, spec_of(req, sha))
    expect_checkpoint(script, jid)
    polls = []
    monkeypatch.setattr(_lag, "pending_metrics", lambda client, job_id: polls.append(clock.now))
    expect_stop(script, job_id=blue)
    result = engine(client, req).run()
    assert result.catch_up == {"measured": False,
                               "reason": "Flink listed no metric of job %s within 30s" % blue}
    assert result.action == "upgraded" and result.job_id == jid
    assert polls[-1] - polls[0] >= _lag.METRICS_APPEAR - _lag.LAG_POLL_INTERVAL


def test_green_that_does_not_catch_up_is_cancelled_and_blue_left_running(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded, wait_timeout=0)
    blue = current["jid"]
    expect_savepoint_while_running(script, blue)
    jid = expect_run(script, spec_of(req, sha), healthy=False)
    expect_healthy(script, jid, polls=1)
    expect_checkpoint(script, jid)
    expect_lag_metrics(script, blue)
    expect_lag_metrics(script, jid)
    expect_pending(script, jid, blue, 4000, 12)
    script.on("GET", "/jobs/overview", overview(current, job(jid, start=2)))
    script.on("PATCH", "/jobs/%s" % jid, None, status=202)
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="CANCELED", start=2)))
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="CANCELED", start=2)))
    with pytest.raises(FlinkError, match="did not catch up with job %s within 0s: 4000 records pending for "
                                         "the new job, 12 for the running one.*left untouched" % blue):
        engine(client, req).run()
    assert not any("/stop" in c or c == "PATCH /jobs/%s" % blue for c in script.calls())


def test_blue_green_without_free_slots_changes_nothing(client, script, jar, sha, uploaded):
    req, _current = blue_green_setup(script, jar, sha, uploaded, free=1)
    with pytest.raises(FlinkError, match="needs 2 free task slots .* has 1: nothing was changed"):
        engine(client, req).run()
    assert not any(c.startswith(("PATCH", "POST /jobs")) for c in script.calls())


def test_green_failing_is_cancelled_and_blue_left_untouched(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded)
    expect_savepoint_while_running(script, current["jid"])
    jid = expect_run(script, spec_of(req, sha), healthy=False)
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="RESTARTING", start=2)))
    failed = {"exceptionHistory": {"entries": [{"exceptionName": "java.lang.RuntimeException",
                                                "stacktrace": "RuntimeException: boom"}]}}
    script.on("GET", "/jobs/%s/exceptions" % jid, failed)  # not a wait for slots
    script.on("GET", "/jobs/%s/exceptions" % jid, failed)  # its root cause
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="RESTARTING", start=2)))
    script.on("PATCH", "/jobs/%s" % jid, None, status=202)
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="CANCELED", start=2)))
    script.on("GET", "/jobs/overview", overview(current, job(jid, state="CANCELED", start=2)))
    eng = engine(client, req)
    with pytest.raises(FlinkError, match="blue-green aborted.*left untouched") as failure:
        eng.run()
    assert current["jid"] in str(failure.value) and "RUNNING" in str(failure.value)
    assert eng.result.job_id == current["jid"] and eng.result.failed_job_id == jid
    assert not any("/stop" in c or c == "PATCH /jobs/%s" % current["jid"] for c in script.calls())


def test_green_refused_at_submit_leaves_blue_untouched(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded)
    expect_savepoint_while_running(script, current["jid"])
    refused = {"errors": ["java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint"]}
    script.on("POST", "/jars/.*/run", refused, status=400)
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jobs/overview", overview(current))
    with pytest.raises(FlinkError, match="blue-green aborted"):
        engine(client, req).run()
    assert not any("/stop" in c for c in script.calls())


def handover_record_jars(spec, uploaded):
    """The records a blue/green run leaves: blue's spec and green's (recorded before its start)."""
    return old_record_jars() + [{"id": "g%d_%s" % (i, name), "name": name, "uploaded": 2}
                                for i, name in enumerate(spec_record_names(spec, uploaded["id"]))]


def expect_prepared_recorded(script, uploaded, records):
    """The steps before anything stops, for a spec recorded already (no record written)."""
    script.on("GET", "/jars", {"files": [uploaded] + records})
    script.on("GET", "/config", {"flink-version": "2.3.0", "refresh-interval": 3000})
    script.on("POST", "/jars/%s/plan" % uploaded["id"], {"plan": {"nodes": []}})


def expect_handover_finished(script, blue, green, stop=True):
    """Gate green (it runs; a forced checkpoint; no catch-up measured), then stop blue."""
    script.on("GET", "/jobs/overview", overview(green, blue))  # green's start time
    expect_healthy(script, green["jid"], polls=1)
    expect_checkpoint(script, green["jid"])
    expect_no_lag_metrics(script, blue["jid"])
    if stop:
        expect_stop(script, job_id=blue["jid"])


def pending_handover(script, jar, sha, uploaded):
    """Blue and green (green runs the default request's spec, recorded) as a run of another spec
    or state finds them: its own survey, then the handover's (it finishes that first)."""
    green_spec = spec_of(request(jar), sha)
    blue = job(running_id(OLD_SPEC), start=1)
    green = job(new_id(green_spec), start=5000)
    records = handover_record_jars(green_spec, uploaded)
    for _survey in ("this run's", "the handover's"):
        script.on("GET", "/jobs/overview", overview(green, blue))
        script.on("GET", "/jars", {"files": [uploaded] + records})
    return blue, green, records


@pytest.mark.parametrize("mode", ["blue-green", "savepoint"])
def test_an_interrupted_handover_is_finished_by_the_next_run_of_its_spec(
        client, script, jar, sha, uploaded, mode):
    """The same spec again, in any upgrade mode (a plain re-run included): finish, not refuse."""
    req = request(jar, upgrade_mode=mode)
    blue = job(running_id(OLD_SPEC), start=1)
    green = job(new_id(spec_of(req, sha)), start=5000)
    script.on("GET", "/jobs/overview", overview(green, blue))
    expect_prepared_recorded(script, uploaded, handover_record_jars(spec_of(req, sha), uploaded))
    expect_handover_finished(script, blue, green)
    result = engine(client, req).run()
    assert (result.action, result.job_id, result.previous_job_id) == ("upgraded", green["jid"], blue["jid"])
    assert result.savepoint == SP and result.overlap_seconds > 0
    assert [c for c in script.calls() if c.startswith(("POST /jobs", "PATCH"))] == [
        "POST /jobs/%s/checkpoints" % green["jid"], "POST /jobs/%s/stop" % blue["jid"]]


def test_a_handover_left_by_a_run_of_another_spec_is_finished_before_the_upgrade(
        client, script, jar, sha, uploaded):
    """A savepoint upgrade to a third spec finds blue and green: blue is stopped first (green
    passed its gate), then green is upgraded from its own stop's savepoint; one job is left."""
    req = request(jar, args=["--v3"])
    blue, green, records = pending_handover(script, jar, sha, uploaded)
    expect_handover_finished(script, blue, green)
    finished = dict(blue, state="FINISHED")
    script.on("GET", "/jobs/overview", overview(green, finished))
    expect_prepared(script, uploaded, spec_of(req, sha), jars=records)
    expect_stop(script, location=SP + "-green", job_id=green["jid"])
    jid = expect_run(script, spec_of(req, sha),
                     check=lambda body: body["savepointPath"] == SP + "-green" or pytest.fail(body))
    eng = engine(client, req)
    result = eng.run()
    assert (result.action, result.job_id, result.previous_job_id) == ("upgraded", jid, green["jid"])
    assert result.restored_from == SP + "-green"
    assert any("both ran" in w and "stopped with the savepoint %s" % SP in w for w in eng.warnings)
    assert [c for c in script.calls() if c.endswith("/stop")] == [
        "POST /jobs/%s/stop" % blue["jid"], "POST /jobs/%s/stop" % green["jid"]]


def test_check_mode_plans_the_handover_then_the_upgrade_of_green(client, script, jar, sha, uploaded):
    req = request(jar, args=["--v3"])
    blue, green, records = pending_handover(script, jar, sha, uploaded)
    expect_prepared_recorded(script, uploaded, records)
    eng = engine(client, req, check_mode=True)
    result = eng.run()
    assert result.action == "upgraded" and result.previous_job_id == green["jid"] and result.job_id is None
    stops = [a for a in eng.changes.actions if a.startswith("stop job")]
    assert stops[0].startswith("stop job %s" % blue["jid"]) and stops[1].startswith("stop job %s" % green["jid"])
    assert not any(c.startswith(("POST /jobs", "PATCH")) for c in script.calls())
    assert all(isinstance(w, str) and "Planned" not in w for w in eng.warnings)


def test_state_stopped_finishes_a_pending_handover_then_stops_green(client, script, jar, sha, uploaded):
    req = request(jar, state="stopped")
    blue, green, records = pending_handover(script, jar, sha, uploaded)
    expect_handover_finished(script, blue, green)
    script.on("GET", "/jobs/overview", overview(green, dict(blue, state="FINISHED")))
    expect_stop(script, location=SP + "-green", job_id=green["jid"])
    script.on("GET", "/jars", {"files": [uploaded] + records})  # what to prune
    result = engine(client, req).run()
    assert (result.action, result.previous_job_id, result.savepoint) == ("stopped", green["jid"], SP + "-green")


def test_blues_final_stop_failing_leaves_green_and_says_what_the_next_run_does(
        client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded, wait_timeout=30)
    blue = current["jid"]
    expect_savepoint_while_running(script, blue)
    jid = expect_run(script, spec_of(req, sha))
    expect_checkpoint(script, jid)
    expect_no_lag_metrics(script, blue, within=30)
    script.on("POST", "/jobs/%s/stop" % blue, {"errors": ["service unavailable"]}, status=503)
    eng = engine(client, req)
    with pytest.raises(FlinkError) as failure:
        eng.run()
    message = str(failure.value)
    assert "blue-green handover not finished" in message and "HTTP 503" in message, message
    assert "Both jobs run now" in message and "The next run of this job" in message
    assert "job %s) passed its gate" % jid in message and "job %s) with a savepoint" % blue in message
    assert eng.result.job_id == jid and eng.result.previous_job_id == blue
    assert not any(c.startswith("PATCH") for c in script.calls())  # green is never cancelled now


def test_two_jobs_that_are_not_a_handover_are_refused(client, script, jar, sha, uploaded):
    req = request(jar, upgrade_mode="blue-green")
    other = job("b" * 32, start=5000)
    script.on("GET", "/jobs/overview", overview(other, job(running_id(OLD_SPEC))))
    script.on("GET", "/jars", {"files": [uploaded] + old_record_jars()})
    with pytest.raises(FlinkError, match="2 jobs match name 'orders'.*refusing to guess"):
        engine(client, req).run()


def test_a_job_sharing_only_the_prefix_is_never_taken_for_green(client, script, jar, sha, uploaded):
    """name_match=prefix: orders-backfill (managed under its own name) is not a green of orders."""
    req = request(jar, name_match="prefix")
    other_spec = JobSpec("orders-backfill", content_key(sha), "org.example.Job", ["--v2"])
    other = job(new_id(other_spec), name="orders-backfill", start=5000)
    records = old_record_jars() + [{"id": "o%d_%s" % (i, name), "name": name, "uploaded": 2}
                                   for i, name in enumerate(spec_record_names(other_spec, uploaded["id"]))]
    script.on("GET", "/jobs/overview", overview(other, job(running_id(OLD_SPEC))))
    script.on("GET", "/jars", {"files": [uploaded] + records})
    with pytest.raises(FlinkError, match="2 jobs match name 'orders' .prefix.*refusing to guess"):
        engine(client, req).run()
    assert not any(c.startswith(("POST /jobs", "PATCH")) for c in script.calls())


def test_check_mode_blue_green_plans_without_changing(client, script, jar, sha, uploaded):
    req, current = blue_green_setup(script, jar, sha, uploaded)
    script.expected = [e for e in script.expected if e.path != "/jars/upload"]
    eng = engine(client, req, check_mode=True)
    result = eng.run()
    assert result.action == "upgraded" and result.job_id is None
    assert any("without stopping" in a for a in eng.changes.actions)
    assert any(a.startswith("stop job %s" % current["jid"]) for a in eng.changes.actions)


# --- in-place rescale --------------------------------------------------------------------

REQUIREMENTS = {"v1": {"parallelism": {"lowerBound": 1, "upperBound": 1}},
                "v2": {"parallelism": {"lowerBound": 1, "upperBound": 1}}}


def rescale_setup(script, jar, sha, uploaded, version="2.3.0", record=True):
    req = request(jar, parallelism=2, rescale_mode="in-place")
    old = spec_of(request(jar, parallelism=1), sha)
    current = job(running_id(old))
    records = [{"id": "r%d_%s" % (i, name), "name": name, "uploaded": 1}
               for i, name in enumerate(spec_record_names(old, uploaded["id"]))]
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": [uploaded] + records})
    script.on("GET", "/config", {"flink-version": version, "refresh-interval": 3000})
    script.on("POST", "/jars/%s/plan" % uploaded["id"], {"plan": {"nodes": []}})
    for _name in spec_record_names(spec_of(req, sha), uploaded["id"]) if record else ():
        script.on("POST", "/jars/upload", {"filename": "/tmp/x/r_flinkops-spec.jar"})
    return req, current


def test_in_place_rescale_keeps_the_job_and_records_its_new_spec(client, script, jar, sha, uploaded):
    req, current = rescale_setup(script, jar, sha, uploaded)
    jid = current["jid"]
    script.on("GET", "/jobs/%s/resource-requirements" % jid, REQUIREMENTS)
    expect_checkpoint(script, jid)
    wanted = {"v1": {"parallelism": {"lowerBound": 1, "upperBound": 2}},
              "v2": {"parallelism": {"lowerBound": 1, "upperBound": 2}}}
    script.on("PUT", "/jobs/%s/resource-requirements" % jid, {},
              check=lambda body: body == wanted or pytest.fail(body))
    script.on("GET", "/jobs/%s" % jid, {"vertices": [{"parallelism": 1}, {"parallelism": 1}]})
    script.on("GET", "/jobs/%s" % jid, {"vertices": [{"parallelism": 2}, {"parallelism": 2}]})
    script.on("GET", "/jobs/overview", overview(job(jid, total=4, running=3, finished=1)))
    script.on("POST", "/jars/upload", {"filename": "/tmp/x/r_flinkops-rescaled.jar"},
              check=None)
    result = engine(client, req).run()
    assert (result.action, result.job_id, result.previous_job_id) == ("rescaled", jid, jid)
    assert result.rescaled == {"parallelism": 2, "checkpoint_before": 7}
    assert result.rescale_fallback is None
    assert not any("/stop" in c or "/run" in c for c in script.calls())


def test_in_place_rescale_in_check_mode_reports_plain_values(client, script, jar, sha, uploaded):
    """Issue 30: a planned checkpoint reached the result (TypeError: Value of unknown type
    ...Planned), so the role, whose first task runs in check mode, failed every time."""
    req, current = rescale_setup(script, jar, sha, uploaded, record=False)
    jid = current["jid"]
    script.on("GET", "/jobs/%s/resource-requirements" % jid, REQUIREMENTS)
    eng = engine(client, req, check_mode=True)
    result = eng.run()
    assert result.action == "rescaled" and result.to_dict()["rescaled"] == \
        {"parallelism": 2, "checkpoint_before": None}
    json.dumps(result.to_dict())  # what Ansible serialises
    assert not [c for c in script.calls() if not c.startswith("GET") and not c.endswith("/plan")]


def test_a_rerun_after_an_in_place_rescale_is_a_no_op(client, script, jar, sha, uploaded):
    req = request(jar, parallelism=2, rescale_mode="in-place")
    old = spec_of(request(jar, parallelism=1), sha)
    current = job(running_id(old))
    alias = {"id": "z_x", "name": "flinkops-rescaled-%s-%s.jar" % (current["jid"], spec_of(req, sha).fingerprint),
             "uploaded": 3}
    script.on("GET", "/jobs/overview", overview(current))
    script.on("GET", "/jars", {"files": [uploaded, alias]})
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], checkpoints())
    result = engine(client, req).run()
    assert result.action == "none" and result.job_id == current["jid"]


@pytest.mark.parametrize("version, answer, reason", [
    ("2.3.0", 500, "adaptive scheduler"),
    ("1.17.2", None, "no resource-requirements endpoint"),
])
def test_rescale_falls_back_to_a_savepoint_upgrade_saying_why(client, script, jar, sha, uploaded,
                                                              version, answer, reason):
    req, current = rescale_setup(script, jar, sha, uploaded, version=version)
    if answer:
        script.on("GET", "/jobs/%s/resource-requirements" % current["jid"],
                  {"errors": ["Internal server error."]}, status=answer)
    expect_stop(script, job_id=current["jid"])
    jid = expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert (result.action, result.job_id) == ("upgraded", jid)
    assert reason in result.rescale_fallback


def test_rescale_that_does_not_finish_puts_the_bounds_back_and_falls_back(
        client, script, jar, sha, uploaded):
    req, current = rescale_setup(script, jar, sha, uploaded)
    req.wait_timeout = 0.3
    jid = current["jid"]
    script.on("GET", "/jobs/%s/resource-requirements" % jid, REQUIREMENTS)
    expect_checkpoint(script, jid, failure="checkpoint declined")  # only costs more replay
    script.on("PUT", "/jobs/%s/resource-requirements" % jid, {})
    for _poll in range(3):
        script.on("GET", "/jobs/%s" % jid, {"vertices": [{"parallelism": 1}, {"parallelism": 1}]})
    script.on("PUT", "/jobs/%s/resource-requirements" % jid, {},
              check=lambda body: body == REQUIREMENTS or pytest.fail(body))
    expect_stop(script, job_id=jid)
    new = expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    assert result.action == "upgraded" and result.job_id == new
    assert "did not finish" in result.rescale_fallback
