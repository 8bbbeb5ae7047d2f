# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The head fence (issue 25) with a job that runs on after one of its tasks FINISHED: the zoo's
side-input job (a bounded side input whose source finishes, test_zoo.py) with the ZooKeeper
state store, through deploy, a no-op re-run, an upgrade, a stop, a resume and a no-op re-run. Flink checkpoints
and stops such a job differently (checkpoints after tasks finished, stop-with-savepoint with
finished tasks); after each step the store's head names the job that runs (after the stop:
the job stopped), and the job's own output shows its state carried exactly once."""

from __future__ import annotations

import time

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._head import decode_head
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import job_scope
from ansible_collections.flinkops.flink.plugins.module_utils._records._zookeeper import open_backend
from test_zoo import ZOO, Lifecycle

# One worker for every HA-cluster and state-store suite: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")


def head_of(store, name):
    """The name's head as the store holds it (a decoded payload: ``j`` the job it names, ``p``
    the job it moved from), read on a connection of the test's own."""
    backend = open_backend(store, 10)
    try:
        return decode_head(backend.read_head(job_scope(name))[0])
    finally:
        backend.close()


def assert_head(store, name, job_id, moved_from):
    head = head_of(store, name)
    assert head and head["j"] == job_id and head["p"] == moved_from, \
        "the head %s, want job %s moved from %s" % (head, job_id, moved_from)


def wait_finished_task(flink, name, timeout=30):
    """The running job once a task of it FINISHED (the side input's source) while it runs on."""
    deadline = time.time() + timeout
    while True:
        job = flink.the_running_job(name)
        if job["tasks"]["finished"] >= 1 and job["tasks"]["running"] >= 1:
            return job
        assert time.time() < deadline, "no task of %s finished: %s" % (name, job["tasks"])
        time.sleep(0.5)


def test_a_job_with_a_finished_task_moves_the_head_through_its_lifecycle(
        flink, module, unique_job_name, state_store_of):
    store = state_store_of("zookeeper")
    life = Lifecycle(flink, module, ZOO["side-input"], unique_job_name)
    name = life.name
    timings = {}

    def timed(step, **kwargs):
        started = time.time()
        result = life.run(state_store=store, **kwargs)
        timings[step] = time.time() - started
        assert not result.get("failed"), "%s: %s" % (step, result.get("msg"))
        return result

    deployed = timed("deploy")
    assert deployed["changed"] and deployed["action"] == "started", deployed
    job = wait_finished_task(flink, name)
    assert job["jid"] == deployed["job_id"]
    assert_head(store, name, deployed["job_id"], None)
    life.wait_progress({}, "v1")

    again = timed("no-op")
    assert not again["changed"] and again["action"] == "none", again
    assert again["job_id"] == deployed["job_id"]
    assert flink.the_running_job(name)["jid"] == deployed["job_id"]
    assert_head(store, name, deployed["job_id"], None)

    before = life.max_counts()
    upgraded = timed("upgrade", version="v2")
    assert upgraded["action"] == "upgraded" and not upgraded["rolled_back"], upgraded
    assert upgraded["savepoint"] and upgraded["restored_from"] == upgraded["savepoint"], upgraded
    assert flink.state(deployed["job_id"]) == "FINISHED"
    assert flink.the_running_job(name)["jid"] == upgraded["job_id"]
    assert_head(store, name, upgraded["job_id"], deployed["job_id"])
    life.wait_progress(before, "v2")
    life.assert_state_continuous()

    stopped = timed("stop", version="v2", state="stopped")
    assert stopped["changed"] and stopped["action"] == "stopped" and stopped["savepoint"], stopped
    assert flink.active(name) == [] and flink.state(upgraded["job_id"]) == "FINISHED"
    assert_head(store, name, upgraded["job_id"], deployed["job_id"])  # a stop starts nothing

    before = life.max_counts()
    resumed = timed("resume", version="v2")
    assert resumed["changed"] and resumed["action"] == "resumed", resumed
    assert resumed["restored_from"] == stopped["savepoint"], resumed
    # Restored after its side input finished: that task is not run again, the job runs on.
    assert wait_finished_task(flink, name)["jid"] == resumed["job_id"]
    assert_head(store, name, resumed["job_id"], upgraded["job_id"])
    life.wait_progress(before, "v2")
    life.assert_state_continuous()
    life.assert_lines()  # the labels live on in state across both restores

    # A job whose finished task was restored as finished is still the spec's job, healthy.
    settled = timed("no-op after the resume", version="v2")
    assert not settled["changed"] and settled["action"] == "none", settled
    assert settled["job_id"] == resumed["job_id"]
    assert_head(store, name, resumed["job_id"], upgraded["job_id"])
    print("store zoo %s flink-%s: %s" % (life.zoo.kind, flink.cluster.version,
                                         ", ".join("%s %.1f s" % item for item in timings.items())))
