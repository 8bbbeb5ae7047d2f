# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Waiting: one waiter (deadline, interval) and one ``poll_operation`` for Flink's
asynchronous operations, and the job waits built on them.

Every wait in the collection goes through ``wait_for``; every triggered
operation (savepoint, stop, disposal) through ``poll_operation``. A run's
``Clock`` (``client.clock``) bounds them all by one overall deadline and hears
how long each has waited, for the progress lines the operator sees.
"""

from __future__ import annotations

import re
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    FlinkTimeout,
)
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    TERMINAL_STATES,
    UNHEALTHY_STATES,
    completed_checkpoint_after,
    describe_state,
    is_slot_wait,
    restart_count,
    root_exception,
    savepoint_info,
    settled_checkpoints,
    unhealthy_reason,
    waiting_for_slots,
)
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    find_job,
    job_checkpoint_config,
    operation_status,
    savepoint_status_path,
    trigger_disposal,
)

POLL_INTERVAL = 0.05
# The savepoint that stops a job is polled tighter: every poll interval there is downtime.
SAVEPOINT_POLL_INTERVAL = 0.02
# The health window has a fixed length, so a tighter poll shortens no downtime: it would only
# load the JobManager (each poll lists its jobs). A restart between two polls is still seen:
# the window ends by comparing the job's restart count.
HEALTH_POLL_INTERVAL = 1.0


def _now():
    return time.monotonic()


def seconds(value):
    """A number of seconds as people write it: 20 s, 2.5 s."""
    return "%g s" % round(value, 1)


class DeadlineReached(FlinkError):
    """The run's overall deadline ran out while a wait still waited: not a verdict on what was
    waited for (a FlinkTimeout is one), so nothing may be rolled back or cancelled for it."""

    def __init__(self, deadline, what, waited):
        self.deadline = deadline
        self.what = what
        super().__init__("the deadline of %s ran out while waiting for %s (waited %s)" % (
            seconds(deadline), what, seconds(waited)))


# A wait reports once it has lasted this long, then every REPORT_EVERY seconds, less often as it
# goes on (a quarter of the time waited so far, at most once a minute): a savepoint of ten minutes
# gives about twenty lines, a wait of a second none.
FIRST_REPORT = 5.0
REPORT_EVERY = 15.0
REPORT_AT_MOST = 60.0


class Clock:
    """One run's overall deadline (``deadline`` seconds from now, None for none) and where its
    waits report how long they have waited (``report(line)``, or None).

    Kept on the client (``client.clock``): every wait is handed the client, so every wait is
    bounded and heard without a parameter threaded through the engine.
    """

    def __init__(self, deadline=None, report=None):
        self.deadline = deadline
        self.report = report
        self.ends = None if deadline is None else _now() + deadline

    def allow(self, timeout):
        """How long a wait of ``timeout`` seconds may wait: its own timeout or the time left."""
        if self.ends is None:
            return timeout
        return max(0.0, min(timeout, self.ends - _now()))

    def wait(self, what, timeout):
        return Wait(self, what, timeout)


UNBOUNDED = Clock()


def clock_of(client):
    """The run's Clock, or one without deadline or reports (a client no module set one on)."""
    return getattr(client, "clock", None) or UNBOUNDED


class Wait:
    """One wait under a Clock: when it must end, and its progress reports."""

    def __init__(self, clock, what, timeout):
        self.clock = clock
        self.what = what
        self.timeout = timeout
        self.started = _now()
        self.allowed = clock.allow(timeout)
        self.ends = self.started + self.allowed
        self.next_report = self.started + FIRST_REPORT

    def over(self):
        return _now() >= self.ends

    def give_up(self, timeout_message=None):
        """Raise what ended the wait: the run's deadline (DeadlineReached) when it cut the wait
        short, else the wait's own timeout (FlinkTimeout, ``timeout_message`` if given)."""
        waited = _now() - self.started
        if self.allowed < self.timeout:
            raise DeadlineReached(self.clock.deadline, self.what, waited)
        raise FlinkTimeout(timeout_message or "timed out after %ss waiting for %s" % (
            self.timeout, self.what))

    def tick(self):
        """Report how long this wait has waited, when a report is due."""
        now = _now()
        if self.clock.report is None or not self.what or now < self.next_report:
            return
        waited = now - self.started
        self.next_report = now + min(REPORT_AT_MOST, max(REPORT_EVERY, waited / 4))
        left = ""
        if self.clock.ends is not None:
            left = "; deadline in %s" % seconds(max(0.0, self.clock.ends - now))
        self.clock.report("waiting for %s (%s of %s%s)" % (
            self.what, seconds(waited), seconds(self.timeout), left))


def wait_for(client, check, timeout, interval, what):
    """Call ``check()`` until it returns something other than None.

    Raises FlinkTimeout naming ``what`` when ``timeout`` seconds pass first, or
    DeadlineReached when the run's deadline (``client.clock``) comes earlier.
    """
    wait = clock_of(client).wait(what, timeout)
    while True:
        result = check()
        if result is not None:
            return result
        if wait.over():
            wait.give_up()
        wait.tick()
        client.sleep(interval)


class OperationFailed(FlinkError):
    """Flink completed an asynchronous operation with a ``failure-cause``."""


def poll_operation(client, path, timeout, what, interval=POLL_INTERVAL, on_failure=None,
                   on_timeout=""):
    """Poll an asynchronous operation at ``path`` until Flink says COMPLETED.

    COMPLETED is not success: Flink reports a failed operation as COMPLETED
    with a ``failure-cause``, raised here as OperationFailed, so no caller can
    go on as if it succeeded. ``on_failure`` says what such a failure leaves
    behind (e.g. "the job was left as it is"), or is a function of Flink's cause
    that says it; ``on_timeout`` is appended to the timeout's message. Returns
    the ``operation`` dict.
    """
    def check():
        answer = operation_status(client, path)
        if (answer.get("status") or {}).get("id") != "COMPLETED":
            return None
        return answer.get("operation") or {}

    try:
        operation = wait_for(client, check, timeout, interval, what)
    except FlinkTimeout:
        raise FlinkTimeout("%s did not complete within %ss%s" % (what, timeout, on_timeout))
    failure = operation.get("failure-cause")
    if failure:
        cause = _cause_text(failure)
        left = on_failure(cause) if callable(on_failure) else on_failure
        raise OperationFailed("%s failed%s" % (what, "; " + left if left else ""),
                              method="GET", url=client.public_url(path), status=200,
                              errors=[cause])
    return operation


def _cause_text(failure):
    """Flink's text of an operation's ``failure-cause``."""
    return failure.get("stack-trace") or failure.get("class") or str(failure)


LEFT_AS_IT_IS = "the job was left as it is"
# A stop that wrote its savepoint, then lost a task before the job finished (a TaskManager died):
# Flink names the savepoint, calls it consistent and marks the exception non-recoverable, so the
# job ends FAILED there (seen on 1.18, 1.20, 2.3) and the savepoint holds its final state. Should
# a Flink fail such a job over instead, it runs on from its latest checkpoint: checked, not assumed.
_WRITTEN = re.compile(r"StopWithSavepointStoppingException: A savepoint has been created at: "
                      r"(.+?), but the corresponding job")


def written_before_failure(cause):
    """The savepoint a stop wrote before the job failed while stopping, or None."""
    match = _WRITTEN.search(cause or "")
    return match.group(1) if match else None


def wait_savepoint(client, job_id, trigger_id, timeout, interval=SAVEPOINT_POLL_INTERVAL,
                   timeout_leaves_job=True, on_failure=LEFT_AS_IT_IS):
    """Wait for a savepoint (or a stop-with-savepoint); return its location.

    A failed savepoint leaves the job as it is (``on_failure`` may say otherwise).
    After a timeout that is known only for a plain savepoint (``timeout_leaves_job``):
    a stop may still happen.
    """
    operation = poll_operation(
        client, savepoint_status_path(job_id, trigger_id), timeout,
        "the savepoint of job %s" % job_id, interval, on_failure=on_failure,
        on_timeout=" (trigger %s)%s" % (trigger_id, "; " + LEFT_AS_IT_IS
                                        if timeout_leaves_job else ""))
    return operation["location"]


def _after_failed_stop(client, job_id, timeout):
    """"ended" or "running" once the job shows which, after a stop that failed once its
    savepoint was written; its last state seen when it showed neither within ``timeout``."""
    seen = {}

    def check():
        job = find_job(client, job_id)
        seen["state"] = (job or {}).get("state")
        if job is None or job.get("state") in TERMINAL_STATES:
            return "ended"
        return "running" if job.get("state") == "RUNNING" else None
    try:
        return wait_for(client, check, timeout, POLL_INTERVAL * 4, "")
    except FlinkTimeout:
        return seen.get("state") or "unknown"


def wait_stop(client, job_id, trigger_id, timeout, end_timeout, warn):
    """Wait for a stop-with-savepoint; return the savepoint that holds the job's final state.

    A stop that failed after writing its savepoint stopped the job all the same when Flink
    ends the job rather than failing it over: as Flink's message says, that savepoint is where
    to start from (the Kubernetes operator does the same, FLINK-33522). Otherwise the failure
    is raised, saying whether the job runs again or was seen doing neither (then a re-run
    decides: ``stop_savepoint`` resumes an ended job from that savepoint). A timeout raises
    FlinkTimeout: the stop may still happen.
    """
    after = {}

    def left_by(cause):
        written = written_before_failure(cause)
        if written is None:
            # Said only when true: a stop can end the job although its savepoint failed.
            job = find_job(client, job_id)
            if job is None:
                return ("Flink no longer lists the job; nothing was started: run the task again, "
                        "which resumes from the job's last savepoint or retained checkpoint")
            if job.get("state") in TERMINAL_STATES:
                return ("the job has ended all the same (%s); nothing was started: run the task "
                        "again, which resumes from its last savepoint or retained checkpoint"
                        % job["state"])
            return LEFT_AS_IT_IS
        after.update(written=written, job=_after_failed_stop(client, job_id, end_timeout))
        if after["job"] == "running":
            return ("the savepoint was written, but the job failed while stopping and Flink "
                    "restarted it from its latest checkpoint; nothing was started: run the task "
                    "again once the job runs")
        return ("the savepoint %s was written, but the job failed while stopping and within %ss "
                "it neither ended nor ran again (last seen %s); nothing was started: run the task "
                "again, which goes on from that savepoint if the job has ended and takes a fresh "
                "one if it runs" % (written, end_timeout, after["job"]))
    try:
        return wait_savepoint(client, job_id, trigger_id, timeout, timeout_leaves_job=False,
                              on_failure=left_by)
    except OperationFailed:
        if after.get("job") != "ended":
            raise
        warn("the stop of job %s wrote its savepoint %s, then a task failed before the job "
             "finished and Flink ended the job: that savepoint holds its final state" % (
                 job_id, after["written"]))
        return after["written"]


STOP_ATTEMPTS = 8


def _stop_operation(client, job_id, trigger_id):
    """(status id, operation) of the stop Flink remembers under ``trigger_id``;
    (None, None) if it knows none (404) or cannot be asked."""
    try:
        answer = operation_status(client, savepoint_status_path(job_id, trigger_id), missing_ok=True)
    except FlinkError:
        return None, None
    if not isinstance(answer, dict) or not answer.get("status"):
        return None, None
    return answer["status"].get("id"), answer.get("operation") or {}


def open_stop_trigger(client, job_id, trigger_of):
    """The trigger id a stop of ``job_id`` uses: the first of ``trigger_of(0..)`` under
    which Flink remembers no failed stop. A failed stop of an earlier run is still
    reported under its id for minutes; repeating it would only replay that failure."""
    for attempt in range(STOP_ATTEMPTS):
        status, operation = _stop_operation(client, job_id, trigger_of(attempt))
        if status != "COMPLETED" or not operation.get("failure-cause"):
            return trigger_of(attempt)
    return trigger_of(STOP_ATTEMPTS)


def stop_savepoint(client, job_id, trigger_of):
    """The savepoint an ended job's stop wrote (a trigger of ``trigger_of(0..)``), or None.

    The guard shares deterministic stop triggers among the runs that stop a job,
    so a run that takes over from a run that died between the stop and the
    submit learns the stop's own location here, instead of waiting for Flink's
    /checkpoints to list it (seconds later, sometimes much later).
    """
    for attempt in range(STOP_ATTEMPTS + 1):
        status, operation = _stop_operation(client, job_id, trigger_of(attempt))
        if status is None:
            return None
        if status == "COMPLETED":
            # A stop that failed after writing its savepoint: the job has ended, so that
            # savepoint holds its final state.
            written = operation.get("location") or written_before_failure(
                _cause_text(operation.get("failure-cause") or {}))
            if written:
                return written
    return None


def dispose_savepoint(client, path, timeout):
    """Dispose of a savepoint; returns True if removed, False if it was already gone."""
    status_path = trigger_disposal(client, path)
    try:
        poll_operation(client, status_path, timeout, "the disposal of savepoint %s" % path,
                       POLL_INTERVAL * 4)
    except OperationFailed as exc:
        text = "\n".join(exc.errors or [])
        if "Cannot find meta data file" in text:
            # The path exists but holds no savepoint: nothing was disposed of.
            raise FlinkError("%s is not a savepoint (Flink finds no _metadata file in it); "
                             "nothing was disposed of" % path)
        if "FileNotFoundException" in text or "Cannot find" in text or \
                "does not exist" in text:
            return False
        raise
    return True


def wait_until_terminal(client, job_id, timeout, interval=POLL_INTERVAL * 4):
    """Wait until the job has ended; returns its last overview entry. A caller whose
    records stand still meanwhile polls tighter (``interval``)."""
    def check():
        job = find_job(client, job_id)
        if job is None or job.get("state") in TERMINAL_STATES:
            return job or {"jid": job_id}
        return None
    return wait_for(client, check, timeout, interval, "job %s to end" % job_id)


def settle_stop(client, job_id, since_ms, timeout, cache_ttl=None):
    """The savepoint a stop left when its outcome could not be read (no answer, a timeout),
    read from the job itself: ended FINISHED, with a savepoint completed after ``since_ms``
    (the stop's request) as its latest. None when the job shows no such end within ``timeout``.
    """
    try:
        job = wait_until_terminal(client, job_id, timeout)
        if job.get("state") != "FINISHED":
            return None
        latest = savepoint_info(settled_checkpoints(client, job, cache_ttl))
    except FlinkError:
        return None
    if latest and (latest.get("timestamp") or 0) >= since_ms:
        return latest["path"]
    return None


def wait_until_running(client, job_id, timeout, interval=POLL_INTERVAL, new=True):
    """Wait until the job is healthy (``_jobstate.unhealthy_reason``): every task
    running or finished, and for a ``new`` job, no restart since it started.

    A job that fails, restarts or ends while we wait raises FlinkError with
    Flink's root cause; a timeout says what state the job is in. A job that
    was running before this run (``new=False``) is not held to failures it
    recovered from long ago. A job restarting only because no TaskManager offers it
    slots yet (``_jobstate.SLOT_WAIT``) is waited for, not failed: a lost TaskManager
    that its supervisor brings back must not fail, nor roll back, a good version.
    """
    def check():
        job = find_job(client, job_id)
        if job is None:
            return None
        state = job.get("state")
        if state == "RESTARTING" and waiting_for_slots(client, job_id):
            return None
        if state in UNHEALTHY_STATES:
            raise FlinkError("job %s (%s) went %s instead of running" % (
                job_id, job.get("name"), state), cause=root_exception(client, job_id))
        if unhealthy_reason(job):
            return None
        restarts = restart_count(client, job_id) if new else 0
        if restarts:
            raise FlinkError("job %s (%s) %s" % (job_id, job.get("name"),
                                                 unhealthy_reason(job, restarts)),
                             cause=root_exception(client, job_id))
        return job
    try:
        return wait_for(client, check, timeout, interval, "every task of job %s to run" % job_id)
    except FlinkTimeout as exc:
        job = find_job(client, job_id) or {}
        last = root_exception(client, job_id)
        raise FlinkTimeout(exc.msg, cause="%s; last failure: %s%s" % (
            describe_state(job), last, _slot_wait_hint(job, last)))


def _slot_wait_hint(job, last_failure):
    """Why a job whose last failure was a slot wait is not running yet."""
    if not is_slot_wait(last_failure):
        return ""
    tasks = job.get("tasks") or {}
    if tasks.get("initializing") or tasks.get("deploying"):
        # The slots came, late: the tasks were restoring state when the time ran out.
        return (" (it waited for task slots, got them and was still restoring its state: a "
                "longer wait_timeout covers a TaskManager that comes back late, plus Flink's "
                "restart delay)")
    return (" (it waited for task slots no TaskManager offered: one was lost, or the cluster "
            "has too few slots)")


def watch_health(client, job_id, window, require_checkpoint, started_at_ms,
                 interval=HEALTH_POLL_INTERVAL, baseline_restarts=0):
    """Watch a running job for ``window`` seconds: no restart, every task running,
    and (optionally) a checkpoint completed after it started.

    Returns {"job", "checkpoint"}; raises FlinkError on the first sign of trouble, and
    DeadlineReached when the run's deadline ends the window early (not passed, not failed).
    """
    wait = clock_of(client).wait("the health window of job %s" % job_id, window)
    checkpoint = None
    while True:
        job = find_job(client, job_id) or {}
        reason = unhealthy_reason(job)
        if reason:
            raise FlinkError("job %s is not healthy: %s" % (job_id, reason),
                             cause=root_exception(client, job_id))
        if require_checkpoint and checkpoint is None:
            checkpoint = completed_checkpoint_after(client, job_id, started_at_ms)
        if wait.over():
            break
        wait.tick()
        client.sleep(interval)
    if wait.allowed < window:
        wait.give_up()
    checkpointing_off = False
    if require_checkpoint and checkpoint is None:
        checkpointing_off = not checkpointing_enabled(client, job_id)
        if not checkpointing_off:
            raise FlinkError("job %s completed no checkpoint within the health window of %ss" % (
                job_id, window))
    if restart_count(client, job_id) > baseline_restarts:
        raise FlinkError("job %s restarted during the health window" % job_id,
                         cause=root_exception(client, job_id))
    # A job whose program never enabled checkpointing can never complete one: the caller
    # passes it with a warning instead of failing it for a reason nobody can read.
    return dict({"job": job, "checkpoint": checkpoint},
                **({"checkpointing": "off"} if checkpointing_off else {}))


def checkpointing_enabled(client, job_id):
    """Whether the job checkpoints periodically. Flink reports a job without checkpointing with
    the interval Long.MAX_VALUE (or, on some versions, answers 404 for its checkpoint config)."""
    try:
        config = job_checkpoint_config(client, job_id) or {}
    except FlinkError as exc:
        if getattr(exc, "status", None) == 404:
            return False
        raise
    interval = config.get("interval")
    return isinstance(interval, int) and 0 < interval < 2 ** 63 - 1
