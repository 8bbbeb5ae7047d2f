# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The job_deploy role through ansible-playbook flinkops.flink.deploy, against real clusters."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.playbooks import ansible_env, playbook_command, run_playbook

DEPLOY = "flinkops.flink.deploy"


@pytest.fixture
def role_vars(flink, unique_job_name):
    def make(jar="stateful-v1", extra_args=(), **overrides):
        variables = {
            "job_deploy_url": flink.url,
            "job_deploy_name": unique_job_name,
            "job_deploy_jar": flink.jobs[jar],
            "job_deploy_jar_name": unique_job_name,
            "job_deploy_entry_class": flink.entry_class,
            "job_deploy_args": ["--name", unique_job_name, "--tag", unique_job_name,
                                "--rate", "400"] + list(extra_args),
            "job_deploy_health_window": 6,  # with a checkpoint (1 s interval) after restore
        }
        variables.update(overrides)
        return variables
    return make


def first_counts_continue(flink, tag, old, new):
    seen = flink.wait_counts(tag, new)
    for (version, key), counts in seen.items():
        if version == new:
            assert counts[0] == seen[(old, key)][-1] + 50, (key, seen[(old, key)][-3:], counts)


def test_first_deploy_idempotent_rerun_and_update(flink, role_vars, tmp_path):
    first = run_playbook(DEPLOY, role_vars(), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    # The job start changes; the JAR upload too unless this content is on the cluster already.
    assert first.recap["changed"] in (1, 2) and first.recap["failed"] == 0
    assert first.outcome["action"] == "started"
    job = flink.the_running_job(role_vars()["job_deploy_name"])
    assert job["jid"] == first.outcome["job_id"]

    again = run_playbook(DEPLOY, role_vars(), tmp_path)
    assert again.rc == 0 and again.recap["changed"] == 0, again.output[-3000:]
    assert again.outcome["action"] == "none"
    assert flink.the_running_job(role_vars()["job_deploy_name"])["jid"] == job["jid"]

    planned = run_playbook(DEPLOY, role_vars(jar="stateful-v2"), tmp_path, "--check", "--diff")
    assert planned.rc == 0, planned.output[-3000:]
    assert "stop job %s with a canonical savepoint" % job["jid"] in planned.output
    assert flink.the_running_job(role_vars()["job_deploy_name"])["jid"] == job["jid"]

    flink.wait_counts(role_vars()["job_deploy_name"], "v1", minimum=2)
    update = run_playbook(DEPLOY, role_vars(jar="stateful-v2"), tmp_path)
    assert update.rc == 0, update.output[-3000:]
    outcome = update.outcome
    assert outcome["action"] == "upgraded" and outcome["previous_job_id"] == job["jid"]
    assert outcome["savepoint"] and outcome["restored_from"] == outcome["savepoint"]
    assert not outcome["rolled_back"]
    assert flink.state(job["jid"]) == "FINISHED"
    assert flink.the_running_job(role_vars()["job_deploy_name"])["jid"] == outcome["job_id"]
    first_counts_continue(flink, role_vars()["job_deploy_name"], "v1", "v2")


@pytest.mark.parametrize("broken", [
    # The restart loop is judged by the engine (test_flink_job.py drives it on every version): the
    # role's rollback of it on the first version.
    pytest.param(dict(jar="stateful-v2", extra_args=["--variant", "fail-on-start"]), id="fails-on-start",
                 marks=pytest.mark.first_version_only),
    # state_check off: Flink's own refusal at restore (test_precheck.py: the pre-flight refusal).
    pytest.param(dict(jar="stateful-incompatible", job_deploy_state_check="off"), id="incompatible-state"),
])
def test_broken_version_is_rolled_back(flink, role_vars, tmp_path, broken):
    name = role_vars()["job_deploy_name"]
    first = run_playbook(DEPLOY, role_vars(), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    flink.wait_counts(name, "v1", minimum=2)
    failed = run_playbook(DEPLOY, role_vars(**broken), tmp_path)
    assert failed.rc != 0 and failed.recap["rescued"] == 1
    assert "failed and was rolled back" in failed.output
    outcome = failed.outcome
    assert outcome["rolled_back"] and outcome["savepoint"]
    assert outcome["restored_from"] == outcome["savepoint"]
    job = flink.the_running_job(name)
    assert job["jid"] == outcome["job_id"]
    assert flink.spec_fingerprint(job["jid"]) == flink.spec_fingerprint(
        first.outcome["job_id"])  # the previous spec
    # The state of the savepoint: each key counts on from where v1 stopped.
    seen = flink.wait_counts(name, "v1", minimum=1)
    for key_counts in seen.values():
        assert all(b - a == 50 for a, b in zip(key_counts, key_counts[1:]))
    # A re-run of the previous version is a no-op: it is what runs.
    assert run_playbook(DEPLOY, role_vars(), tmp_path).recap["changed"] == 0


def test_play_killed_between_stop_and_submit_is_finished_by_a_rerun(flink, role_vars, tmp_path):
    name = role_vars()["job_deploy_name"]
    first = run_playbook(DEPLOY, role_vars(), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    flink.wait_counts(name, "v1", minimum=2)
    with FaultProxy(flink.url) as proxy:
        hold = proxy.add("POST", r"/jars/.*/run", "hold")
        command = playbook_command(DEPLOY, role_vars(jar="stateful-v2", job_deploy_url=proxy.url),
                                   tmp_path)
        play = subprocess.Popen(command, env=ansible_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while hold.fired == 0 and time.time() < deadline and play.poll() is None:
            time.sleep(0.05)
        assert hold.fired == 1, "the play never reached the submit"
        os.killpg(play.pid, signal.SIGKILL)
        play.wait(30)
    # The old job is stopped with a savepoint and nothing runs.
    assert flink.active(name) == []
    rerun = run_playbook(DEPLOY, role_vars(jar="stateful-v2"), tmp_path)
    assert rerun.rc == 0, rerun.output[-3000:]
    outcome = rerun.outcome
    assert outcome["action"] == "resumed" and outcome["previous_job_id"] == first.outcome["job_id"]
    job = flink.the_running_job(name)
    restored = flink.wait_restored(job["jid"])
    finished = flink.checkpoints(first.outcome["job_id"])["latest"]["savepoint"]
    assert restored["external_path"] == finished["external_path"] == outcome["restored_from"]
    first_counts_continue(flink, name, "v1", "v2")


def test_preflight_refuses_too_much_parallelism_and_changes_nothing(flink, role_vars, tmp_path):
    name = role_vars()["job_deploy_name"]
    before = flink.snapshot(name)
    refused = run_playbook(DEPLOY, role_vars(job_deploy_parallelism=999), tmp_path)
    assert refused.rc != 0
    # More than the whole cluster has: flink_job's capacity check refuses it in the role's first
    # task; fewer than that but more than are free, the role's pre-flight does.
    assert ("not enough free task slots: the job needs 999" in refused.output or
            "needs at least 999 task slots" in refused.output), refused.output[-3000:]
    assert flink.snapshot(name) == before
