# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Watching a cluster: what the event source ``flinkops.flink.flink_jobs`` sees and says.

Two halves, so that the decisions are tested without a clock or an event loop:

- ``observe(client, ...)`` reads one snapshot of a cluster (plain data) through the
  collection's client: ``/jobs/overview``, and per active job its checkpoint statistics and
  its ``numRestarts`` metric; plus, from the records, which managed jobs should run.
- ``Watcher.step(snapshot, now_ms)`` compares it with the previous one and returns the
  events, each once, each with a deterministic ``meta.uuid`` (the same change seen again by a
  restarted activation gets the same id).
"""

from __future__ import annotations

import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._health import classify_failure
from ansible_collections.flinkops.flink.plugins.module_utils._identity import running_fingerprint
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import ACTIVE_STATES, failures
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations, wanted_run
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cluster_overview,
    job_checkpoints,
    job_exceptions,
    job_metrics,
    list_jars,
    list_jobs,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_records

KINDS = ("job_state_changed", "job_restarted", "checkpoint_failed", "checkpoint_stale",
         "root_exception", "managed_job_missing", "slots_low", "cluster_unreachable",
         "cluster_reachable")
# A job in these states has failed (or is failing): its newest failure is read once per change.
FAILURE_STATES = ("FAILING", "RESTARTING", "FAILED")
EMITTED_KEPT = 10000
_NAMESPACE = uuid.UUID("8d3c1a52-6c1e-4f0e-9a43-5d2b7f1e0c11")


def event_id(*parts):
    """A deterministic id: the same observed change always gets the same one."""
    return str(uuid.uuid5(_NAMESPACE, "|".join("" if p is None else str(p) for p in parts)))


def should_run(operations):
    """Whether the operation log (newest first) says the job should run now: its newest
    decisive entry started it (refusals, no-ops and failed attempts do not decide)."""
    return wanted_run(operations) is not None


def _spec_fingerprint(entries, job_id):
    """(fingerprint, spec record) of the spec job ``job_id`` runs (``_identity``), or Nones."""
    fingerprint = running_fingerprint(entries, job_id)
    record = spec_records(entries).get(fingerprint)
    return (fingerprint, record) if record else (None, None)


def _number(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def restarts_of(client, job_id):
    """Flink's ``numRestarts`` job metric, or None when Flink does not give it."""
    try:
        return _number(job_metrics(client, job_id, ["numRestarts"]).get("numRestarts"))
    except FlinkError:
        return None


def _checkpoint_facts(client, job_id):
    try:
        stats = job_checkpoints(client, job_id) or {}
    except FlinkError:
        return {}
    latest = stats.get("latest") or {}
    completed = latest.get("completed") or {}
    failed = latest.get("failed") or {}
    return {"checkpoints_failed": _number((stats.get("counts") or {}).get("failed")),
            "last_checkpoint_ms": completed.get("latest_ack_timestamp"),
            "last_checkpoint_path": completed.get("external_path"),
            "checkpoint_failure": failed.get("failure_message")}


def _newest_failure(client, job_id):
    """The job's newest recorded failure: its time, root cause, task and failure labels."""
    data = job_exceptions(client, job_id)
    found = failures(data)
    if not found or not found[0][0]:
        return None
    info = classify_failure(data, None)
    return {"timestamp": found[0][0], "root_cause": info["root_cause"], "task": info["task"],
            "failure_labels": info["labels"]}


def _failure_changed(before, job):
    """Whether the job may have a new failure since ``before`` (its previous facts): it rose
    its restart count, or entered a failure state. Only then is ``/exceptions`` read."""
    if before is None:
        return job.get("state") in FAILURE_STATES
    rose = (before.get("restarts") or 0) < (job.get("restarts") or 0)
    return rose or (job.get("state") != before.get("state") and job.get("state") in FAILURE_STATES)


def _slots(client):
    try:
        found = cluster_overview(client)
    except FlinkError:
        return None
    return {"available": found.get("slots-available"), "total": found.get("slots-total"),
            "taskmanagers": found.get("taskmanagers")}


def observe(client, names=(), state=None, records=True, known=(), previous=None, slots=False):
    """One snapshot of the cluster: plain data for ``Watcher.step``.

    ``names``: the job names watched (empty: every job; managed ones found in the JAR store's
    spec records, and ``known``, the managed names earlier snapshots found: a durable store
    cannot list names, and a restarted JobManager without HA lists neither the jobs nor the
    JAR store's records). ``state``: the ``StateStore`` of the option ``state_store`` (None: no
    records read, so no managed-job facts). A cluster that does not answer ``/jobs/overview``
    is ``{"reachable": False, "error": ...}`` (the error redacted by the client).
    ``previous``: the jobs of the last snapshot, so that a job's failure record is read only
    when it changed. ``slots``: read ``/overview`` for the free task slots too.
    """
    try:
        listed = list_jobs(client)
    except FlinkError as exc:
        return {"reachable": False, "error": str(exc)}
    watched = set(names or ())
    jobs = {}
    for job in listed:
        if watched and job.get("name") not in watched:
            continue
        facts = {"job_id": job["jid"], "name": job.get("name"), "state": job.get("state"),
                 "start_time": job.get("start-time"), "end_time": job.get("end-time"),
                 "restarts": None, "checkpoints_failed": None, "last_checkpoint_ms": None}
        if job.get("state") in ACTIVE_STATES:
            facts["restarts"] = restarts_of(client, job["jid"])
            facts.update(_checkpoint_facts(client, job["jid"]))
        if _failure_changed((previous or {}).get(job["jid"]), facts):
            facts["failure"] = _newest_failure(client, job["jid"])
        jobs[job["jid"]] = facts
    overview = _slots(client) if slots else None
    managed = {}
    if state is not None and records:
        jars = []

        def jar_list():
            if not jars:
                jars.append(list_jars(client))
            return jars[0]

        try:
            candidates = set(watched) or set(j["name"] for j in jobs.values()) | set(known) | set(
                r.get("name") for r in spec_records(jar_list()).values() if r.get("name"))
            for name in sorted(candidates):
                entries = state.read_job(name, jar_list, legacy_records)
                operations = read_operations(entries, name)
                if not operations:
                    continue
                for job in jobs.values():
                    if job["name"] == name:
                        fingerprint, record = _spec_fingerprint(entries, job["job_id"])
                        job["fingerprint"] = fingerprint
                        job["jar"] = (record or {}).get("jar")
                managed[name] = {"should_run": should_run(operations), "last": operations[0]}
        except (FlinkError, OSError, ValueError) as exc:
            return {"reachable": True, "jobs": jobs, "managed": None, "records_error": str(exc),
                    "slots": overview}
    return {"reachable": True, "jobs": jobs, "managed": managed, "slots": overview}


class Watcher:
    """Turns successive snapshots of one cluster into events (pure: no I/O, no clock)."""

    def __init__(self, cluster, kinds=(), stale_after_s=0, report_initial=True, slots_low_below=0):
        self.cluster = cluster
        self.kinds = set(kinds or KINDS)
        self.stale_after_ms = int(stale_after_s * 1000)
        self.report_initial = report_initial
        self.slots_low_below = slots_low_below
        self.failures = {}        # job id -> time of the newest failure reported
        self.low = None           # the slots_low event's id while the cluster is short of slots
        self.jobs = None          # the last snapshot's jobs (kept through an outage)
        self.missing = {}         # name -> id of the missing episode
        self.stale = {}           # job id -> last completed checkpoint it was stale at
        self.reachable = None
        self.down_since = None
        self.last_up_ms = None
        self.emitted = {}         # the ids already emitted (the newest EMITTED_KEPT), never twice

    def _event(self, kind, key, **facts):
        payload = dict(kind=kind, cluster=self.cluster, **facts)
        return {"flink": payload, "meta": {"uuid": event_id(self.cluster, kind, *key)}}

    def step(self, snapshot, now_ms):
        events = []
        if not snapshot.get("reachable"):
            if self.reachable is not False:
                self.down_since = self.last_up_ms if self.last_up_ms is not None else now_ms
                events.append(self._event("cluster_unreachable", (self.down_since,),
                                          error=snapshot.get("error"), since_ms=self.down_since))
            self.reachable = False
            return self._wanted(events)
        if self.reachable is False:
            events.append(self._event("cluster_reachable", (self.down_since,),
                                      unreachable_since_ms=self.down_since))
        self.reachable = True
        self.last_up_ms = now_ms
        first = self.jobs is None
        previous = self.jobs or {}
        current = snapshot.get("jobs") or {}
        for job_id, job in sorted(current.items(), key=lambda item: item[1].get("start_time") or 0):
            before = previous.get(job_id)
            if not first:
                events.extend(self._job_changes(before, job))
            events.extend(self._failure(job))
            events.extend(self._staleness(job, now_ms))
        managed = snapshot.get("managed")
        if managed is not None:
            events.extend(self._missing(managed, current, first))
        events.extend(self._slots_low(snapshot.get("slots")))
        self.jobs = current
        return self._wanted(events)

    def _wanted(self, events):
        """The events of the kinds asked for, each id once: a job that comes back and is gone
        again with the same last logged operation is the same episode, not a new one."""
        fresh = []
        for event in events:
            key = event["meta"]["uuid"]
            if event["flink"]["kind"] in self.kinds and key not in self.emitted:
                self.emitted[key] = True
                fresh.append(event)
        while len(self.emitted) > EMITTED_KEPT:
            del self.emitted[next(iter(self.emitted))]
        return fresh

    def _facts(self, job):
        return dict(name=job.get("name"), job_id=job["job_id"], state=job.get("state"),
                    fingerprint=job.get("fingerprint"), jar=job.get("jar"),
                    managed=job.get("fingerprint") is not None)

    def _job_changes(self, before, job):
        events = []
        previous_state = (before or {}).get("state")
        if previous_state != job.get("state"):
            events.append(self._event(
                "job_state_changed", (job["job_id"], previous_state, job.get("state"), job.get("restarts"),
                                      job.get("end_time")),
                previous_state=previous_state, **self._facts(job)))
        if before is None:
            return events
        for kind, field, extra in (("job_restarted", "restarts", ()),
                                   ("checkpoint_failed", "checkpoints_failed", ("checkpoint_failure",))):
            old, new = before.get(field), job.get(field)
            if old is not None and new is not None and new > old:
                more = dict((name, job.get(name)) for name in extra)
                facts = dict(self._facts(job), **more)
                facts[field] = new
                facts["previous_" + field] = old
                events.append(self._event(kind, (job["job_id"], new), **facts))
        return events

    def _failure(self, job):
        """A failure newer than the last one reported of the job (Flink's exception history)."""
        failure = job.get("failure")
        if not failure or self.failures.get(job["job_id"]) == failure["timestamp"]:
            return []
        self.failures[job["job_id"]] = failure["timestamp"]
        return [self._event("root_exception", (job["job_id"], failure["timestamp"]),
                            restarts=job.get("restarts"), **dict(self._facts(job), **failure))]

    def _slots_low(self, slots):
        """Fewer free task slots than ``slots_low_below``: once while it lasts (the numbers
        changing while low is a new event); when it ends, the same numbers later are again."""
        if not self.slots_low_below or not slots or slots.get("available") is None:
            return []
        if slots["available"] >= self.slots_low_below:
            self.emitted.pop(self.low, None)
            self.low = None
            return []
        event = self._event("slots_low", (slots["available"], slots["total"], slots["taskmanagers"]),
                            slots_available=slots["available"], slots_total=slots["total"],
                            taskmanagers=slots["taskmanagers"], threshold=self.slots_low_below)
        if self.low != event["meta"]["uuid"]:
            self.emitted.pop(self.low, None)
        self.low = event["meta"]["uuid"]
        return [event]

    def _staleness(self, job, now_ms):
        if not self.stale_after_ms or job.get("state") != "RUNNING":
            self.stale.pop(job["job_id"], None)
            return []
        since = job.get("last_checkpoint_ms") or job.get("start_time")
        if since is None or now_ms - since < self.stale_after_ms:
            self.stale.pop(job["job_id"], None)
            return []
        if self.stale.get(job["job_id"]) == since:
            return []
        self.stale[job["job_id"]] = since
        return [self._event("checkpoint_stale", (job["job_id"], since),
                            last_checkpoint_ms=job.get("last_checkpoint_ms"),
                            age_s=int((now_ms - since) / 1000),
                            threshold_s=int(self.stale_after_ms / 1000), **self._facts(job))]

    def _missing(self, managed, jobs, first):
        events = []
        for name, facts in sorted(managed.items()):
            active = [job for job in jobs.values()
                      if job.get("name") == name and job.get("state") in ACTIVE_STATES]
            if not facts.get("should_run") or active:
                self.missing.pop(name, None)
                continue
            last = facts.get("last") or {}
            episode = (name, last.get("job_id"), last.get("time"))
            if self.missing.get(name) == episode or (first and not self.report_initial):
                self.missing[name] = episode
                continue
            self.missing[name] = episode
            runs = sorted((job for job in jobs.values() if job.get("name") == name),
                          key=lambda job: job.get("start_time") or 0, reverse=True)
            latest = runs[0] if runs else None
            events.append(self._event(
                "managed_job_missing", episode, name=name, expected_job_id=last.get("job_id"),
                last_action=last.get("action"), last_actor=last.get("actor"),
                fingerprint=last.get("fingerprint"), last_savepoint=last.get("savepoint"),
                listed_job_id=latest["job_id"] if latest else None,
                listed_state=latest.get("state") if latest else None))
        return events
