#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_savepoint
short_description: Take, stop with, and dispose of Flink savepoints
version_added: 0.1.0
description:
  - With O(state=present), triggers a savepoint of a running job and waits until it completes.
    With O(stop=true) it is an atomic stop-with-savepoint.
  - A savepoint Flink reports as completed B(with a failure cause) is a failure, reported with
    Flink's text; the job keeps running.
  - With O(max_age), a job that already has a completed savepoint younger than that is left alone,
    so a scheduled backup task is idempotent. A savepoint disposed of with this module is never
    returned (Flink keeps listing it; the module records each disposal in the cluster's JAR list
    as an empty C(flinkops-disposed-*.jar)); the REST API cannot tell whether a savepoint deleted by
    other means still exists.
  - With O(state=absent), disposes of the savepoint at O(path) through Flink's REST API; a savepoint
    that is already gone is not a change; a path that exists but holds no savepoint fails.
  - With O(state=absent), O(name) and O(keep), retention from the job's history. Every savepoint
    the job name's operation log (in the O(state_store) when set) and Flink's listed runs know of,
    beyond the newest O(keep), is disposed of. The savepoint an active job of the name was restored
    from is never disposed of. The history outlives Flink's list of finished jobs (about an hour).
  - With O(job_ids), several jobs at once. Every savepoint (or stop) is triggered first, then each
    is waited for, so the cluster takes them at the same time in one module run. Each job's outcome
    is in RV(savepoints); when any failed, the module fails naming each, after the others completed.
  - A savepoint taken (and waited for) of a job the collection deployed is recorded in the job name's
    operation log, where M(flinkops.flink.flink_job) logs its changes (in the O(state_store) when set,
    else in the JobManager's JAR store), so M(flinkops.flink.flink_job_info) lists it and the heal
    playbook C(flinkops.flink.heal) can resume from it. See the notes.
author:
  - Flinkops Contributors (@flinkops)
extends_documentation_fragment:
  - flinkops.flink._connection
  - flinkops.flink._attributes
  - flinkops.flink._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details:
      - Check mode only reads. With O(state=absent) it cannot tell whether the savepoint still exists
        (that needs the file system), so it reports the disposal as a change.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Taking a savepoint is a change each time, unless O(max_age) says a recent one is enough.
options:
  state:
    description:
      - V(present) takes a savepoint; V(absent) disposes of one.
    type: str
    choices: [present, absent]
    default: present
  job_id:
    description:
      - The job to take the savepoint of.
    type: str
  name:
    description:
      - The running job with this exact name; it is an error if more than one job of that name is active.
      - Named as in M(flinkops.flink.flink_job) and M(flinkops.flink.flink_job_info); C(job_name) is the
        older name, kept as an alias.
    type: str
    aliases: [job_name]
  job_ids:
    description:
      - Several jobs, by id, each handled as O(job_id) would be, at the same time (see the description).
      - O(wait_timeout) bounds the wait for all of them together.
    type: list
    elements: str
  savepoint_dir:
    description:
      - Where to write the savepoint; defaults to the cluster's configured savepoint directory.
      - The JobManager writes it, so it must be an absolute path or a URI; a relative one is refused.
      - Named as in M(flinkops.flink.flink_job); C(target_directory) is the older name, kept as an alias.
    type: str
    aliases: [target_directory]
  savepoint_format:
    description:
      - V(canonical) is portable between state backends; V(native) is faster for large RocksDB state.
      - Named as in M(flinkops.flink.flink_job); C(format) is the older name, kept as an alias.
    type: str
    choices: [canonical, native]
    default: canonical
    aliases: [format]
  stop:
    description:
      - Stop the job with this savepoint (atomic stop-with-savepoint).
    type: bool
    default: false
  drain:
    description:
      - With O(stop=true), emit the maximum watermark first so every event-time window fires.
      - Without O(stop=true) it is refused (a savepoint of a job that keeps running never drains).
    type: bool
    default: false
  max_age:
    description:
      - Seconds. If the job has a completed savepoint younger than this, take none and return that one,
        unless it was disposed of with O(state=absent).
    type: float
  wait:
    description:
      - Wait for the savepoint (or disposal) to complete.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the savepoint or disposal. Large state can take many minutes; this is
        separate from the per-request O(request_timeout).
    type: float
    default: 1800
    aliases: [timeout]
  path:
    description:
      - With O(state=absent), the savepoint to dispose of (as returned in RV(location)).
    type: str
  keep:
    description:
      - With O(state=absent) and O(name), how many of the job's newest known savepoints to keep;
        the older ones are disposed of (see the description). At least 1, as the newest savepoint is
        what a stopped job resumes from.
    type: int
notes:
  - The operation log's entry of a savepoint has the action C(savepoint), the job's id, the savepoint's
    path, the fingerprint of the spec the job runs and the actor; a stop with a savepoint (O(stop=true))
    is logged as C(stopped) (its C(previous_job_id) the stopped job), as a stop by M(flinkops.flink.flink_job)
    is, so the job is no longer one that should run and a later deployment resumes from it.
  - A job is the collection's when its records confirm its id or its operation log names it; a savepoint
    of any other job is not logged. Nothing is logged in check mode, with O(wait=false), or for a recent
    savepoint O(max_age) returns.
  - A log that cannot be read or written is a warning; the savepoint was taken and is returned.
  - The log keeps the newest 10 such savepoint entries per job name, apart from its newest 50 other
    entries, so a frequent backup never pushes a deployment's entries out of it.
  - Give the same O(state_store) as the deployments (or E(FLINK_STATE_STORE)) - a savepoint logged in the
    JAR store is lost with a JobManager restarted without high availability.
seealso:
  - module: flinkops.flink.flink_job
  - module: flinkops.flink.flink_job_info
"""

EXAMPLES = r"""
- name: Nightly savepoint, skipped if one is less than 12 hours old
  flinkops.flink.flink_savepoint:
    url: http://flink-jobmanager:8081
    name: orders
    max_age: 43200
  register: backup

- name: Take a native-format savepoint to a given directory
  flinkops.flink.flink_savepoint:
    url: http://flink-jobmanager:8081
    name: orders
    savepoint_dir: s3://backups/flink/orders
    savepoint_format: native
    wait_timeout: 3600

- name: Stop three jobs with a savepoint each, at the same time
  flinkops.flink.flink_savepoint:
    url: http://flink-jobmanager:8081
    job_ids: "{{ jobs_to_stop }}"
    stop: true
  register: stopped
  # stopped.savepoints: one {job_id, location, trigger_id, error} per job

- name: Dispose of an old savepoint
  flinkops.flink.flink_savepoint:
    url: http://flink-jobmanager:8081
    state: absent
    path: "{{ old_savepoint }}"

- name: Keep the newest three savepoints of the job, dispose of older ones
  flinkops.flink.flink_savepoint:
    url: http://flink-jobmanager:8081
    state: absent
    name: orders
    keep: 3
"""

RETURN = r"""
location:
  description:
    - Where the savepoint is (V(null) in check mode or with O(wait=false)).
    - A savepoint taken of a job the collection deployed is also in the job name's operation log (see the notes).
  returned: state=present
  type: str
  sample: file:/var/flink/savepoints/savepoint-3f9c1e-6bdc59010a32
trigger_id:
  description: The request id Flink tracks the savepoint under (chosen by the module, so a repeat is harmless).
  returned: state=present and a savepoint was triggered
  type: str
  sample: 5b1e0a7b2d4c55e1f2a3b4c5d6e7f8a9
job_id:
  description: The job the savepoint belongs to.
  returned: state=present and not O(job_ids)
  type: str
  sample: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8
savepoints:
  description:
    - With O(job_ids), one entry per job, in the order given, also when the module fails.
  returned: state=present and O(job_ids)
  type: list
  elements: dict
  contains:
    job_id:
      description: The job.
      type: str
    location:
      description: Where its savepoint is (V(null) when it failed, in check mode or with O(wait=false)).
      type: str
    trigger_id:
      description: The request id Flink tracks its savepoint under (V(null) when none was triggered).
      type: str
    error:
      description: Why this job's savepoint failed, or V(null). A stop that failed leaves its job running.
      type: str
  sample:
    - {job_id: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8, location: "file:/var/flink/savepoints/savepoint-3f9c1e-6bdc59010a32",
       trigger_id: 5b1e0a7b2d4c55e1f2a3b4c5d6e7f8a9, error: null}
disposed:
  description:
    - Whether the savepoint was disposed of (V(false) when it was already gone).
    - With O(keep), whether any was (V(null) in check mode).
  returned: state=absent
  type: bool
  sample: true
disposed_savepoints:
  description: With O(keep), the savepoints disposed of (or, in check mode, that would be), newest first.
  returned: state=absent and O(keep)
  type: list
  elements: str
  sample: ["file:/var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d"]
kept_savepoints:
  description:
    - With O(keep), the savepoints kept, newest first; an active job's restore point is among them
      even when it is older than the newest O(keep).
  returned: state=absent and O(keep)
  type: list
  elements: str
  sample: ["file:/var/flink/savepoints/savepoint-3f9c1e-6bdc59010a32"]
actions:
  description: What the module did, or would do in check mode.
  returned: always
  type: list
  elements: str
  sample: [trigger a canonical savepoint of job 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8]
"""

import time
import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import actor
from ansible_collections.flinkops.flink.plugins.module_utils._identity import deployed_by_collection, running_fingerprint
from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    is_absolute_location,
    relative_location_error,
)
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    ACTIVE_STATES,
    matching_jobs,
    restored_from,
    savepoint_info,
)
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    SAVEPOINT_ACTION,
    append_operation,
    read_operations,
    savepoint_history,
)
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    dispose_savepoint,
    wait_savepoint,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    disposal_marks,
    record_disposal,
    was_disposed,
)
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    find_job,
    job_checkpoints,
    list_jars,
    list_jobs,
    stop_with_savepoint,
    trigger_savepoint,
)


def job_by_id(client, job_id, jobs=None):
    job = find_job(client, job_id, jobs)
    if job is None:
        raise FlinkError("no job with id %s on the cluster" % job_id)
    return must_run(job)


def must_run(job):
    if job.get("state") != "RUNNING":
        raise FlinkError("job %s (%s) is %s; a savepoint needs a RUNNING job" % (
            job["jid"], job.get("name"), job.get("state")))
    return job


def running_job(module):
    client, params = module.client, module.params
    if params["job_id"]:
        return job_by_id(client, params["job_id"])
    else:
        jobs = matching_jobs(list_jobs(client), params["name"], states=ACTIVE_STATES)
        if len(jobs) > 1:
            raise FlinkError("%d active jobs are named %r (%s): name the one with job_id" % (
                len(jobs), params["name"], ", ".join(j["jid"] for j in jobs)))
        if not jobs:
            raise FlinkError("no running job named %r" % params["name"])
    return must_run(jobs[0])


def disposals(module):
    """The disposal marks' entries (``state_store``), read once per run."""
    return module.state.read_savepoints(lambda: list_jars(module.client), disposal_marks)


def recent_savepoint(module, job_id, marks=None):
    """With max_age: the job's completed savepoint younger than that (not disposed of, by the
    disposal marks ``marks``, read here when not given), else None."""
    if module.params["max_age"] is None:
        return None
    recent = savepoint_info(job_checkpoints(module.client, job_id))
    if recent and recent["timestamp"] and \
            time.time() * 1000 - recent["timestamp"] <= module.params["max_age"] * 1000 and \
            not was_disposed(disposals(module) if marks is None else marks, recent["path"]):
        return recent["path"]
    return None


def trigger(module, job_id):
    """Trigger the savepoint (or the stop with one) of ``job_id``; returns its trigger id."""
    client, params = module.client, module.params
    trigger_id = uuid.uuid4().hex
    if params["stop"]:
        what = "stop job %s with a %s savepoint" % (job_id, params["savepoint_format"])
        return module.change(what, stop_with_savepoint, client, job_id,
                             params["savepoint_dir"], params["drain"], params["savepoint_format"])
    what = "trigger a %s savepoint of job %s" % (params["savepoint_format"], job_id)
    module.change(what, trigger_savepoint, client, job_id, params["savepoint_dir"],
                  params["savepoint_format"], False, trigger_id)
    return trigger_id


def record_taken(module, job, location, jar_list=None):
    """Log a savepoint (or a stop with one) the module took of a job the collection deployed, in
    its name's operation log (the ``state_store`` when set, else the JAR store), as flink_job logs
    its changes: the heal and a later deployment then know a state newer than the last
    deployment's. A job the records do not know is not logged; a log that cannot be read or
    written is a warning (the savepoint was taken). ``jar_list()`` reads the JAR list (once
    for several jobs)."""
    name, job_id = job.get("name"), job["jid"]
    if not name or not location:
        return
    try:
        entries = module.state.read_job(name, jar_list or (lambda: list_jars(module.client)), legacy_records)
        if not deployed_by_collection(entries, name, job_id):
            return
        fingerprint = running_fingerprint(entries, job_id, name)
        # A stop decides that the job should not run (a heal leaves it stopped, a deployment
        # resumes from it), as a stop by flink_job does.
        action, ids = ("stopped", dict(previous_job_id=job_id)) if module.params["stop"] else \
            (SAVEPOINT_ACTION, dict(job_id=job_id))
        append_operation(module.state.job(name), name, action, actor(), module.warn,
                         savepoint=location, fingerprint=fingerprint, **ids)
    except FlinkError as exc:
        module.warn("the savepoint %s of job %s (%s) is not in its operation log: %s" % (
            location, job_id, name, exc))


def take(module):
    if module.params["job_ids"]:
        take_many(module)
        return
    job = running_job(module)
    job_id = job["jid"]
    recent = recent_savepoint(module, job_id)
    if recent:
        module.exit(location=recent, job_id=job_id, trigger_id=None)
    trigger_id = trigger(module, job_id)
    location = None
    if module.params["wait"] and not module.check_mode:
        location = wait_savepoint(module.client, job_id, trigger_id, module.params["wait_timeout"])
        record_taken(module, job, location)
    module.exit(location=location, job_id=job_id,
                trigger_id=None if module.check_mode else trigger_id)


def take_many(module):
    """Trigger every job's savepoint, then wait for each: Flink takes them at the same time, and
    a batch of a drain costs one module run. One job's failure does not stop the others'."""
    client, params = module.client, module.params
    deadline = time.monotonic() + params["wait_timeout"]
    jobs, outcomes = list_jobs(client), []
    marks = disposals(module) if params["max_age"] is not None else None  # read once, not per job
    for job_id in params["job_ids"]:
        outcome = dict(job_id=job_id, location=None, trigger_id=None, error=None)
        try:
            job_by_id(client, job_id, jobs)
            outcome["location"] = recent_savepoint(module, job_id, marks)
            if not outcome["location"]:
                outcome["trigger_id"] = trigger(module, job_id)
        except FlinkError as exc:
            outcome["error"] = str(exc)
        outcomes.append(outcome)
    for outcome in outcomes:
        if module.check_mode:
            outcome["trigger_id"] = None
        elif outcome["trigger_id"] and params["wait"]:
            try:
                outcome["location"] = wait_savepoint(client, outcome["job_id"], outcome["trigger_id"],
                                                     max(deadline - time.monotonic(), 1.0))
            except FlinkError as exc:
                outcome["error"] = str(exc)
    jars = []

    def jar_list():
        if not jars:
            jars.append(list_jars(client))
        return jars[0]

    for outcome in outcomes:
        if outcome["trigger_id"] and outcome["location"] and not module.check_mode:
            record_taken(module, find_job(client, outcome["job_id"], jobs), outcome["location"], jar_list)
    failed = ["job %s: %s" % (o["job_id"], o["error"]) for o in outcomes if o["error"]]
    if failed:
        module.fail("%d of %d savepoints failed: %s" % (len(failed), len(outcomes), "; ".join(failed)),
                    savepoints=outcomes)
    module.exit(savepoints=outcomes)


def dispose(module):
    params = module.params
    disposed = module.change("dispose of savepoint %s" % params["path"], dispose_savepoint,
                             module.client, params["path"], params["wait_timeout"])
    if not module.check_mode:
        remember_disposal(module, params["path"])
    if disposed is False:
        module.changed = False
        module.actions = []
    module.exit(disposed=bool(disposed) if not module.check_mode else None)


def remember_disposal(module, path):
    # Flink keeps listing it in the job's checkpoint statistics: remember it is gone.
    state = module.state
    record_disposal(state.savepoints(), path, state.read_savepoints(
        lambda: list_jars(module.client), disposal_marks, check_mode=False))


def dispose_beyond(module):
    """Retention: dispose of the job name's known savepoints beyond the newest ``keep``."""
    client, params = module.client, module.params
    name, keep = params["name"], params["keep"]
    listed, in_use = [], set()
    for job in matching_jobs(list_jobs(client), name):
        checkpoints = job_checkpoints(client, job["jid"])
        latest = savepoint_info(checkpoints)
        if latest:
            listed.append(dict(path=latest["path"], timestamp=latest["timestamp"], action=None,
                               job_id=job["jid"]))
        restored = restored_from(checkpoints) if job.get("state") in ACTIVE_STATES else None
        if restored:
            in_use.add(restored["path"])
    jars = []

    def jar_list():
        if not jars:
            jars.append(list_jars(client))
        return jars[0]

    operations = read_operations(module.state.read_job(name, jar_list, legacy_records), name)
    marks = module.state.read_savepoints(jar_list, disposal_marks)
    history = [sp["path"] for sp in savepoint_history(
        operations, listed, lambda path: was_disposed(marks, path))]
    old = [path for path in history[keep:] if path not in in_use]
    for path in old:
        module.change("dispose of savepoint %s of job %s (beyond the newest %d)" % (path, name, keep),
                      dispose_savepoint, client, path, params["wait_timeout"])
        if not module.check_mode:
            remember_disposal(module, path)
    module.exit(disposed=bool(old) if not module.check_mode else None, disposed_savepoints=old,
                kept_savepoints=[path for path in history if path not in old])


def main():
    module = FlinkModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            job_id=dict(type="str"),
            # name, savepoint_dir and savepoint_format as flink_job names them; the older names
            # stay aliases.
            name=dict(type="str", aliases=["job_name"]),
            job_ids=dict(type="list", elements="str"),
            savepoint_dir=dict(type="str", aliases=["target_directory"]),
            savepoint_format=dict(type="str", choices=["canonical", "native"], default="canonical",
                                  aliases=["format"]),
            stop=dict(type="bool", default=False),
            drain=dict(type="bool", default=False),
            max_age=dict(type="float"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="float", default=1800, aliases=["timeout"]),
            path=dict(type="str"),
            keep=dict(type="int", no_log=False),
        ),
        mutually_exclusive=[("job_id", "name", "job_ids"), ("stop", "max_age"), ("path", "keep")],
        required_if=[("state", "present", ("job_id", "name", "job_ids"), True),
                     ("state", "absent", ("path", "keep"), True)],
        required_by={"keep": ("name",)},
    )
    if not 1 <= module.params["wait_timeout"] <= 86400:
        module.fail("wait_timeout must be between 1 and 86400 seconds, got %s"
                    % module.params["wait_timeout"])
    if module.params["job_ids"] == []:
        module.fail("job_ids is empty: name at least one job")
    if module.params["drain"] and not module.params["stop"]:
        module.fail("drain needs stop=true: only a stop with savepoint drains the job (emits the "
                    "final watermark); a savepoint of a job that keeps running never does")
    if module.params["savepoint_dir"] and not is_absolute_location(module.params["savepoint_dir"]):
        # named as the task gave it (the older name is an alias)
        given = "target_directory" if module.params.get("target_directory") is not None else "savepoint_dir"
        module.fail(relative_location_error(given, module.params["savepoint_dir"]))
    if module.params["max_age"] is not None and not 0 < module.params["max_age"] < float("inf"):
        # also refuses nan, which every comparison would let through
        module.fail("max_age must be a number of seconds more than 0, got %s" % module.params["max_age"])
    operation = take if module.params["state"] == "present" else dispose
    if module.params["keep"] is not None:
        if module.params["state"] != "absent":
            module.fail("keep needs state=absent: it disposes of the job's older savepoints")
        if module.params["keep"] < 1:
            module.fail("keep must be 1 or more, got %d: the newest savepoint is what a stopped job "
                        "resumes from" % module.params["keep"])
        operation = dispose_beyond
    module.run(operation)


if __name__ == "__main__":
    main()
