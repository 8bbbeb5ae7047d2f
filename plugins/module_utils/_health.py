# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Prove a new job can checkpoint, and say why a job failed.

Waiting for a job's own checkpoint interval can take minutes (a job that checkpoints
every 10 minutes). Flink 1.17+ triggers a checkpoint on request
(``POST /jobs/:id/checkpoints``); a client-chosen ``triggerId`` makes the request
safe to repeat, and ``GET /jobs/:id/checkpoints/:triggerid`` says how it ended.

A job with checkpointing off still completes a triggered checkpoint (seen on 2.3
and 1.20), but it would never checkpoint on its own, so it cannot recover without
losing state: the gate reads ``/jobs/:id/checkpoints/config`` first and fails
such a job with a message that says checkpointing is off.

Failures are classified from the exception history (with the ``failureLabels`` a
FailureEnricher attaches) and ``/jobs/:id/execution-result``.
"""

from __future__ import annotations

import time
import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    root_cause,
)
from ansible_collections.flinkops.flink.plugins.module_utils._hooks import Hooks
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import restart_count
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    poll_operation,
    wait_for,
    wait_until_running,
    watch_health,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import is_planned
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    checkpoint_config_or_none,
    job_checkpoints,
    job_exceptions,
    job_execution_result,
    operation_status,
    trigger_checkpoint,
)

# The interval /checkpoints/config reports for a job whose periodic checkpointing is
# off (Long.MAX_VALUE), on 1.18 .. 2.3.
CHECKPOINTING_OFF = 2 ** 63 - 1
CHECKPOINT_POLL_INTERVAL = 0.1
# A forced checkpoint (blue/green's green, before an in-place rescale) waited for at most this.
CHECKPOINT_TIMEOUT = 600
# While the triggered checkpoint is in progress, every this many polls (2 s) the
# job's checkpoint history is read too.
HISTORY_EVERY_POLLS = 20


def checkpointing_interval(config):
    """The periodic checkpoint interval in ms, or None when checkpointing is off."""
    interval = (config or {}).get("interval")
    if not isinstance(interval, int) or interval <= 0 or interval >= CHECKPOINTING_OFF:
        return None
    return interval


def checkpoint_outcome(job_id, trigger_id, answer):
    """None while running; the checkpoint id when completed; FlinkError if it failed."""
    if ((answer or {}).get("status") or {}).get("id") != "COMPLETED":
        return None
    operation = answer.get("operation") or {}
    failure = operation.get("failure-cause")
    if failure:
        raise FlinkError("the checkpoint triggered to prove job %s healthy failed (trigger %s)" % (
            job_id, trigger_id), cause=root_cause([failure.get("stack-trace") or
                                                   failure.get("class") or str(failure)]))
    return operation.get("checkpointId")


def completed_checkpoint_id(client, job_id):
    """The id of the newest checkpoint the job itself completed (not a savepoint), or None."""
    history = job_checkpoints(client, job_id)
    completed = ((history or {}).get("latest") or {}).get("completed") or {}
    if completed.get("id") is not None and not completed.get("is_savepoint"):
        return completed["id"]
    return None


def prove_checkpoint(client, job_id, timeout, trigger_id=None):
    """Trigger a checkpoint of ``job_id`` and wait until it completes.

    Returns {"checkpoint_id", "trigger_id", "interval_ms"}. Raises FlinkError when
    checkpointing is off, when the checkpoint fails, or on timeout.
    """
    config = checkpoint_config_or_none(client, job_id)
    interval = checkpointing_interval(config if isinstance(config, dict) else None)
    if interval is None:
        raise FlinkError("job %s has checkpointing off (no periodic checkpoint interval), so "
                         "health_require_checkpoint cannot be met: it would never checkpoint "
                         "on its own and could not recover its state. Enable checkpointing "
                         "(execution.checkpointing.interval) or set health_require_checkpoint: "
                         "false" % job_id)
    trigger_id = trigger_id or uuid.uuid4().hex
    status = trigger_checkpoint(client, job_id, trigger_id)

    polls = []

    def check():
        answer = operation_status(client, status)
        outcome = checkpoint_outcome(job_id, trigger_id, answer)
        polls.append(outcome)
        if outcome is None and len(polls) % HISTORY_EVERY_POLLS == 0:
            # A trigger that reached tasks as a bounded input finished can stay
            # IN_PROGRESS for good (seen on 2.3); any checkpoint the new job
            # completed proves the same thing.
            outcome = completed_checkpoint_id(client, job_id)
        return outcome
    checkpoint_id = wait_for(client, check, timeout, CHECKPOINT_POLL_INTERVAL,
                             "the checkpoint triggered on job %s (trigger %s)" % (job_id, trigger_id))
    return {"checkpoint_id": checkpoint_id, "trigger_id": trigger_id, "interval_ms": interval}


def force_checkpoint(client, job_id, timeout=CHECKPOINT_TIMEOUT):
    """Trigger a checkpoint now (``POST /jobs/:id/checkpoints``, Flink 1.17+) and wait for it,
    whatever the job's interval (blue/green's green, before an in-place rescale).

    The client-chosen trigger id makes a repeated request harmless; the job's own checkpoint
    kind is kept (``_rest.trigger_checkpoint``). Returns {"checkpoint_id", "trigger_id"}, the
    shape of ``prove_checkpoint``'s proof.
    """
    trigger_id = uuid.uuid4().hex
    status = trigger_checkpoint(client, job_id, trigger_id)
    operation = poll_operation(client, status, timeout,
                               "a checkpoint of job %s" % job_id, interval=0.1)
    return {"checkpoint_id": operation.get("checkpointId"), "trigger_id": trigger_id}


# ---------------------------------------------------------------------------
# Why did it fail?

# A restart this recent makes a running job unhealthy (an older one is history).
RECENT_S = 600
# Reads of a failed job's history, 1 s apart, while it names no root cause yet.
ROOT_CAUSE_RETRIES = 3


def recent_restarts(client, job_id, now_ms=None):
    """How many failures the job recorded in the last RECENT_S seconds, not counting
    waits for slots (``_jobstate.SLOT_WAIT``)."""
    now_ms = now_ms if now_ms is not None else time.time() * 1000
    return restart_count(client, job_id, since_ms=now_ms - RECENT_S * 1000)


def _labels(entry):
    labels = dict(entry.get("failureLabels") or {})
    for other in entry.get("concurrentExceptions") or []:
        for key, value in (other.get("failureLabels") or {}).items():
            labels.setdefault(key, value)
    return labels


def classify_failure(exceptions, execution_result):
    """What failed, from /jobs/:id/exceptions and /jobs/:id/execution-result (pure).

    Returns {"root_cause", "labels", "task", "status"}; any of them may be None/{}.
    The execution result's cause wins for a job that ended; the exception history
    names the task and carries the labels.
    """
    info = {"root_cause": None, "labels": {}, "task": None, "status": None}
    entries = ((exceptions or {}).get("exceptionHistory") or {}).get("entries") or []
    if entries:
        newest = entries[0]
        info["labels"] = _labels(newest)
        info["task"] = newest.get("taskName")
        text = newest.get("stacktrace") or newest.get("exceptionName")
        info["root_cause"] = root_cause([text]) if text else None
    elif (exceptions or {}).get("root-exception"):
        info["root_cause"] = root_cause([exceptions["root-exception"]])
    result = (execution_result or {}).get("job-execution-result") or {}
    info["status"] = result.get("application-status")
    failure = result.get("failure-cause") or {}
    if failure.get("stack-trace") or failure.get("class"):
        info["root_cause"] = root_cause([failure.get("stack-trace") or failure["class"]])
    return info


def describe_failure(info):
    """"root cause: X (task T; labels k=v)", or None when nothing is known."""
    if not info or not info.get("root_cause"):
        return None
    extra = []
    if info.get("task"):
        extra.append("task %s" % info["task"])
    if info.get("labels"):
        extra.append("failure labels %s" % ", ".join(
            "%s=%s" % (k, info["labels"][k]) for k in sorted(info["labels"])))
    return "root cause: %s%s" % (info["root_cause"], " (%s)" % "; ".join(extra) if extra else "")


def read_failure(client, job_id):
    """Read and classify a job's failure; diagnostics only, so a failed read gives {}."""
    return classify_failure(job_exceptions(client, job_id), job_execution_result(client, job_id))


# ---------------------------------------------------------------------------
# The gate the engine runs after a submission

def health_gate(client, request, job_id, started_ms, result=None, on_running=None):
    """Wait until the new job runs (then call ``on_running(job_id)``), prove a checkpoint
    (``health_require_checkpoint``), then watch ``health_window``. Returns the result
    fields to set (job, health).

    ``result`` (the engine's DeployResult) gets the fields seen so far when a later
    step fails, so a failure still reports what was proven.
    """
    fields = {}
    try:
        fields["job"] = wait_until_running(client, job_id, request.wait_timeout)
        if on_running is not None:
            on_running(job_id)
        proof = None
        if request.health_require_checkpoint:
            # A triggered checkpoint proves it in seconds, whatever the job's interval.
            proof = prove_checkpoint(client, job_id, request.savepoint_timeout)
            fields["health"] = {"window": request.health_window, "checkpoint": proof}
        if request.health_window:
            health = watch_health(client, job_id, request.health_window, False, started_ms)
            fields.update(job=health["job"], health={"window": request.health_window,
                                                     "checkpoint": proof})
    except FlinkError:
        if result is not None and fields:
            result.update(**fields)
        raise
    return fields


def explain(failure, info):
    """Add what Flink says about the failed job to ``failure``'s cause, without repeating it."""
    text = describe_failure(info)
    if not text:
        return
    if info["root_cause"] in str(failure):
        extra = text[len("root cause: %s" % info["root_cause"]):].strip()
        if not extra:
            return
        text = "the failed job's %s" % extra.strip("()")
    old = failure.cause
    failure.cause = "%s; %s" % (old, text) if old and old not in failure.msg else text


class FailureClassifier(Hooks):
    """The engine's ``after_change`` hook: a run that failed after submitting a job
    gets that job's root cause, failing task and failure labels in its message
    (the rollback message included). Two reads, only on failure."""

    def after_change(self, run, failure):
        result = run.result
        if failure is None or result.action not in ("started", "resumed", "upgraded") or \
                getattr(failure, "outcome", None) == "deadline":  # no job failed: none to explain
            return
        job_id = result.failed_job_id or result.job_id
        if not job_id or is_planned(job_id) or job_id == result.previous_job_id:
            return
        info = read_failure(run.client, job_id)
        for _retry in range(ROOT_CAUSE_RETRIES):
            if info.get("root_cause"):
                break
            # Flink 1.x files a task failure in the history only once it handled it.
            run.client.sleep(1.0)
            info = read_failure(run.client, job_id)
        explain(failure, info)
