# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A run's overall deadline (``_poll.Clock``) and its progress lines, on a scripted Flink and a
clock that moves only when the code sleeps: every wait is cut to the time left, a deadline is
told apart from a wait's own timeout, the engine fails naming the step and the stop's savepoint
and neither cancels nor rolls back anything for it, and progress is reported rate-limited,
redacted, and only where the action plugin asked for it."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _bluegreen
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkTimeout
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    Clock,
    DeadlineReached,
    wait_for,
    watch_health,
)
from ansible_collections.flinkops.flink.plugins.module_utils._progress import (
    PROGRESS_FILE,
    progress_writer,
)
from ansible_collections.flinkops.flink.plugins.module_utils._redact import Redactor
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployFailure

from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import IN_PROGRESS, job, overview
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_engine import (  # noqa: F401 pylint: disable=unused-import
    SP,
    engine,
    expect_run,
    expect_stop,
    fixed_job_ids,
    jar,
    new_id,
    sha,
    spec_of,
    upgrade_setup,
    uploaded,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_strategies_bluegreen import (
    blue_green_setup,
    expect_savepoint_while_running,
)


def never():
    return None


# --- the waiter --------------------------------------------------------------------------

def test_without_a_deadline_a_wait_ends_on_its_own_timeout(client, clock):
    with pytest.raises(FlinkTimeout) as timed_out:
        wait_for(client, never, 2, 0.5, "the thing")
    assert not isinstance(timed_out.value, DeadlineReached)
    assert "timed out after 2s waiting for the thing" in str(timed_out.value)


def test_a_deadline_cuts_a_longer_wait_to_the_time_left_and_says_so(client, clock):
    client.clock = Clock(deadline=10)
    clock.sleep(7)  # the run spent 7 s elsewhere: 3 s are left of its 10
    start = clock.now
    with pytest.raises(DeadlineReached) as reached:
        wait_for(client, never, 300, 0.5, "the savepoint of job j1")
    assert clock.now - start == pytest.approx(3, abs=0.5)
    assert str(reached.value) == ("the deadline of 10 s ran out while waiting for the savepoint "
                                  "of job j1 (waited 3 s)")
    assert reached.value.what == "the savepoint of job j1"


def test_a_wait_shorter_than_the_time_left_keeps_its_own_timeout(client, clock):
    client.clock = Clock(deadline=100)
    with pytest.raises(FlinkTimeout) as timed_out:
        wait_for(client, never, 2, 0.5, "the thing")
    assert not isinstance(timed_out.value, DeadlineReached)


def test_a_wait_after_the_deadline_looks_once(client, clock):
    client.clock = Clock(deadline=1)
    clock.sleep(5)
    assert wait_for(client, lambda: "done", 300, 0.5, "x") == "done"
    with pytest.raises(DeadlineReached):
        wait_for(client, never, 300, 0.5, "x")
    assert clock.slept[-1] == 5  # it did not sleep again


def test_a_health_window_cut_short_by_the_deadline_is_neither_passed_nor_failed(client, script, clock):
    client.clock = Clock(deadline=1)
    for _poll in range(2):  # at once and 1 s later (HEALTH_POLL_INTERVAL), when the deadline ends
        script.on("GET", "/jobs/overview", overview(job("j1")))
    with pytest.raises(DeadlineReached) as reached:
        watch_health(client, "j1", 30, False, 0)
    assert "while waiting for the health window of job j1" in str(reached.value)


# --- progress lines --------------------------------------------------------------------------

def test_a_long_wait_reports_rate_limited_lines_and_a_short_one_none(client, clock):
    lines = []
    client.clock = Clock(deadline=700, report=lines.append)
    with pytest.raises(FlinkTimeout):
        wait_for(client, never, 4, 0.02, "the quick thing")
    assert lines == []
    with pytest.raises(FlinkTimeout):
        wait_for(client, never, 600, 0.02, "the savepoint of job j1")
    # after 5 s, then every 15 s, then a quarter of the time waited, at most once a minute:
    # 30 000 polls of ten minutes give a handful of lines
    assert 15 <= len(lines) <= 25, lines
    assert lines[0].startswith("waiting for the savepoint of job j1 (5 s of 600 s; "
                               "deadline in 69")
    assert lines[1].startswith("waiting for the savepoint of job j1 (20 s of 600 s")


def test_the_progress_writer_appends_redacted_lines_where_the_environment_says(tmp_path):
    redactor = Redactor()
    redactor.add("s3cr3t-t0ken")
    path = tmp_path / "progress"
    report = progress_writer("flink_job orders", redactor.text, {PROGRESS_FILE: str(path)})
    report("waiting for job j1 at http://u:s3cr3t-t0ken@flink:8081\nsecond line")
    report("waiting again")
    written = path.read_text(encoding="utf-8").splitlines()
    assert len(written) == 2 and all(line.startswith("flink_job orders: ") for line in written)
    assert "s3cr3t-t0ken" not in path.read_text(encoding="utf-8")
    assert written[1] == "flink_job orders: waiting again"


def test_without_the_variable_nothing_is_written_and_a_lost_file_fails_nothing(tmp_path):
    assert progress_writer("flink_job orders", str, {}) is None
    report = progress_writer("flink_job orders", str, {PROGRESS_FILE: str(tmp_path / "gone" / "p")})
    report("waiting")  # the directory is gone: no error


# --- the engine --------------------------------------------------------------------------

def test_a_deadline_during_the_stop_leaves_the_stop_to_flink_and_names_its_trigger(
        client, script, clock, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded)
    client.clock = Clock(deadline=10)
    clock.sleep(9.95)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    for _poll in range(4):  # every 0.02 s for the 0.05 s left; then no settling, no cancel
        script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], IN_PROGRESS)
    with pytest.raises(DeployFailure) as failed:
        engine(client, req).run()
    msg = str(failed.value)
    assert (failed.value.stage, failed.value.outcome) == ("stop", "deadline")
    assert msg.startswith("the deadline of 10 s ran out while waiting for the savepoint of job "
                          "%s" % current["jid"]), msg
    assert "(trigger t1)" in msg and "nothing was cancelled or started" in msg
    assert "Run the task again: if the job stopped, it resumes from that savepoint" in msg


def test_a_deadline_after_the_stop_names_the_savepoint_and_rolls_nothing_back(
        client, script, clock, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, wait_timeout=300)
    client.clock = Clock(deadline=10)
    expect_stop(script, job_id=current["jid"])
    # The submission, then 0.07 s are left: three polls 0.05 s apart find the job not running yet.
    jid = expect_run(script, spec_of(req, sha), healthy=False, check=lambda body: clock.sleep(9.93 - (clock.now - 1000)))
    for _poll in range(3):
        script.on("GET", "/jobs/overview", overview(job(jid, running=0)))
    eng = engine(client, req)
    with pytest.raises(DeployFailure) as failed:
        eng.run()
    msg = str(failed.value)
    assert failed.value.outcome == "deadline" and not eng.result.rolled_back
    assert msg.startswith("the deadline of 10 s ran out while waiting for every task of job %s "
                          "to run" % jid), msg
    assert ("This run stopped job %s with the savepoint %s and started job %s from it, which is "
            "left as it is (neither cancelled nor rolled back)" % (current["jid"], SP, jid)) in msg
    assert eng.result.to_dict()["savepoint"] == SP and eng.result.job_id == jid


def test_a_deadline_in_greens_gate_cancels_neither_version(
        client, script, clock, jar, sha, uploaded, monkeypatch):
    """Blue/green: the deadline is no verdict on green, so green is not cancelled as a failed
    gate would be; both run on and the message says a re-run finishes the handover."""
    monkeypatch.setattr(_bluegreen, "new_job_id", new_id)
    req, current = blue_green_setup(script, jar, sha, uploaded, wait_timeout=300)
    client.clock = Clock(deadline=10)
    expect_savepoint_while_running(script, current["jid"])
    jid = expect_run(script, spec_of(req, sha), healthy=False,
                     check=lambda body: clock.sleep(9.93 - (clock.now - 1000)))
    for _poll in range(3):
        script.on("GET", "/jobs/overview", overview(current, job(jid, running=0)))
    eng = engine(client, req)
    with pytest.raises(DeployFailure) as failed:
        eng.run()
    msg = str(failed.value)
    assert failed.value.outcome == "deadline" and "blue-green aborted" not in msg
    assert msg.startswith("the deadline of 10 s ran out while waiting for every task of job %s" % jid)
    assert "No job was stopped by this run; job %s was started and is left as it is" % jid in msg
    assert not any(call.startswith("PATCH") or "/stop" in call for call in script.calls())
