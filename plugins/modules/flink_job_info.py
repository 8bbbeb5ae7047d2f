#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_job_info
short_description: Read Flink jobs, their checkpoints, savepoints and failures
version_added: 0.1.0
description:
  - Lists the jobs of a Flink cluster, running or ended (as long as the cluster keeps them), with
    what a deployment needs to decide on a restore - the latest completed checkpoint and savepoint,
    what each job was restored from, and the root cause of a failure.
  - For a job name, also returns the newest savepoint of any of its runs, found through the REST API
    alone (no access to the savepoint file system is needed).
author:
  - Flinkops Contributors (@flinkops)
extends_documentation_fragment:
  - flinkops.flink._connection
  - flinkops.flink._attributes
  - flinkops.flink._attributes.actiongroup
  - flinkops.flink._attributes.info_module
options:
  name:
    description:
      - Only jobs with this name (see O(name_match)).
    type: str
  name_match:
    description:
      - V(exact) or V(prefix) matching of O(name).
    type: str
    choices: [exact, prefix]
    default: exact
  job_id:
    description:
      - Only the job with this id.
    type: str
  states:
    description:
      - Only jobs in these states, for example V(RUNNING) or V(FINISHED).
    type: list
    elements: str
notes:
  - Flink serves checkpoint details from a cache refreshed every few seconds (C(web.refresh-interval)),
    so a savepoint taken a moment ago can take about three seconds to show.
seealso:
  - module: flinkops.flink.flink_job
  - module: flinkops.flink.flink_savepoint
"""

EXAMPLES = r"""
- name: Read every run of the orders job
  flinkops.flink.flink_job_info:
    url: http://flink-jobmanager:8081
    name: orders
  register: orders

- name: Show the savepoint a restore would start from
  ansible.builtin.debug:
    msg: "Newest savepoint: {{ orders.latest_savepoint.path | default('none') }}"

- name: List the versions of the orders job, to return to one of them by number
  flinkops.flink.flink_job_info:
    url: http://flink-jobmanager:8081
    name: orders
  register: orders_history

- name: Show each version's number, arguments and whether its JAR is still uploaded
  ansible.builtin.debug:
    msg: "{{ item.version }} {{ item.spec.args | default('pruned') }} {{ item.jar_on_cluster is not none }}"
  loop: "{{ orders_history.versions }}"

- name: List the jobs that are running
  flinkops.flink.flink_job_info:
    url: http://flink-jobmanager:8081
    states: [RUNNING]
  register: running
"""

RETURN = r"""
jobs:
  description: The matching jobs, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    job_id:
      description: Job id.
      type: str
    name:
      description: Job name.
      type: str
    state:
      description: Job state, for example V(RUNNING), V(FINISHED), V(CANCELED), V(FAILED).
      type: str
    active:
      description:
        - Whether the job is active in Flink's sense (V(INITIALIZING), V(CREATED), V(RUNNING), V(FAILING),
          V(CANCELLING), V(RESTARTING), V(RECONCILING) or V(SUSPENDED)), so it holds or will hold slots and
          can still change. V(false) for the terminal states V(FINISHED), V(CANCELED) and V(FAILED).
        - The one definition M(flinkops.flink.flink_job) uses to find the run it manages.
      type: bool
    start_time:
      description: Start time, epoch milliseconds.
      type: int
    end_time:
      description: End time, epoch milliseconds, V(null) while running.
      type: int
    duration_ms:
      description: How long the job ran or has been running.
      type: int
    tasks:
      description: Task counts by state, with C(total).
      type: dict
    parallelism:
      description: The highest parallelism of the job's operators.
      type: int
    latest_checkpoint:
      description: The latest completed checkpoint (C(path), C(timestamp), C(id)), or V(null).
      type: dict
    latest_savepoint:
      description:
        - The latest completed savepoint (C(path), C(timestamp), C(type), C(id)), or V(null).
        - V(null) as well when that savepoint was disposed of through M(flinkops.flink.flink_savepoint)
          (Flink keeps listing it).
      type: dict
    restored_from:
      description: What the job was started from (C(path), C(is_savepoint)), or V(null).
      type: dict
    failure:
      description: Root cause of the latest failure of a failed or restarting job.
      type: str
    managed:
      description: Whether the job was started by M(flinkops.flink.flink_job) (its spec is recorded on the cluster).
      type: bool
    operations:
      description:
        - The operation log of the job's name, newest first, at most the last 50 changes made by
          M(flinkops.flink.flink_job), kept on the cluster next to the spec records, and the last
          10 savepoints M(flinkops.flink.flink_savepoint) took of the job. Read it to
          find out who changed a job, when, and from which state.
        - Each entry has C(time) (epoch seconds), C(action) (V(started), V(resumed), V(upgraded),
          V(stopped), V(cancelled), V(rolled back), V(failed), V(refused), V(savepoint) for a
          savepoint M(flinkops.flink.flink_savepoint) took), C(job_id),
          C(previous_job_id), C(savepoint) (the state taken or restored), C(fingerprint) (the spec),
          C(actor) (user@host, or the AWX job id and template) and, for failures and refusals,
          C(message). Absent keys were not known.
      type: list
      elements: dict
    spec:
      description: The recorded spec of a managed job (C(jar), C(jar_id), C(entry_class), C(args), C(parallelism), C(configuration)).
      type: dict
  sample:
    - job_id: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8
      name: orders
      state: RUNNING
      start_time: 1795486742496
      end_time: null
      duration_ms: 5000
      tasks: {total: 3, running: 3}
      parallelism: 1
      latest_checkpoint: {path: "file:/var/flink/checkpoints/3f9c/chk-4", timestamp: 1795486746496, id: 4}
      latest_savepoint: null
      restored_from: {path: "file:/var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d", is_savepoint: true}
      failure: null
      managed: true
      spec:
        jar: "sha256:967efdd13ae7ea63"
        entry_class: com.example.Orders
        args: [--topic, orders]
        parallelism: 1
        configuration: {}
      operations:
        - {time: 1795486742, action: upgraded, job_id: 3f9c2d1e0b4a5c6d7e8f9a0b1c2d3e4f,
           previous_job_id: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d,
           savepoint: "file:/var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d",
           fingerprint: 967efdd13ae7ea63, actor: "awx job 412 (deploy orders)"}
operations:
  description:
    - With O(name), the operation log of that name (see RV(jobs[].operations)), also when Flink
      lists no job of it any more (for example after a JobManager without high availability
      restarted). V(null) without O(name).
  returned: always
  type: list
  elements: dict
savepoints:
  description:
    - With O(name), every savepoint the operation log of that name records (taken by a stop, an upgrade or
      M(flinkops.flink.flink_savepoint), or restored from) and the latest savepoint of each run Flink lists, once each, newest first, without the ones
      disposed of through M(flinkops.flink.flink_savepoint). Flink knows a run's savepoints only while it lists
      the job (an hour by default, until a leader change); the log's part is the records' history, and with a
      durable O(state_store) it survives every JobManager restart.
    - The C(flinkops.flink.job_deploy) role keeps the newest C(job_deploy_keep_savepoints) of these.
    - V(null) without O(name).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The savepoint's location.
      type: str
    timestamp:
      description: When it completed (Flink's time), else when the operation that named it was logged (ms since the epoch).
      type: int
    action:
      description: The logged operation (V(stopped), V(upgraded), V(resumed), V(savepoint), ...); V(null) when only Flink lists it.
      type: str
    job_id:
      description: The job the operation stopped (or started from it; for V(savepoint), the job it was taken of).
      type: str
  sample:
    - {path: "file:/var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d", timestamp: 1795486742496, action: upgraded,
       job_id: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d}
recorded_spec:
  description:
    - With O(name), the recorded spec the operation log says should run - that of its newest logged start,
      resume, upgrade, rollback or rescale - read from the records, so also when Flink lists no run of the job
      (a JobManager without high availability restarted). V(null) when the log says the job should not run
      (its newest decisive change stopped or cancelled it), when nothing is logged, and without O(name).
    - Its keys are those of RV(jobs[].spec), and C(jar_on_cluster), the id of an upload of its JAR that Flink
      lists now (the recorded C(jar_id), else an upload of the same content), or V(null) when the JAR must be
      uploaded again.
  returned: always
  type: dict
  sample:
    name: orders
    jar: "sha256:967efdd13ae7ea63"
    jar_id: "4b6e0d6e-5a7c-4d38-9f5b-0a6f1d3e8c21_orders-sha256-967efdd13ae7ea63.jar"
    entry_class: com.example.Orders
    args: [--topic, orders]
    parallelism: 1
    configuration: {}
    jar_on_cluster: null
versions:
  description:
    - With O(name), the versions of that job's spec applied over time (by a start, resume, upgrade, rollback,
      rescale or adoption), numbered 1, 2, 3... in the order first applied, oldest first. Read from the records
      alone (the operation log and the spec records), so with a durable O(state_store) the same through any
      JobManager and after any restart. M(flinkops.flink.flink_job) deploys one again by its number (its
      O(flinkops.flink.flink_job#module:version) option).
    - The operation log keeps the newest 50 operations, so a version none of them applies is no longer listed.
      Numbers are recorded in the log and stay the same as it drops older entries.
    - V(null) without O(name).
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: The version's number.
      type: int
    fingerprint:
      description: The spec's fingerprint.
      type: str
    spec:
      description:
        - The spec as recorded, with the keys of RV(recorded_spec) (secret values masked; only their salted
          hashes are recorded).
        - V(null) when its record was pruned. The spec records of the newest 5 versions, and those of the runs
          Flink lists, are kept; an older version is listed from the log and cannot be deployed by number.
      type: dict
    jar_sha256:
      description: The recorded content hash of its JAR (the first 16 hex digits of the sha256), V(null) when it
        ran an upload whose name carries none, or its spec was pruned.
      type: str
    jar_upload:
      description: The name its JAR was uploaded under, V(null) when its spec was pruned.
      type: str
    first_applied:
      description: When it was first applied (epoch seconds).
      type: int
    last_applied:
      description: When it was last applied (epoch seconds).
      type: int
    actor:
      description: Who applied it last (user@host, the AWX job or the CI job).
      type: str
    outcome:
      description: The action of the newest logged operation of this spec (V(started), V(upgraded), V(failed),
        V(rolled back), ...).
      type: str
    jar_on_cluster:
      description: The id of an upload of its JAR that Flink lists now, or V(null) when the JAR must be supplied
        again (O(flinkops.flink.flink_job#module:jar) with O(flinkops.flink.flink_job#module:version)).
      type: str
  sample:
    - version: 1
      fingerprint: 967efdd13ae7ea63
      spec: {name: orders, jar: "sha256:5d1c0b3f2a9e8d7c", jar_id: "4b6e0d6e-5a7c-4d38-9f5b-0a6f1d3e8c21_orders-sha256-5d1c0b3f2a9e8d7c.jar",
             entry_class: null, args: [--topic, orders], parallelism: 1, configuration: {}, jar_on_cluster: null}
      jar_sha256: 5d1c0b3f2a9e8d7c
      jar_upload: orders-sha256-5d1c0b3f2a9e8d7c.jar
      first_applied: 1795486742
      last_applied: 1795486742
      actor: deploy@ci-runner
      outcome: upgraded
      jar_on_cluster: null
latest_savepoint:
  description: The newest completed savepoint of any matching job not disposed of, or V(null).
  returned: always
  type: dict
  sample:
    path: "file:/var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d"
    timestamp: 1795486742496
    type: SYNC_SAVEPOINT
    id: 5
    job_id: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
"""

from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    describe_job,
    name_matches,
)
from ansible_collections.flinkops.flink.plugins.module_utils._rest import list_jars, list_jobs
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    disposal_marks,
    spec_records,
    upload_of,
    was_disposed,
)
from ansible_collections.flinkops.flink.plugins.module_utils._identity import running_spec
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations, savepoint_history, wanted_run
from ansible_collections.flinkops.flink.plugins.module_utils._versions import list_versions


def read_jobs(module):
    params = module.params
    states = set(s.upper() for s in params["states"] or [])
    jobs = [job for job in list_jobs(module.client)
            if (not params["name"] or name_matches(job, params["name"], params["name_match"]))
            and (not params["job_id"] or job["jid"] == params["job_id"])
            and (not states or job.get("state") in states)]
    jars = []

    def jar_list():
        if not jars:
            jars.append(list_jars(module.client))
        return jars[0]

    names = set(job["name"] for job in jobs) | set([params["name"]] if params["name"] else [])
    entries = dict((name, module.state.read_job(name, jar_list, legacy_records)) for name in names)
    described = [describe_job(module.client, job, running_spec(entries[job["name"]], job["jid"], job["name"]))
                 for job in jobs]
    marks = []
    if params["name"] or any(job["latest_savepoint"] for job in described):
        marks = module.state.read_savepoints(jar_list, disposal_marks)
    for job in described:
        job["operations"] = read_operations(entries[job["name"]], job["name"])
        # Flink keeps listing a savepoint disposed of through flink_savepoint: never name it.
        if job["latest_savepoint"] and was_disposed(marks, job["latest_savepoint"]["path"]):
            job["latest_savepoint"] = None
    described_savepoints = [dict(job["latest_savepoint"], job_id=job["job_id"])
                            for job in described if job["latest_savepoint"]]
    latest = max(described_savepoints, key=lambda sp: sp.get("timestamp") or 0) \
        if described_savepoints else None
    # The log outlives the jobs Flink lists (e.g. after a JobManager without HA restarted).
    operations = read_operations(entries[params["name"]], params["name"]) if params["name"] else None
    savepoints = None
    if params["name"]:
        listed = [dict(path=sp["path"], timestamp=sp["timestamp"], action=None, job_id=sp["job_id"])
                  for sp in described_savepoints]
        savepoints = savepoint_history(operations, listed, lambda path: was_disposed(marks, path))
    module.exit(jobs=described, latest_savepoint=latest, operations=operations, savepoints=savepoints,
                recorded_spec=recorded_spec(entries[params["name"]], operations, jar_list) if params["name"] else None,
                versions=list_versions(operations, entries[params["name"]], jar_list()) if params["name"] else None)


def recorded_spec(entries, operations, jar_list):
    """The spec record of the run the operation log says should run (its newest start, resume,
    upgrade, rollback or rescale), with the id of an upload of its JAR Flink lists now."""
    wanted = wanted_run(operations)
    record = spec_records(entries).get((wanted or {}).get("fingerprint"))
    if record is None:
        return None
    return dict(record, jar_on_cluster=upload_of(jar_list(), record))


def main():
    FlinkModule(
        argument_spec=dict(
            name=dict(type="str"),
            name_match=dict(type="str", choices=["exact", "prefix"], default="exact"),
            job_id=dict(type="str"),
            states=dict(type="list", elements="str"),
        ),
    ).run(read_jobs)


if __name__ == "__main__":
    main()
