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
from ansible_collections.flinkops.flink.plugins.module_utils._identity import running_fingerprint
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import ACTIVE_STATES
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    job_checkpoints,
    job_metrics,
    list_jars,
    list_jobs,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_records

KINDS = ("job_state_changed", "job_restarted", "checkpoint_failed", "checkpoint_stale",
         "managed_job_missing", "cluster_unreachable", "cluster_reachable")
# The logged actions after which a job should run, and those after which it should not.
SHOULD_RUN = ("started", "resumed", "upgraded", "rolled back", "rescaled")
SHOULD_NOT_RUN = ("stopped", "cancelled")
EMITTED_KEPT = 10000
_NAMESPACE = uuid.UUID("8d3c1a52-6c1e-4f0e-9a43-5d2b7f1e0c11")


def event_id(*parts):
    """A deterministic id: the same observed change always gets the same one."""
    return str(uuid.uuid5(_NAMESPACE, "|".join("" if p is None else str(p) for p in parts)))


def should_run(operations):
    """Whether the operation log (newest first) says the job should run now: its newest
    decisive entry started it (refusals, no-ops and failed attempts do not decide)."""
    for entry in operations:
        action = entry.get("action")
        if action in SHOULD_RUN:
            return True
        if action in SHOULD_NOT_RUN:
            return False
    return False


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


def observe(client, names=(), state=None, records=True):
    """One snapshot of the cluster: plain data for ``Watcher.step``.

    ``names``: the job names watched (empty: every job; managed ones found in the JAR store's
    spec records). ``state``: the ``StateStore`` of the option ``state_store`` (None: no records
    read, so no managed-job facts). A cluster that does not answer ``/jobs/overview`` is
    ``{"reachable": False, "error": ...}`` (the error redacted by the client).
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
        jobs[job["jid"]] = facts
    managed = {}
    if state is not None and records:
        jars = []

        def jar_list():
            if not jars:
                jars.append(list_jars(client))
            return jars[0]

        try:
            candidates = set(watched) or set(j["name"] for j in jobs.values()) | set(
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
            return {"reachable": True, "jobs": jobs, "managed": None, "records_error": str(exc)}
    return {"reachable": True, "jobs": jobs, "managed": managed}


class Watcher:
    """Turns successive snapshots of one cluster into events (pure: no I/O, no clock)."""

    def __init__(self, cluster, kinds=(), stale_after_s=0, report_initial=True):
        self.cluster = cluster
        self.kinds = set(kinds or KINDS)
        self.stale_after_ms = int(stale_after_s * 1000)
        self.report_initial = report_initial
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
            events.extend(self._staleness(job, now_ms))
        managed = snapshot.get("managed")
        if managed is not None:
            events.extend(self._missing(managed, current, first))
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
