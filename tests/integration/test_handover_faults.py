# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A blue/green handover that did not finish (issue 30), against real clusters: blue's final stop
fails, or the run is killed while it stops blue. Both versions then run; the next run of the job,
whatever it asks for, stops blue with a savepoint first. After it exactly one job of the name
runs, and green's counts go on from blue's savepoint without a gap or a repeat.

The interrupted handover finished by a blue/green re-run of the same spec is test_bluegreen's."""

from __future__ import annotations

import threading
import time

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import warnings_of

from test_bluegreen import _module_process


def green_continues(flink, tag, blue_id):
    """Blue has stopped for good; per key, green's counts (and those of the version after it,
    printed under the same tag v2) start right after a count blue printed and then step by 50:
    never from empty state, no count twice, none missing."""
    assert flink.state(blue_id) == "FINISHED"
    seen = flink.wait_counts(tag, "v2", minimum=2)
    for (version, key), counts in seen.items():
        if version != "v2":
            continue
        blue = seen.get(("v1", key)) or []
        assert counts[0] - 50 in blue, (key, blue[-3:], counts[:3])
        assert counts == list(range(counts[0], counts[-1] + 1, 50)), (key, counts)


def blue_green(params, flink, **extra):
    return dict(params, jar=flink.jobs["stateful-v2"], upgrade_mode="blue-green", **extra)


def test_blues_final_stop_failing_is_finished_by_the_next_plain_run(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    assert blue["action"] == "started", blue
    flink.wait_counts(params["name"], "v1", minimum=2)
    with FaultProxy(flink.url) as proxy:
        proxy.add("POST", r"^/jobs/%s/stop$" % blue["job_id"], "status:503")
        failed = module("flink_job", blue_green(params, flink, url=proxy.url, request_retries=1))
    assert failed["failed"], failed
    green_id = failed["job_id"]
    assert green_id != blue["job_id"] and failed["previous_job_id"] == blue["job_id"], failed
    assert "blue-green handover not finished" in failed["msg"] and "HTTP 503" in failed["msg"]
    assert "Both jobs run now" in failed["msg"] and "The next run of this job" in failed["msg"]
    assert sorted(j["jid"] for j in flink.active(params["name"])) == sorted([blue["job_id"], green_id])

    # The same task again without blue/green (the deploy role's default mode): it finishes the
    # handover instead of refusing "2 jobs match".
    again = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert not again.get("failed") and again["action"] == "upgraded", again
    assert again["job_id"] == green_id and again["previous_job_id"] == blue["job_id"], again
    assert again["savepoint"], again
    assert flink.the_running_job(params["name"])["jid"] == green_id
    green_continues(flink, params["name"], blue["job_id"])
    # Now up to date: a no-op.
    same = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert not same["changed"] and same["job_id"] == green_id, same


def test_run_killed_while_it_stops_blue_is_finished_by_the_next_upgrade(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    assert blue["action"] == "started", blue
    flink.wait_counts(params["name"], "v1", minimum=2)
    stopping = threading.Event()
    with FaultProxy(flink.url) as proxy:
        # Green passed its gate once blue's stop is requested: hold that request, kill the run.
        proxy.add("POST", r"^/jobs/%s/stop$" % blue["job_id"], "hold", hook=stopping.set)
        proc = _module_process(blue_green(params, flink, url=proxy.url, wait_timeout=30))
        try:
            assert stopping.wait(240), "the run never stopped blue"
        finally:
            proc.kill()
            proc.wait()
            proxy.released.set()
    active = flink.active(params["name"])
    assert len(active) == 2, active
    green_id = next(j["jid"] for j in active if j["jid"] != blue["job_id"])

    # A plain savepoint upgrade to a third spec (another rate): blue is stopped first, then
    # green is upgraded from its own stop's savepoint.
    third = dict(params, jar=flink.jobs["stateful-v2"],
                 args=[a if a != "400" else "300" for a in params["args"]])
    upgraded = module("flink_job", third)
    assert not upgraded.get("failed") and upgraded["action"] == "upgraded", upgraded
    assert upgraded["previous_job_id"] == green_id, upgraded
    assert any("both ran" in w and blue["job_id"] in w for w in warnings_of(upgraded)), upgraded
    assert flink.the_running_job(params["name"])["jid"] == upgraded["job_id"]
    time.sleep(2)  # the third version prints its first counts
    green_continues(flink, params["name"], blue["job_id"])


def failures(flink, job_id):
    """The job's recorded failures (2.x: exceptionHistory; 1.x: all-exceptions too)."""
    answer = flink.get("/jobs/%s/exceptions" % job_id)
    return ((answer.get("exceptionHistory") or {}).get("entries") or answer.get("all-exceptions")
            or ([answer["root-exception"]] if answer.get("root-exception") else []))


RETAINED = {"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}


def test_a_crash_looping_job_is_replaced_by_a_fixed_version_carrying_its_state(flink, job_params, module):
    """Issue 30: a job that fails on every start cannot take a savepoint; the fixed version
    replaces it from the state it restarts from, counts going on."""
    params = job_params(configuration=RETAINED)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(params["name"], "v1", minimum=2)
    # A broken version, deployed without waiting: it restarts over and over from v1's savepoint.
    broken = module("flink_job", dict(params, args=params["args"] + ["--variant", "fail-on-start"],
                                      wait=False))
    assert broken["action"] == "upgraded" and broken["savepoint"], broken
    deadline = time.time() + 120
    while len(failures(flink, broken["job_id"])) < 2:
        assert time.time() < deadline, "the broken version did not fail twice"
        time.sleep(0.5)

    fixed = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert not fixed.get("failed") and fixed["action"] == "upgraded", fixed
    assert fixed["previous_job_id"] == broken["job_id"] and fixed["restored_from"] == broken["savepoint"]
    assert any("crash-looping" in w for w in warnings_of(fixed)), fixed
    assert flink.state(broken["job_id"]) == "CANCELED"
    assert flink.the_running_job(params["name"])["jid"] == fixed["job_id"]
    flink.wait_counts(params["name"], "v2", minimum=2)
    flink.assert_exactly_once(params["name"])  # the broken version counted nothing
