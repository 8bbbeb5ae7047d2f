# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Reading Flink's answers: job states, health, where state is, what failed.

The one source of truth for which states count as active, what "healthy"
means, and how a savepoint, a restore origin or a failure is read from Flink's
answers. Pure functions of answers, plus the few reads they need.
"""

from __future__ import annotations

import hashlib
import re
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError, root_cause
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cluster_overview,
    job_checkpoint_config,
    job_checkpoints,
    job_details,
    job_exceptions,
    jobmanager_config,
    list_jobs,
)

# Flink's JobStatus values: a job in one of ACTIVE_STATES holds (or will hold)
# slots and can still change; TERMINAL_STATES never change again.
ACTIVE_STATES = frozenset(("INITIALIZING", "CREATED", "RUNNING", "FAILING", "CANCELLING",
                           "RESTARTING", "RECONCILING", "SUSPENDED"))
TERMINAL_STATES = frozenset(("FINISHED", "CANCELED", "FAILED"))
# A job in one of these states is not going to become healthy by waiting.
UNHEALTHY_STATES = frozenset(("FAILING", "RESTARTING", "FAILED", "CANCELED", "CANCELLING",
                              "FINISHED", "SUSPENDED"))
SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")


def is_active(job):
    return (job or {}).get("state") in ACTIVE_STATES


def is_terminal(job):
    return (job or {}).get("state") in TERMINAL_STATES


def name_matches(job, name, match):
    if match == "prefix":
        return job.get("name", "").startswith(name)
    return job.get("name") == name


def matching_jobs(jobs, name, match="exact", states=None):
    """The jobs of a /jobs/overview listing that carry ``name``, in its order."""
    return [job for job in jobs
            if name_matches(job, name, match) and (states is None or job.get("state") in states)]


def the_active_run(runs, name, match):
    """The one active job among a name's ``runs``, or None; several is an error."""
    active = [job for job in runs if is_active(job)]
    if len(active) > 1:
        raise FlinkError("%d jobs match name %r (%s): %s; refusing to guess which one to "
                         "manage" % (len(active), name, match, ", ".join(
                             "%s (%s)" % (job["jid"], job["state"]) for job in active)))
    return active[0] if active else None


def what_runs(runs):
    """What runs among a name's ``runs``, said for a message."""
    active = [job for job in runs if is_active(job)]
    if not active:
        return "nothing runs now"
    return "what runs now is %s" % ", ".join(
        "job %s (%s)" % (job["jid"], describe_state(job)) for job in active)


def what_runs_now(client, name, match):
    """What runs under ``name`` now, as Flink says (for a message after a failure)."""
    try:
        jobs = list_jobs(client)
    except FlinkError:
        return "what runs now is unknown (Flink did not answer)"
    return what_runs(matching_jobs(jobs, name, match))


# ---------------------------------------------------------------------------
# Health: the one definition, used by the wait, the health gate, the no-op
# check and the rollback decision.

def unhealthy_reason(job, restarts=0):
    """Why a job (a /jobs/overview entry) is not healthy, or None when it is.

    Healthy the way Flink means it: the job is RUNNING, it has tasks and every
    one is RUNNING or FINISHED, and it has not restarted since it started
    (``restarts``, from ``restart_count``). FINISHED counts: since Flink 1.15 a
    job runs on, and checkpoints, after some tasks finish (a source subtask that
    got no split, a bounded side input). Job state alone is not enough: tasks
    can wait minutes for slots while the job says RUNNING.
    """
    job = job or {}
    tasks = job.get("tasks") or {}
    if job.get("state") != "RUNNING":
        return describe_state(job)
    total = tasks.get("total") or 0
    if not total or (tasks.get("running") or 0) + (tasks.get("finished") or 0) != total:
        return "not every task runs: %s" % describe_state(job)
    if restarts:
        return "restarted %d time%s since it started" % (restarts, "" if restarts == 1 else "s")
    return None


def is_healthy(job, restarts=0):
    return unhealthy_reason(job, restarts) is None


def describe_state(job):
    job = job or {}
    return "state %s, tasks %s" % (job.get("state"), job.get("tasks"))


# ---------------------------------------------------------------------------
# Failures

def root_exception(client, job_id):
    """The first lines of the job's most recent failure, on 1.x and 2.x alike."""
    data = job_exceptions(client, job_id)
    history = (data.get("exceptionHistory") or {}).get("entries") or []
    if history:
        text = history[0].get("stacktrace") or history[0].get("exceptionName")
    else:
        text = data.get("root-exception")
    if not text:
        return None
    return root_cause([text]) if "Caused by:" in text else text.strip().splitlines()[0]


# What Flink records while a job asks for slots no TaskManager offers (one was lost and
# is not back yet, or the cluster is short of slots): the job restarts until slots come.
# That says nothing about the program, so health checks neither count it as a restart
# nor fail a job for it; a job that never gets slots fails on its wait's timeout.
SLOT_WAIT = "NoResourceAvailableException"


def failures(data):
    """A job's recorded failures, newest first, as (timestamp ms, text), from its
    /exceptions answer (``exceptionHistory`` on 1.18+, the older fields otherwise)."""
    entries = (data.get("exceptionHistory") or {}).get("entries")
    if entries is not None:
        return [(e.get("timestamp") or 0, e.get("stacktrace") or e.get("exceptionName") or "")
                for e in entries]
    found = [(data.get("timestamp") or 0, data["root-exception"])] if data.get(
        "root-exception") else []
    return found + [(e.get("timestamp") or 0, e.get("exception") or "")
                    for e in data.get("all-exceptions") or []]


def is_slot_wait(text):
    return SLOT_WAIT in (text or "")


def restart_count(client, job_id, since_ms=None):
    """How many failures the job recorded (since ``since_ms``), not counting waits for slots."""
    return len([text for stamp, text in failures(job_exceptions(client, job_id))
                if not is_slot_wait(text) and (since_ms is None or stamp > since_ms)])


def waiting_for_slots(client, job_id):
    """Whether a restarting job is only waiting for slots: its newest failure is a slot
    wait, or none is recorded yet (Flink's cached /exceptions can lag the job's state)."""
    recorded = failures(job_exceptions(client, job_id))
    return not recorded or is_slot_wait(recorded[0][1])


# ---------------------------------------------------------------------------
# Where state is

def savepoint_info(checkpoints):
    """The latest completed savepoint of a job from its /checkpoints answer, or None."""
    latest = (checkpoints or {}).get("latest") or {}
    savepoint = latest.get("savepoint")
    if savepoint and savepoint.get("external_path"):
        return {
            "path": savepoint["external_path"],
            "timestamp": savepoint.get("latest_ack_timestamp") or savepoint.get(
                "trigger_timestamp"),
            "type": savepoint.get("checkpoint_type"),
            "id": savepoint.get("id"),
        }
    return None


def restored_from(checkpoints):
    """What a job was started from (savepoint or checkpoint), from its /checkpoints answer."""
    restored = ((checkpoints or {}).get("latest") or {}).get("restored")
    if restored and restored.get("external_path"):
        return {"path": restored["external_path"],
                "is_savepoint": restored.get("is_savepoint"),
                "restore_timestamp": restored.get("restore_timestamp")}
    return None


def latest_completed_checkpoint(checkpoints):
    return ((checkpoints or {}).get("latest") or {}).get("completed") or None


def completed_checkpoint_after(client, job_id, started_at_ms):
    latest = latest_completed_checkpoint(job_checkpoints(client, job_id))
    if latest and latest.get("latest_ack_timestamp", 0) >= started_at_ms:
        return latest
    return None


def checkpoints_survive_cancel(client, job_id):
    """Whether the job's checkpoints are kept when it is cancelled (RETAIN_ON_CANCELLATION)."""
    externalization = job_checkpoint_config(client, job_id).get("externalization") or {}
    return bool(externalization.get("enabled")) and not externalization.get(
        "delete_on_cancellation")


def retained_checkpoint(client, job_id, checkpoints, survive_cancel=None):
    """The latest completed checkpoint of an ended job, if Flink kept it, else None.
    ``survive_cancel``: what ``checkpoints_survive_cancel`` said already (None: ask)."""
    completed = latest_completed_checkpoint(checkpoints) or {}
    path = completed.get("external_path")
    if not path or path.startswith("<"):
        return None
    if survive_cancel is None:
        survive_cancel = checkpoints_survive_cancel(client, job_id)
    if not survive_cancel:
        return None
    return {"path": path, "timestamp": completed.get("latest_ack_timestamp") or 0}


def last_state(client, job_id, checkpoints):
    """Where an ended run's state is: the newer of its last savepoint and its retained
    checkpoint; failing both, what it was restored from. A path or None."""
    candidates = [c for c in (savepoint_info(checkpoints),
                              retained_checkpoint(client, job_id, checkpoints)) if c]
    if candidates:
        return max(candidates, key=lambda c: c.get("timestamp") or 0)["path"]
    restored = restored_from(checkpoints)
    return restored["path"] if restored else None


def settled_checkpoints(client, job, cache_ttl=None):
    """/checkpoints of an ended job, read only once Flink's cache holds its final state.

    Flink serves /jobs/:id/checkpoints from a cache whose answers live ``cache_ttl``
    seconds (``checkpoint_stats_ttl``; without the cluster's configuration at hand, the
    ``refresh-interval`` every version defaults it to): read earlier, a checkpoint that was
    already subsumed (and deleted) can still be listed as the latest.
    """
    if cache_ttl is None:
        cache_ttl = (client.dashboard_config.get("refresh-interval") or 3000) / 1000.0
    ended_ms = job.get("end-time") or 0
    wait_s = ended_ms / 1000.0 + cache_ttl + 0.5 - time.time()
    if wait_s > 0:
        client.sleep(min(wait_s, cache_ttl + 1))
    return job_checkpoints(client, job["jid"])


# Flink's duration units (TimeUtils.parseDuration); a bare number is milliseconds.
_DURATION_UNITS_MS = {"": 1, "ms": 1, "milli": 1, "millis": 1, "millisecond": 1, "milliseconds": 1,
                      "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
                      "m": 60000, "min": 60000, "mins": 60000, "minute": 60000, "minutes": 60000,
                      "h": 3600000, "hour": 3600000, "hours": 3600000}


def duration_ms(value):
    """A Flink duration setting (``3000``, ``3 s``, ``1min``) in milliseconds, or None."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value if value is not None else ""))
    if not match or match.group(2).lower() not in _DURATION_UNITS_MS:
        return None
    return int(match.group(1)) * _DURATION_UNITS_MS[match.group(2).lower()]


def checkpoint_stats_ttl(client, config):
    """Seconds Flink's REST endpoint may answer /jobs/:id/checkpoints from its cache: an
    answer is kept this long after the request that filled it. The cache's own timeout
    (``rest.cache.checkpoint-statistics.timeout``, 1.19+) or ``web.refresh-interval``
    (1.18's execution graph cache, and the timeout's default); the longer when both are set."""
    refresh_ms = client.dashboard_config.get("refresh-interval") or 3000
    cache_ms = duration_ms(config.get("rest.cache.checkpoint-statistics.timeout")) or 0
    return max(refresh_ms, cache_ms) / 1000.0


def stats_generation(checkpoints):
    """What tells two fillings of that cache apart: the counts and latest ids, copied when
    Flink takes the statistics snapshot (an in-progress entry's acks are not: Flink shares
    that object with later snapshots, so it can change inside one cached answer)."""
    counts = (checkpoints or {}).get("counts") or {}
    latest = (checkpoints or {}).get("latest") or {}
    return (tuple(counts.get(key) for key in ("total", "in_progress", "completed", "failed")),
            tuple((latest.get(kind) or {}).get("id") for kind in ("completed", "failed", "savepoint")))


def resume_point(client, runs, cache_ttl=None):
    """The state to resume a job from after it stopped: the last state of the run that
    ended last.

    Only a run that really ran counts (a submission that failed leaves a FAILED job with
    no tasks), and the one that ended last holds the newest state: an aborted blue/green's
    green started after its blue but ended before it, and its state is older. Any other
    choice would silently roll the state back. Returns (job, path or None).
    """
    ended = [job for job in runs if is_terminal(job) and job.get("tasks", {}).get("total")]
    if not ended:
        return None, None
    job = max(ended, key=lambda run: run.get("end-time") or 0)
    return job, last_state(client, job["jid"], settled_checkpoints(client, job, cache_ttl))


# ---------------------------------------------------------------------------
# Descriptions for the info modules

# 2.x: high-availability.type; 1.x also the older high-availability (and .mode before 1.15).
HA_KEYS = ("high-availability.type", "high-availability", "high-availability.mode")


def high_availability(config):
    """The high-availability kind the JobManager configuration ``config`` shows, or None."""
    for key in HA_KEYS:
        value = str(config.get(key) or "").strip()
        if value and value.upper() != "NONE":
            return "%s: %s" % (key, value)
    return None


# Settings every JobManager of one cluster shares and other clusters do not: what tells
# clusters apart in job ids (_guard.successor_id). Without high availability the one
# JobManager's RPC address joins them.
LINEAGE_KEYS = ("high-availability.cluster-id", "kubernetes.cluster-id", "high-availability.storageDir",
                "high-availability.zookeeper.quorum", "execution.checkpointing.dir",
                "state.checkpoints.dir")


def cluster_lineage(config):
    """A short digest of what tells this cluster apart from others (see LINEAGE_KEYS)."""
    keys = LINEAGE_KEYS if high_availability(config) else LINEAGE_KEYS + ("jobmanager.rpc.address",)
    found = ["%s=%s" % (key, config[key]) for key in keys if config.get(key)]
    if not found:
        return ""
    return hashlib.sha256(";".join(found).encode("utf-8")).hexdigest()[:16]


def default_savepoint_dir(config):
    for key in SAVEPOINT_DIR_KEYS:
        if config.get(key):
            return config[key]
    return None


def cluster_info(client):
    """Version, capacity and the deployment-relevant configuration of a cluster."""
    dashboard = client.dashboard_config
    overview = cluster_overview(client)
    config = jobmanager_config(client)

    def first(*keys):
        for key in keys:
            if config.get(key) not in (None, ""):
                return config[key]
        return None

    return {
        "flink_version": dashboard.get("flink-version"),
        "flink_revision": dashboard.get("flink-revision"),
        "overview": {
            "taskmanagers": overview.get("taskmanagers"),
            "slots_total": overview.get("slots-total"),
            "slots_available": overview.get("slots-available"),
            "jobs_running": overview.get("jobs-running"),
            "jobs_finished": overview.get("jobs-finished"),
            "jobs_cancelled": overview.get("jobs-cancelled"),
            "jobs_failed": overview.get("jobs-failed"),
        },
        "configuration": {
            "savepoint_dir": default_savepoint_dir(config),
            "checkpoint_dir": first("execution.checkpointing.dir", "state.checkpoints.dir"),
            "checkpoint_interval": first("execution.checkpointing.interval"),
            "externalized_checkpoint_retention": first(
                "execution.checkpointing.externalized-checkpoint-retention"),
            "restart_strategy": first("restart-strategy.type", "restart-strategy"),
            "default_parallelism": first("parallelism.default"),
            "refresh_interval_ms": dashboard.get("refresh-interval"),
        },
    }


def describe_job(client, job, spec=None):
    """Everything flink_job_info reports about one job (a /jobs/overview entry).

    ``spec`` is the job's recorded spec (``_identity.running_spec``), None when unknown.
    """
    job_id = job["jid"]
    details = job_details(client, job_id)
    checkpoints = job_checkpoints(client, job_id)
    completed = latest_completed_checkpoint(checkpoints) or {}
    vertices = details.get("vertices") or []
    described = {
        "job_id": job_id,
        "name": job.get("name"),
        "state": job.get("state"),
        "active": is_active(job),
        "start_time": job.get("start-time"),
        "end_time": job.get("end-time") if (job.get("end-time") or -1) > 0 else None,
        "duration_ms": job.get("duration"),
        "tasks": job.get("tasks"),
        "parallelism": max([v.get("parallelism", 0) for v in vertices] or [0]) or None,
        "latest_checkpoint": {
            "path": completed.get("external_path"),
            "timestamp": completed.get("latest_ack_timestamp"),
            "id": completed.get("id"),
        } if completed else None,
        "latest_savepoint": savepoint_info(checkpoints),
        "restored_from": restored_from(checkpoints),
        "failure": None,
        "managed": spec is not None,
        "spec": dict(spec) if spec is not None else None,
    }
    if job.get("state") in ("FAILED", "FAILING", "RESTARTING"):
        described["failure"] = root_exception(client, job_id)
    return described
