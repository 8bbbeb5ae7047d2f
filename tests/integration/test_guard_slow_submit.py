# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A live deployment whose submit is slow keeps its claim (issue 25).

``POST /jars/:id/run`` can take many seconds (a big job graph, a busy JobManager). Run A has
stopped the old job and its submit is held by the fault proxy; run B, another version of the
same job name, arrives well after the old job ended. Before the claim became a lease, B took
A's claim over as abandoned (2 s after the old job's end), started its own version under the
same successor id, and A's submit was refused ("so this run started nothing"): safe, but the
live deployment lost. Now A's claim stays alive while A renews it; B fails naming A (or waits
for it), A's job is the one that runs, never two jobs of the name, state carried once.
"""

from __future__ import annotations

import time

import pytest

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import ModuleRun

from test_store_faults import ActiveWatch, assert_carried_exactly_once, show

RUN = r"^/jars/[^/]+/run$"
# How long A's submit is held before B arrives: well past the old 2 s grace, and past the
# lease (_lease.LEASE_MS, 10 s) a run that stopped renewing would keep.
HELD_S = 14


@pytest.mark.parametrize("kind", ["jar-store", "zookeeper"])
def test_a_slow_submit_keeps_its_claim_against_another_version(flink, job_params, state_store_of, module,
                                                               kind):
    store = {} if kind == "jar-store" else {"state_store": state_store_of(kind)}
    params = job_params(**store)
    name = params["name"]
    first = module("flink_job", params)
    assert first["action"] == "started", first
    flink.wait_counts(name, "v1", minimum=2)
    version_a = dict(params, jar=flink.jobs["stateful-v2"])
    version_b = dict(version_a, configuration={"pipeline.object-reuse": "true"})
    seen = {}

    def b_arrives_while_a_submits():
        # A's stop is done and its submit held here; B comes once the old job has long ended.
        time.sleep(HELD_S)
        seen["old job"] = [job["state"] for job in flink.jobs_named(name) if job["jid"] == first["job_id"]]
        seen["b"] = ModuleRun(version_b, "run-b").result()

    with ActiveWatch(flink, name) as watch:
        with FaultProxy(flink.url) as proxy:
            proxy.add("POST", RUN, "stall:0", 1, hook=b_arrives_while_a_submits)
            started = time.monotonic()
            a = ModuleRun(dict(version_a, url=proxy.url, request_timeout=600), "run-a").result()
            took = time.monotonic() - started
    show("run A (submit held %d s)" % HELD_S, a)
    show("run B (arrived meanwhile)", seen["b"])
    print("run A took %.1f s" % took)

    assert seen["old job"] == ["FINISHED"], seen  # B really came after the stop, into the gap
    b = seen["b"]
    assert b.get("failed"), b
    assert "another deployment of job %s is in progress: awx job run-a since" % name in b["msg"], b["msg"]
    assert "this run changed nothing" in b["msg"], b["msg"]
    assert not a.get("failed"), a
    assert a["action"] == "upgraded" and a["previous_job_id"] == first["job_id"], a
    # B started nothing: every job of the name is the first run's or A's, and A's runs.
    assert {job["jid"] for job in flink.jobs_named(name)} == {first["job_id"], a["job_id"]}, \
        flink.jobs_named(name)
    assert flink.the_running_job(name)["jid"] == a["job_id"]
    watch.assert_never_two()
    assert_carried_exactly_once(flink, name, a["job_id"], a["savepoint"])


def test_a_run_that_waits_for_a_slow_submit_goes_on_from_its_job(flink, job_params, module):
    """With ``concurrent_deployment: wait`` B waits for A through A's held submit (A's claim is
    live the whole time), then plans again from A's job and upgrades it: each state once."""
    params = job_params()
    name = params["name"]
    first = module("flink_job", params)
    assert first["action"] == "started", first
    flink.wait_counts(name, "v1", minimum=2)
    version_a = dict(params, jar=flink.jobs["stateful-v2"])
    version_b = dict(version_a, configuration={"pipeline.object-reuse": "true"},
                     concurrent_deployment="wait", concurrent_wait_timeout=300)
    waiting = {}

    def b_arrives_while_a_submits():
        time.sleep(HELD_S)
        waiting["b"] = ModuleRun(version_b, "run-b")  # waits for A, in its own process
        time.sleep(HELD_S)  # A's submit is still held: B must not have gone past A meanwhile
        waiting["jobs while held"] = {job["jid"] for job in flink.jobs_named(name)}

    with ActiveWatch(flink, name) as watch:
        with FaultProxy(flink.url) as proxy:
            proxy.add("POST", RUN, "stall:0", 1, hook=b_arrives_while_a_submits)
            a = ModuleRun(dict(version_a, url=proxy.url, request_timeout=600), "run-a").result()
        b = waiting["b"].result()
    show("run A (submit held %d s)" % (2 * HELD_S), a)
    show("run B (waited)", b)

    assert waiting["jobs while held"] == {first["job_id"]}, waiting
    assert not a.get("failed") and a["action"] == "upgraded", a
    assert not b.get("failed") and b["action"] == "upgraded", b
    assert b["previous_job_id"] == a["job_id"], (a, b)  # B replaced A's job, not the old one
    assert flink.the_running_job(name)["jid"] == b["job_id"]
    watch.assert_never_two()
    assert_carried_exactly_once(flink, name, b["job_id"], b["savepoint"])
