#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_jobs
short_description: Converge a Flink session cluster to a declared set of jobs, with a plan and a safe prune
version_added: 0.1.0
description:
  - Declares the whole set of jobs a session cluster runs (usually one file per cluster in Git) and
    makes the cluster run exactly that, through the REST API.
  - B(Plan first.) Every declared job is looked at the way M(flinkops.flink.flink_job) looks at it,
    without changing anything (its check mode), as to V(start), to V(upgrade) (RV(plan) says what
    differs, and the state pre-check of the upgrade runs), or V(unchanged). Every other active job is
    either B(managed) (the collection's records say it deployed that job) and then V(prune)d, or
    B(unmanaged) (submitted another way) and never touched.
  - B(Refuse before the first change.) The run fails, changing nothing, when O(jobs) is empty, when
    the plan would prune more than O(max_prune) jobs (an empty or truncated cluster file must not
    stop the cluster), when a job's upgrade cannot be carried out (its state pre-check refuses, its
    JAR is missing, its name matches several active jobs), when a prune with a savepoint has no
    savepoint directory, or when the target set needs more task slots than the cluster has.
  - Jobs submitted another way can be taken over by name (O(adopt)), without a restart when their
    job graph matches the declared program's.
  - B(Apply in a safe order.) Prunes and upgrades (which free slots) come before starts (which need
    them); each job goes through the same engine as M(flinkops.flink.flink_job), with its own
    C(upgrade_mode), pre-check, health gate and rollback.
  - B(Prune keeps the state by default.) A pruned job is stopped with a savepoint, which is recorded,
    so declaring the job again later resumes it from that savepoint.
  - The role-free playbook C(flinkops.flink.converge) runs this module from a cluster file.
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
      - Check mode only reads. It returns the whole RV(plan) (and fails where a real run would refuse
        the plan), and RV(jobs) holds what each job's deployment would do.
  diff_mode:
    support: full
    details:
      - Shows the plan as text, then for every job that changes its running spec and the declared one
        (for a prune, the job id and where its state goes).
  idempotent:
    support: full
options:
  jobs:
    description:
      - The jobs the cluster must run, one item per job.
      - Each item takes the options of M(flinkops.flink.flink_job) except the connection options
        (O(url), O(state_store) and the others are set once, for the whole cluster), with the same
        defaults, and is checked exactly as M(flinkops.flink.flink_job) checks them, naming the item.
      - C(state) must be V(running) (the default); a job that must not run is left out of the
        list and pruned.
      - Names must be unique. An empty list fails (see O(max_prune)).
    type: list
    elements: dict
    required: true
  prune:
    description:
      - What happens to a job the collection deployed that O(jobs) no longer declares.
      - V(savepoint) stops it with an atomic stop-with-savepoint (the engine's stop path); the savepoint
        is recorded, so declaring the job again resumes it from there. The cluster's configured savepoint
        directory is used.
      - V(cancel) cancels it; its state is discarded (the plan says so).
      - V(none) leaves it running and only reports it in the plan.
      - Jobs the collection did not deploy are never pruned, whatever this says.
    type: str
    choices: [savepoint, cancel, none]
    default: savepoint
  max_prune:
    description:
      - The most jobs one run may prune. A plan that would prune more fails before any change, naming
        the jobs and this option, so that a truncated cluster file cannot stop the cluster. Raise it
        when the jobs are to go.
    type: int
    default: 1
  max_parallel:
    description:
      - The most jobs changing at the same time (each with its own connection to Flink and to the
        O(state_store)).
      - The order holds whatever the value. All prunes end before the first adoption, all adoptions
        before the first upgrade, all upgrades before the first start, so that what frees task
        slots comes before what needs them; up to this many jobs of one kind change at once.
      - With O(failure_policy=stop), a failure lets the jobs already changing finish and starts no
        other.
      - A JAR that several changing jobs run is uploaded once, before they change.
      - The plan's per-job checks (read only) also run up to this many at once.
    type: int
    default: 1
  failure_policy:
    description:
      - What happens after the first job whose change fails (an upgrade that failed is rolled back as
        M(flinkops.flink.flink_job) does).
      - V(stop) leaves every later job untouched; V(continue) carries the other jobs out.
      - Either way the task fails, naming every job that failed and every job not attempted, and
        RV(jobs) says what happened to each job.
    type: str
    choices: [stop, continue]
    default: stop
  concurrent_wait_timeout:
    description:
      - Seconds to wait for another converge of the same cluster (another pipeline, an AWX schedule
        and a webhook at once) before failing, naming it and changing nothing.
      - A converge whose plan changes something first claims the cluster (a record in O(state_store));
        a second one waits until the first has ended, then plans again from what runs then. V(0)
        fails at once. A converge whose plan changes nothing claims nothing and writes nothing.
      - A claim lives 10 seconds after its latest renewal (renewed every 2 seconds while the converge
        runs, as each job's claim is), so a converge that was killed holds the cluster for 10 seconds
        at most.
    type: float
    default: 600
  adopt:
    description:
      - Names of declared jobs whose running job was submitted another way (by hand, with C(flink run),
        by another tool) and is to be taken over.
      - The running job's job graph (its vertices and their parallelism, all Flink shows of a program)
        is compared with the declared program's plan (C(POST /jars/:jarid/plan), which starts nothing).
        When they match, the running job becomes this entry's running version without a restart; its
        spec is recorded as declared (the arguments and configuration, which Flink does not show, are
        taken as declared) and later converges upgrade it only when the declared spec changes. When
        they differ, the job is upgraded (stopped with a savepoint, the declared spec started from it;
        the previous version cannot be rolled back to, its spec being unknown).
      - A name here that O(jobs) does not declare fails the task. Without this option such jobs are
        listed as V(unmanaged) and never touched.
    type: list
    elements: str
    default: []
notes:
  - A job is B(managed) when the collection's records (O(state_store), by default the JobManager's JAR
    upload directory) hold a confirmation, a planned submission or an operation-log entry of that very
    job id. A job submitted by hand, with C(flink run) or by another tool, is listed as V(unmanaged) and
    never touched, even when a declared job has its name, unless O(adopt) names it.
  - A declared job that runs the declared spec already is not touched (no request that changes anything
    is sent); unlike M(flinkops.flink.flink_job), a converge does not wait for such a job to become
    healthy. RV(jobs) reports its state.
seealso:
  - module: flinkops.flink.flink_job
  - module: flinkops.flink.flink_job_info
"""

EXAMPLES = r"""
- name: Converge the cluster to the jobs of its cluster file
  flinkops.flink.flink_jobs:
    url: http://flink-jobmanager:8081
    jobs:
      - name: orders
        jar: jobs/orders-job-1.5.0.jar
        args: [--source, kafka, --topic, orders]
        parallelism: 2
      - name: payments
        jar: jobs/payments-job-2.0.1.jar
        upgrade_mode: last-state
      - name: enrichment
        jar: jobs/enrichment-job-0.9.0.jar
        configuration:
          execution.checkpointing.interval: 30s
  register: converged

- name: Show the plan without changing anything
  flinkops.flink.flink_jobs:
    url: http://flink-jobmanager:8081
    jobs: "{{ flink_jobs }}"
  check_mode: true
  diff: true

- name: Retire two jobs on purpose, keeping their state in savepoints
  flinkops.flink.flink_jobs:
    url: http://flink-jobmanager:8081
    jobs: "{{ flink_jobs }}"
    max_prune: 2

- name: Take over a job that was started by hand, without restarting it
  flinkops.flink.flink_jobs:
    url: http://flink-jobmanager:8081
    jobs: "{{ flink_jobs }}"
    adopt: [sessionization]

- name: Converge everything that can be, even when one job's upgrade fails
  flinkops.flink.flink_jobs:
    url: http://flink-jobmanager:8081
    jobs: "{{ flink_jobs }}"
    failure_policy: continue
    prune: none
"""

RETURN = r"""
plan:
  description: One entry per job, declared jobs first (in declared order), then the other active jobs.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The job name.
      type: str
    action:
      description: What the converge does (or did) with the job.
      type: str
      choices: [start, upgrade, prune, unchanged, unmanaged, adopt]
    differences:
      description:
        - "What differs, one text per field (for example V(parallelism: 1 -> 2)), for an upgrade; where a
          start takes its state from; how a prune is done and where the state goes; why a job is
          unmanaged."
      type: list
      elements: str
    job_id:
      description: The active job of the name, when there is one.
      type: str
      returned: when a job of the name is active
    prune:
      description: How the job is pruned (V(savepoint), V(cancel) or V(none)).
      type: str
      returned: for a prune
    state_to:
      description: Where a pruned job's state goes (the savepoint directory), or V(discarded).
      type: str
      returned: for a prune that is carried out
    error:
      description: Why this job's change cannot be carried out (the plan is then refused).
      type: str
      returned: when the job's check failed
  sample:
    - {name: orders, action: upgrade, differences: ["parallelism: 2 -> 4"], job_id: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8}
    - {name: payments, action: unchanged, differences: [], job_id: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d}
    - name: fraud
      action: prune
      prune: savepoint
      state_to: file:///flink/savepoints
      job_id: 7d1f0e2c3b4a59687d1f0e2c3b4a5968
      differences: ["not declared: stop with a savepoint to file:///flink/savepoints; ..."]
jobs:
  description:
    - Every job's outcome, in plan order, as M(flinkops.flink.flink_job) returns it (C(action),
      C(job_id), C(savepoint), C(restored_from), ...) plus its RV(jobs[].name).
    - In check mode, what each deployment would do. A job that failed has RV(jobs[].failed) and
      RV(jobs[].msg); a job not attempted (O(failure_policy=stop)) has RV(jobs[].skipped).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The job name.
      type: str
    action:
      description: What happened, as M(flinkops.flink.flink_job) says it.
      type: str
    job_id:
      description: The id of the job that runs now.
      type: str
    savepoint:
      description: The savepoint taken to stop the old (or pruned) job.
      type: str
    failed:
      description: Whether this job's change failed.
      type: bool
      returned: when it failed
    skipped:
      description: Whether this job's change was not attempted because an earlier one failed.
      type: bool
      returned: when it was not attempted
    msg:
      description: Why it failed or was not attempted.
      type: str
      returned: when it failed or was not attempted
  sample:
    - {name: orders, action: upgraded, job_id: 5b0e2f0c9d8a4e6f8a1b2c3d4e5f6a7b, savepoint: "file:/flink/savepoints/savepoint-3f9c1e-0a7b2d4c55e1"}
summary:
  description: The run in one line (in check mode, what the plan would do).
  returned: always
  type: str
  sample: "1 upgraded, 1 started, 1 pruned (savepoint file:/flink/savepoints/savepoint-7d1f0e-2c3b4a596870), 2 unchanged, 1 unmanaged"
actions:
  description: What was done (or would be done in check mode), each prefixed with its job name.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.flinkops.flink.plugins.module_utils._converge import converge
from ansible_collections.flinkops.flink.plugins.module_utils._job_options import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
    deploy_request,
    request_problems,
)
from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._secrets import collect


def declared_jobs(module):
    """Each item of ``jobs`` checked as flink_job checks its options; the engine's requests."""
    validator = ArgumentSpecValidator(ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                                      required_if=REQUIRED_IF)
    requests = []
    for index, item in enumerate(module.params["jobs"]):
        checked = validator.validate(item)
        label = "jobs[%d]%s" % (index, " (%s)" % item["name"] if isinstance(item.get("name"), str) else "")
        # Secret arguments of every job are hidden in everything the module returns.
        for value in collect(checked.validated_parameters, ARGUMENT_SPEC).values:
            module.redactor.add(value)
        problems = ["unsupported option %s (each item takes flink_job's options; connection options "
                    "are set once, for the cluster)" % error.msg if isinstance(error, UnsupportedError)
                    else error.msg for error in checked.errors.errors]
        if not problems:
            request = deploy_request(checked.validated_parameters)
            problems = request_problems(request)
            if request.state != "running":
                problems.append("state must be running: a job that must not run is left out of "
                                "jobs (and pruned)")
        if problems:
            module.fail("%s: %s; nothing was changed" % (label, problems[0]))
        if any(request.name == known.name for known in requests):
            module.fail("%s: the job name %s is declared twice; nothing was changed" % (label, request.name))
        requests.append(request)
    return requests


def apply(module):
    requests = declared_jobs(module)
    params = module.params
    unknown = sorted(set(params["adopt"]) - set(request.name for request in requests))
    if unknown:
        module.fail("adopt names %s, which jobs does not declare; nothing was changed" % ", ".join(unknown))
    result, failure = converge(module.client, module.state, requests, module.changes, module.warn,
                               prune=params["prune"], max_prune=params["max_prune"],
                               failure_policy=params["failure_policy"], adopt=params["adopt"],
                               max_parallel=params["max_parallel"], connect=module.connection,
                               wait=params["concurrent_wait_timeout"])
    diff = result.pop("diff")
    if failure:
        module.fail(failure, **result)
    module.exit(diff=diff, **result)


def main():
    module = FlinkModule(argument_spec=dict(
        jobs=dict(type="list", elements="dict", required=True),
        prune=dict(type="str", choices=["savepoint", "cancel", "none"], default="savepoint"),
        max_prune=dict(type="int", default=1),
        max_parallel=dict(type="int", default=1),
        failure_policy=dict(type="str", choices=["stop", "continue"], default="stop"),
        adopt=dict(type="list", elements="str", default=[]),
        concurrent_wait_timeout=dict(type="float", default=600),
    ))
    for option, low in (("max_prune", 0), ("max_parallel", 1), ("concurrent_wait_timeout", 0)):
        if module.params[option] < low:
            module.fail("%s must be %d or more, got %s" % (option, low, module.params[option]))
    module.run(apply)


if __name__ == "__main__":
    main()
