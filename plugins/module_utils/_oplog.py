# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The operation log of a job: who changed it, when, how, from which state.

Kept next to the spec records (names of empty entries in the job's record storage,
see ``_records``), bounded to the newest OPERATIONS_KEPT entries per job name.
"""

from __future__ import annotations

import os
import re
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._records._schema import OPERATION, conforms
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    assemble_records,
    encode_payload,
    name_hash,
)

OPERATIONS_KEPT = 50
# flink_savepoint's record of a savepoint it took of a running managed job (the job runs on:
# it decides nothing); a scheduled backup writes one per run, so these are kept apart, the newest
# SAVEPOINTS_KEPT, and never push a deployment's entries out of the log.
SAVEPOINT_ACTION = "savepoint"
SAVEPOINTS_KEPT = 10
# The logged actions after which a job should run, and those after which it should not; the
# others (failed, refused, none) decide nothing.
RUN_ACTIONS = ("started", "resumed", "upgraded", "rolled back", "rescaled")
STOP_ACTIONS = ("stopped", "cancelled")
# The logged actions after which a job runs the entry's spec: each applies a version of the job
# (``_versions``), whose number the entry records.
VERSION_ACTIONS = RUN_ACTIONS + ("adopted",)
# A logged failure message's length at most (each record is a few JAR-store entry names).
MESSAGE_CHARS = 300
_OPLOG = re.compile(r"^flinkops-op-([0-9a-f]{12})-(\d{13})-([0-9a-f]{4})-(\d+)-(\d+)-"
                    r"([A-Za-z0-9_-]*)\.jar$")


def operation_names(name, entry, now_ms=None):
    stamp = int(now_ms if now_ms is not None else time.time() * 1000)
    chunks = encode_payload(dict(entry, name=name))
    tag = os.urandom(2).hex()
    return ["flinkops-op-%s-%013d-%s-%d-%d-%s.jar" % (name_hash(name), stamp, tag, i, len(chunks),
                                                      chunk) for i, chunk in enumerate(chunks)]


def _operation_records(jars, name, well_formed=True):
    records = assemble_records(jars, _OPLOG, (0, 1, 2))
    return sorted(((key, payload, entries) for key, (payload, entries) in records.items()
                   if key[0] == name_hash(name) and conforms(payload, OPERATION) == well_formed
                   and (payload.get("name") == name or not well_formed)),
                  key=lambda item: (item[0][1], item[2][0].get("uploaded") or 0), reverse=True)


def malformed_operations(jars, name):
    """Entry names of ``name``'s log records that decode but do not have an entry's shape."""
    return [entry.get("name") for _key, _payload, entries in _operation_records(jars, name, False)
            for entry in entries]


def read_operations(jars, name):
    """The operation log of job ``name``, newest first."""
    return [dict((k, v) for k, v in payload.items() if k != "name")
            for _key, payload, _entries in _operation_records(jars, name)]


def started_by(jars, name, job_id):
    """Who started ``job_id`` as job ``name``, by the operation log (None until logged)."""
    for entry in read_operations(jars, name):
        if entry.get("job_id") == job_id and entry.get("actor") and entry.get("action") != SAVEPOINT_ACTION:
            return entry["actor"]
    return None


def operation_entries(jars, name):
    """Every entry holding a part of ``name``'s operation log."""
    return [jar for _key, _payload, entries in _operation_records(jars, name) for jar in entries]


def stale_operations(jars, name, keep=OPERATIONS_KEPT, keep_savepoints=SAVEPOINTS_KEPT):
    """Entry ids of the log records of ``name`` beyond the newest ``keep`` (savepoints taken by
    flink_savepoint apart: beyond the newest ``keep_savepoints`` of them)."""
    stale, seen = [], {True: 0, False: 0}
    for _key, payload, entries in _operation_records(jars, name):
        taken = payload.get("action") == SAVEPOINT_ACTION
        seen[taken] += 1
        if seen[taken] > (keep_savepoints if taken else keep):
            stale.extend(jar["id"] for jar in entries)
    return stale


def _number(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def version_numbers(operations):
    """{fingerprint: version number} of the versions ``operations`` (newest first) apply:
    numbered 1, 2, 3... in the order first applied. An entry's recorded ``version`` wins, so a
    number stays when the log drops its oldest entries; entries logged before numbers were
    recorded are numbered in the order they were logged."""
    numbers, following = {}, 1
    for entry in reversed(operations):
        fingerprint = entry.get("fingerprint")
        if entry.get("action") not in VERSION_ACTIONS or not fingerprint:
            continue
        recorded = _number(entry.get("version"))
        if recorded:
            numbers[fingerprint] = recorded
            following = max(following, recorded + 1)
        elif fingerprint not in numbers:
            numbers[fingerprint] = following
            following += 1
    return numbers


def number_for(operations, action, fingerprint):
    """The version number a new entry of ``action`` for ``fingerprint`` records, given the log
    so far (newest first), or None for an entry that applies no version, or when the log so far
    is not known (``operations`` None: a wrong number would be worse than none)."""
    if operations is None or action not in VERSION_ACTIONS or not fingerprint:
        return None
    numbers = version_numbers(operations)
    return numbers.get(fingerprint) or max(list(numbers.values()) + [0]) + 1


def wanted_run(operations):
    """The newest decisive entry of the log (newest first) when it says the job should run: its
    ``fingerprint`` names the spec that should run. None when the log says it should not run,
    or nothing in it decides."""
    for entry in operations:
        if entry.get("action") in RUN_ACTIONS:
            return entry
        if entry.get("action") in STOP_ACTIONS:
            return None
    return None


def last_known_state(operations):
    """The newest savepoint or checkpoint the operation log names, or None."""
    for entry in operations:
        if entry.get("savepoint"):
            return entry["savepoint"]
    return None


def savepoints_named(operations):
    """Every savepoint ``operations`` (newest first) name, once each, newest first:
    [{"path", "time", "action", "job_id"}]. The job is the one stopped (or, for a start, the
    one started from it; for a savepoint flink_savepoint took, the job it took it of)."""
    found, seen = [], set()
    for entry in operations:
        path = entry.get("savepoint")
        if not path or path in seen:
            continue
        seen.add(path)
        found.append({"path": path, "time": entry.get("time"), "action": entry.get("action"),
                      "job_id": entry.get("previous_job_id") or entry.get("job_id")})
    return found


def savepoint_history(operations, listed, disposed=None):
    """A job name's known savepoints, once each, newest first, as {path, timestamp (ms), action,
    job_id}: those the log names (``savepoints_named(operations)``, ``time`` in s) and those of
    the runs Flink still lists (``listed``, ``timestamp`` in ms), except what ``disposed(path)``
    says was disposed of. The log outlives Flink's list of jobs (about an hour)."""
    merged = {}
    for sp in [dict(sp, timestamp=(sp.pop("time", None) or 0) * 1000)
               for sp in savepoints_named(operations)] + list(listed):
        if sp["path"] not in merged or (sp["timestamp"] or 0) > (merged[sp["path"]]["timestamp"] or 0):
            merged[sp["path"]] = dict(sp, action=sp.get("action") or
                                      (merged.get(sp["path"]) or {}).get("action"))
    return sorted((sp for sp in merged.values() if not (disposed and disposed(sp["path"]))),
                  key=lambda sp: sp["timestamp"] or 0, reverse=True)


def resumable_state(operations, confirmed):
    """(job id, savepoint) to resume from when Flink lists no run of the job any more, or None.

    Only when nothing can have run since that savepoint: the newest logged change is a stop
    that left it, or an upgrade that failed after its stop whose new job never ran every task
    (never confirmed: it took no checkpoint). ``operations`` newest first; ``confirmed`` the
    ids of confirmed jobs.
    """
    for entry in operations:
        if entry.get("action") in ("refused", "none"):
            continue
        savepoint = entry.get("savepoint")
        if not savepoint:
            return None
        if entry.get("action") == "stopped":
            return entry.get("previous_job_id"), savepoint
        if entry.get("action") == "failed" and entry.get("job_id") not in confirmed:
            return entry.get("previous_job_id"), savepoint
        return None
    return None


def shortened(text, limit):
    """``text`` cut to at most ``limit`` characters at a word boundary, marked by an ellipsis
    (never mid-word)."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 4]
    if " " in cut:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + " ..."


def append_operation(store, name, action, who, warn, job_id=None, previous_job_id=None,
                     savepoint=None, fingerprint=None, message=None, failed_job_id=None, logged=None):
    """Append to the operation log of ``name`` and prune it to the newest OPERATIONS_KEPT;
    never fails the task (a log that cannot be written is a warning). ``logged``: the log as
    the run read it (newest first), which numbers the version an entry applies (one run of
    a name acts at a time: the guard)."""
    entry = {"time": int(time.time()), "action": action, "job_id": job_id,
             "previous_job_id": previous_job_id, "savepoint": savepoint,
             "fingerprint": fingerprint, "actor": who, "failed_job_id": failed_job_id,
             "version": number_for(logged, action, fingerprint)}
    if message:
        entry["message"] = shortened(message, MESSAGE_CHARS)
    entry = dict((k, v) for k, v in entry.items() if v is not None)
    try:
        for record in operation_names(name, entry):
            store.write(record)
        stale = stale_operations(store.jars(), name)
        if stale:
            store.delete(stale)
    except FlinkError as exc:
        warn("the operation log of job %s could not be updated: %s" % (name, exc))
