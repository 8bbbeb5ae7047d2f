# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Long waits through ``ansible-playbook flinkops.flink.deploy``, against real Flink: progress
lines at default verbosity while the stop's savepoint is slow, and a deadline shorter than the
waits that ends the run naming the step and the savepoint, after which a re-run finishes the
deployment with exactly one job of the name and the state carried over exactly once.

The savepoint is slowed down by the fault proxy: for a while it answers the stop's status polls
with IN_PROGRESS, as Flink does for a savepoint of large state.
"""

from __future__ import annotations

import re

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.playbooks import run_playbook

DEPLOY = "flinkops.flink.deploy"
ACTIVE = ("INITIALIZING", "CREATED", "RUNNING", "FAILING", "CANCELLING", "RESTARTING",
          "RECONCILING", "SUSPENDED")
STOP_STATUS = r"^/jobs/[0-9a-f]+/savepoints/"


def spec(flink, name, url=None, jar="stateful-v1", **overrides):
    variables = {
        "job_deploy_url": url or flink.url,
        "job_deploy_name": name,
        "job_deploy_jar": flink.jobs[jar],
        "job_deploy_jar_name": name,
        "job_deploy_entry_class": flink.entry_class,
        "job_deploy_args": ["--name", name, "--tag", name, "--rate", "400"],
        "job_deploy_health_window": 2,
    }
    variables.update(overrides)
    return variables


def progress_lines(run, name):
    return re.findall(r"^flink_job %s: waiting for (.+)$" % re.escape(name), run.output, re.M)


def runs_of(flink, name):
    return [job for job in flink.get("/jobs/overview")["jobs"] if job["name"] == name]


def assert_one_job_and_state_carried_over(flink, name, job_id):
    """Exactly one active job of the name (the one the run reports), nothing submitted twice,
    and every count of every run printed once, none missing: state carried over exactly once."""
    active = [job for job in runs_of(flink, name) if job["state"] in ACTIVE]
    assert [job["jid"] for job in active] == [job_id], runs_of(flink, name)
    assert len(runs_of(flink, name)) == 2, runs_of(flink, name)  # v1, then v2 started once
    flink.wait_counts(name, "v2", minimum=2)
    flink.assert_exactly_once(name)


def first_version(flink, name, module):
    """v1 runs and has counted (started by the module itself: the plays under test upgrade it)."""
    started = module("flink_job", dict(url=flink.url, name=name, jar=flink.jobs["stateful-v1"],
                                       entry_class=flink.entry_class,
                                       args=["--name", name, "--tag", name, "--rate", "400"]))
    assert started["action"] == "started", started
    flink.wait_counts(name, "v1", minimum=2)
    return started["job_id"]


def test_a_slow_savepoint_shows_progress_and_a_shorter_deadline_ends_the_run_then_a_rerun_finishes(
        flink, unique_job_name, module, tmp_path):
    name = unique_job_name
    old_id = first_version(flink, name, module)
    with FaultProxy(flink.url) as proxy:
        slowed = proxy.add("GET", STOP_STATUS, "pending:120")
        run = run_playbook(DEPLOY, spec(flink, name, url=proxy.url, jar="stateful-v2",
                                        job_deploy_deadline=12), tmp_path)
    assert run.rc != 0, run.output[-3000:]
    # Progress at default verbosity, rate-limited: not one line per poll (every 20 ms).
    waits = progress_lines(run, name)
    assert waits and all(w.startswith("the savepoint of job %s (" % old_id) for w in waits), waits
    assert len(waits) < slowed.fired / 10, (waits, slowed.fired)
    # The step, and what a re-run does; no savepoint is known yet, nothing else was started.
    assert re.search(r"the deadline of 12 s ran out while waiting for the savepoint of job %s" % old_id,
                     run.output), run.output[-3000:]
    assert "nothing was cancelled or started" in run.output, run.output[-3000:]
    assert not [job for job in runs_of(flink, name) if job["jid"] != old_id], runs_of(flink, name)

    rerun = run_playbook(DEPLOY, spec(flink, name, jar="stateful-v2"), tmp_path)
    assert rerun.rc == 0, rerun.output[-3000:]
    assert rerun.outcome["action"] == "resumed" and rerun.outcome["previous_job_id"] == old_id
    assert_one_job_and_state_carried_over(flink, name, rerun.outcome["job_id"])


def test_a_deadline_in_the_health_window_names_the_savepoint_and_leaves_the_new_job(
        flink, unique_job_name, module, tmp_path):
    name = unique_job_name
    old_id = first_version(flink, name, module)
    run = run_playbook(DEPLOY, spec(flink, name, jar="stateful-v2", job_deploy_health_window=120,
                                    job_deploy_deadline=20), tmp_path)
    assert run.rc != 0, run.output[-3000:]
    match = re.search(r"the deadline of 20 s ran out while waiting for the health window of job "
                      r"([0-9a-f]{32}).*?This run stopped job %s with the savepoint (\S+) and started "
                      r"job \1 from it, which is left as it is" % old_id, run.output, re.S)
    assert match, run.output[-3000:]
    new_id, savepoint = match.group(1), match.group(2)
    assert flink.checkpoints(old_id)["latest"]["savepoint"]["external_path"] == savepoint
    assert any(w.startswith("the health window of job %s" % new_id) for w in progress_lines(run, name))

    # The same spec again: the new job is found, gated and kept; nothing is started twice.
    rerun = run_playbook(DEPLOY, spec(flink, name, jar="stateful-v2"), tmp_path)
    assert rerun.rc == 0, rerun.output[-3000:]
    assert rerun.outcome["job_id"] == new_id and rerun.outcome["action"] == "none", rerun.outcome
    assert_one_job_and_state_carried_over(flink, name, new_id)
