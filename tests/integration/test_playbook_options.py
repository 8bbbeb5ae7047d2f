# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job's options through ``ansible-playbook flinkops.flink.deploy -e job_deploy_<option>=...``,
as a CI pipeline passes them, against real Flink: each one is seen taking effect in Flink's own view.

The spec of the job comes from a vars file (``-e @file``); the option under test is one more
``-e key=value`` on the command line, so it arrives as a string, as from a CI variable.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from flinkops_devkit import flinkctl
from flinkops_devkit.observer import Flink
from flinkops_devkit.playbooks import run_playbook

DEPLOY = "flinkops.flink.deploy"
ZOO_LINE = re.compile(r"ZOO COUNT job=event-time-window key=(\d+) count=(\d+) version=(\S+) "
                      r"tag=(\S+) run=(\w+) window_end=(\d+) events=(\d+)")


def spec(flink, name, jar="stateful-v1", program_name=None, **overrides):
    """The job_deploy variables of the sample job; ``program_name`` is the name its main()
    passes to execute() (the job name unless a test wants another)."""
    variables = {
        "job_deploy_url": flink.url,
        "job_deploy_name": name,
        "job_deploy_jar": flink.jobs[jar],
        "job_deploy_jar_name": name,
        "job_deploy_entry_class": flink.entry_class,
        "job_deploy_args": ["--name", program_name or name, "--tag", name, "--rate", "400"],
        "job_deploy_health_window": 2,  # with a checkpoint (1 s interval) after the restore
    }
    variables.update(overrides)
    return variables


def deploy(variables, tmp_path, *assignments):
    """``ansible-playbook flinkops.flink.deploy -e @vars.yml -e k=v ...``."""
    options = []
    for assignment in assignments:
        options += ["-e", assignment]
    return run_playbook(DEPLOY, variables, tmp_path, *options)


def restored(flink, job_id):
    """What Flink says the job was restored from (cached: polled until it is listed)."""
    return flink.wait_restored(job_id)


def test_savepoint_path_starts_from_that_savepoint_not_the_latest(
        flink, unique_job_name, module, tmp_path):
    name = unique_job_name
    first = deploy(spec(flink, name), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    job_id = first.outcome["job_id"]
    flink.wait_counts(name, "v1", minimum=2)
    # An older savepoint while the job runs on, then the stop's (newer) one.
    older = module("flink_savepoint", dict(url=flink.url, job_id=job_id))
    assert not older.get("failed"), older
    stopped = module("flink_job", dict(url=flink.url, name=name, state="stopped"))
    assert stopped["action"] == "stopped" and stopped["savepoint"] != older["location"]

    run = deploy(spec(flink, name, jar="stateful-v2"), tmp_path,
                 "job_deploy_savepoint_path=%s" % older["location"])
    assert run.rc == 0, run.output[-3000:]
    # Without the option the role would resume from the stop's savepoint (resume=true).
    assert run.outcome["restored_from"] == older["location"]
    job = flink.the_running_job(name)
    assert job["jid"] == run.outcome["job_id"]
    assert restored(flink, job["jid"])["external_path"] == older["location"]


def test_restore_mode_claim_and_no_claim(flink, unique_job_name, tmp_path):
    """CLAIM hands the savepoint to Flink, which then lists the restore as one of a checkpoint
    it owns (is_savepoint false); NO_CLAIM leaves it a savepoint (is_savepoint true)."""
    name = unique_job_name
    first = deploy(spec(flink, name), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    flink.wait_counts(name, "v1", minimum=2)

    claimed = deploy(spec(flink, name, jar="stateful-v2"), tmp_path, "job_deploy_restore_mode=claim")
    assert claimed.rc == 0, claimed.output[-3000:]
    assert claimed.outcome["action"] == "upgraded"
    seen = restored(flink, claimed.outcome["job_id"])
    assert seen["external_path"] == claimed.outcome["restored_from"] == claimed.outcome["savepoint"]
    assert seen["is_savepoint"] is False, seen

    flink.wait_counts(name, "v2", minimum=2)
    kept = deploy(spec(flink, name), tmp_path, "job_deploy_restore_mode=no_claim")
    assert kept.rc == 0, kept.output[-3000:]
    assert kept.outcome["action"] == "upgraded"
    seen = restored(flink, kept.outcome["job_id"])
    assert seen["external_path"] == kept.outcome["restored_from"] == kept.outcome["savepoint"]
    assert seen["is_savepoint"] is True, seen


def test_name_match_prefix_follows_a_versioned_job_name(flink, unique_job_name, tmp_path):
    """The program puts its version in the job name: with name_match=prefix the role finds the
    running ``<name>-1.0`` and replaces it with ``<name>-1.1``; with the default (exact) a
    program naming its job otherwise is refused."""
    name = unique_job_name
    exact = deploy(spec(flink, name, program_name=name + "-1.0"), tmp_path)
    assert exact.rc != 0
    assert "not '%s'" % name in exact.output, exact.output[-3000:]
    assert flink.active(name + "-1.0") == []  # the job of the other name was cancelled

    first = deploy(spec(flink, name, program_name=name + "-1.0"), tmp_path,
                   "job_deploy_name_match=prefix")
    assert first.rc == 0, first.output[-3000:]
    assert flink.the_running_job(name + "-1.0")["jid"] == first.outcome["job_id"]
    flink.wait_counts(name, "v1", minimum=2)

    second = deploy(spec(flink, name, jar="stateful-v2", program_name=name + "-1.1"), tmp_path,
                    "job_deploy_name_match=prefix")
    assert second.rc == 0, second.output[-3000:]
    assert second.outcome["action"] == "upgraded"
    assert second.outcome["previous_job_id"] == first.outcome["job_id"]
    assert flink.state(first.outcome["job_id"]) == "FINISHED"
    active = [job for job in flink.get("/jobs/overview")["jobs"]
              if job["name"].startswith(name) and job["state"] == "RUNNING"]
    assert [(job["jid"], job["name"]) for job in active] == [(second.outcome["job_id"], name + "-1.1")]
    assert restored(flink, second.outcome["job_id"])["external_path"] == second.outcome["savepoint"]


def window_lines(flink, tag, run):
    return [(int(m.group(1)), int(m.group(6))) for m in map(ZOO_LINE.search,
                                                            flink.cluster.taskmanager_stdout().splitlines())
            if m and m.group(4) == tag and m.group(5) == run]


@pytest.mark.parametrize("drain", [True, False], ids=["drain", "no-drain"])
def test_drain_fires_the_open_event_time_windows_before_the_stop(
        flink, unique_job_name, tmp_path, drain):
    """An event-time window job (100 ms windows, event time = the time a record is read). With
    drain the stop emits the maximum watermark, so the old version fires every open window
    itself, and the new version fires only windows of records it read (ending after it
    started). Without drain the open windows are in the savepoint and the new version fires
    them, ending before it started (the control that makes the drain case mean something)."""
    name = unique_job_name
    zoo = flink.jobs["zoo"]["event-time-window"]
    args = ["--name", name, "--tag", name, "--rate", "200", "--keys", "1", "--every", "1",
            "--window-ms", "100"]

    def window_spec(version):
        return spec(flink, name, job_deploy_jar=zoo["jars"][version],
                    job_deploy_entry_class=zoo["entry_class"], job_deploy_args=args)

    first = deploy(window_spec("v1"), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    old = first.outcome["job_id"]
    second = deploy(window_spec("v2"), tmp_path, "job_deploy_drain=%s" % str(drain).lower())
    assert second.rc == 0, second.output[-3000:]
    assert second.outcome["action"] == "upgraded" and second.outcome["previous_job_id"] == old
    assert ("with a canonical savepoint to " in second.output and
            ("(drain)" in second.output) == drain), second.output[-3000:]
    new = second.outcome["job_id"]
    new_start = next(job["start-time"] for job in flink.get("/jobs/overview")["jobs"]
                     if job["jid"] == new)
    # The new version's output once it has fired a few windows of its own.
    lines = []
    deadline = time.time() + 60
    while time.time() < deadline:
        lines = window_lines(flink, name, new)
        if len([end for _key, end in lines if end >= new_start]) >= 3:
            break
        time.sleep(0.5)
    assert window_lines(flink, name, old), "the old version fired no window"
    early = [end for _key, end in lines if end < new_start]
    if drain:
        assert early == [], "windows of the old version fired by the new one: %s" % early
    else:
        assert early, "without drain the old version's open windows fire in the new version"


@pytest.fixture
def lonely_cluster(flink_versions):
    """A cluster of this test's own: its JobManager is restarted (jobs lost, no high
    availability), which the shared cluster's other users must not see."""
    cluster = flinkctl.Cluster(flink_versions[0], name="options-%s" % uuid.uuid4().hex[:6], slots=2)
    cluster.jobs = flinkctl.build_jobs(flink_versions[0])
    try:
        cluster.start()
        yield Flink(cluster)
    finally:
        cluster.stop()


def test_allow_start_empty_after_a_jobmanager_lost_the_job(lonely_cluster, tmp_path):
    flink = lonely_cluster
    name = "t-start-empty-%s" % uuid.uuid4().hex[:6]
    first = deploy(spec(flink, name), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    flink.wait_counts(name, "v1", minimum=2)
    flink.cluster.restart_jobmanager()
    assert flink.jobs_named(name) == []  # Flink forgot the job; the records remember it

    refused = deploy(spec(flink, name), tmp_path)
    assert refused.rc != 0
    assert "refusing to start it from empty state" in refused.output, refused.output[-3000:]
    assert flink.jobs_named(name, ("RUNNING",)) == []

    # The lost run printed its counts (the TaskManager lives on): the new run's come after them.
    before = dict((key, len(values)) for key, values in flink.counts(name).items())
    assert before and all(values[-1] > 50 for values in flink.counts(name).values())
    started = deploy(spec(flink, name), tmp_path, "job_deploy_allow_start_empty=true")
    assert started.rc == 0, started.output[-3000:]
    assert started.outcome["action"] == "started" and started.outcome["restored_from"] is None
    job = flink.the_running_job(name)
    assert job["jid"] == started.outcome["job_id"]
    assert (flink.checkpoints(job["jid"]).get("latest") or {}).get("restored") is None
    # Empty state: each key counts from the first multiple (50) again, not on from the lost run.
    counts = flink.wait_counts(name, "v1", minimum=max(before.values()) + 1)
    assert all(values[before.get(key, 0)] == 50 for key, values in counts.items()), counts
