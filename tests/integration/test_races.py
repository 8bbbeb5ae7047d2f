# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Races between real flink_job runs on a real cluster (issue 13): nothing twice, nothing lost.

Every scenario runs FLINKOPS_RACE_ROUNDS rounds in a row (default 2; the acceptance run
uses 10), each on a fresh job name, and after each round checks the three promises:

- exactly one active job of the name;
- the sample job's ledger is exactly-once: per key, the counts printed by every job of the
  round (all versions) are 50, 100, 150, ... with none twice and none missing;
- no run is green whose job is not the one running (or replaced by a later green run).

Runs are real module processes (flinkops_devkit.modules), started at the same moment
or at a chosen step of another run (through flinkops_devkit.faultproxy).
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import ModuleRun, at_once

ROUNDS = int(os.environ.get("FLINKOPS_RACE_ROUNDS", "2"))
RETRY_AFTER = 12  # > _lease.LEASE_MS after a killed run's last renewal
ROUND_IDS = ["round-%d" % (i + 1) for i in range(ROUNDS)]


# --------------------------------------------------------------------------- the promises

def green_runs_hold(flink, name, results):
    """Every green run's job runs, or a later green run replaced it: a chain ending there."""
    running = flink.the_running_job(name)["jid"]
    green = [r for r in results if not r.get("failed")]
    replaced = set(r.get("previous_job_id") for r in green if r.get("action") != "none")
    for result in green:
        job = result.get("job_id")
        assert job == running or job in replaced, (
            "run %s is green with job %s, which is not running (running: %s): %s" % (
                result["_label"], job, running, result.get("msg") or result.get("action")))
    return running


def promises(flink, name, results):
    """The three promises, once the dust settled; returns the running job's id."""
    settle(flink, name)
    running = green_runs_hold(flink, name, results)
    printed = sum(len(c) for c in flink.counts(name).values())
    deadline = time.time() + 60
    while sum(len(c) for c in flink.counts(name).values()) < printed + 8:
        assert time.time() < deadline, "the running job %s prints no counts" % running
        time.sleep(0.5)
    flink.assert_exactly_once(name)
    for result in results:
        assert "Traceback" not in json.dumps(result), result
    return running


def settle(flink, name, timeout=120):
    """Wait until exactly one job of the name is active and all its tasks run."""
    deadline = time.time() + timeout
    while True:
        active = flink.active(name)
        if len(active) == 1 and active[0]["tasks"]["running"] == active[0]["tasks"]["total"]:
            time.sleep(1)
            again = flink.active(name)
            if [j["jid"] for j in again] == [active[0]["jid"]]:
                return active[0]
        assert len(active) <= 1, "two active jobs of %s: %s" % (
            name, [(j["jid"], j["state"]) for j in active])
        assert time.time() < deadline, "no single running job of %s: %s" % (name, active)
        time.sleep(0.5)


# --------------------------------------------------------------------------- scenarios

KEYS = 4


@pytest.fixture
def params(flink, unique_job_name):
    """Module parameters of the sample job for one round (fresh name per round)."""
    def make(round_id, jar="stateful-v1", **overrides):
        name = "%s-%s" % (unique_job_name, round_id.split("-")[-1])
        values = dict(url=flink.url, name=name, jar=flink.jobs[jar],
                      entry_class=flink.entry_class, parallelism=1, wait_timeout=120,
                      args=["--name", name, "--tag", name, "--rate", "400",
                            "--keys", str(KEYS)])
        values.update(overrides)
        return values
    return make


def started(flink, module, params):
    first = module("flink_job", params)
    assert first["action"] == "started", first
    flink.wait_counts(params["name"], "v1", minimum=2)
    return first["job_id"]


def another_spec(params, flink):
    """The same program with another spec (a configuration change): state-compatible."""
    return dict(params, configuration={"pipeline.object-reuse": "true"})


@pytest.mark.parametrize("round_id", ROUND_IDS)
def test_two_different_versions_at_once(flink, params, module, round_id):
    v1 = params(round_id)
    old = started(flink, module, v1)
    results = at_once(dict(v1, jar=flink.jobs["stateful-v2"]), another_spec(v1, flink))
    running = promises(flink, v1["name"], results)
    assert running != old
    losers = [r for r in results if r.get("failed")]
    for loser in losers:
        assert "another deployment of job %s" % v1["name"] in loser["msg"], loser["msg"]


@pytest.mark.parametrize("round_id", ROUND_IDS)
def test_the_same_spec_twice_ci_retry(flink, params, module, round_id):
    v1 = params(round_id)
    old = started(flink, module, v1)
    v2 = dict(v1, jar=flink.jobs["stateful-v2"])
    results = at_once(v2, v2)
    running = promises(flink, v1["name"], results)
    assert running != old
    # One upgraded; the other either found the job it asked for already healthy or said
    # that another deployment was in progress.
    assert [r["action"] for r in results if not r.get("failed")].count("upgraded") == 1, results
    for result in results:
        if result.get("failed"):
            assert "another deployment of job %s" % v1["name"] in result["msg"], result["msg"]


@pytest.mark.parametrize("round_id", ROUND_IDS)
def test_run_entering_the_stop_to_submit_gap(flink, params, module, round_id):
    v1 = params(round_id)
    started(flink, module, v1)
    others = []
    with FaultProxy(flink.url) as proxy:
        # Run A's submit waits 3 s at the proxy: its old job is stopped, its new one not yet
        # submitted. Run B starts right then, directly against Flink.
        proxy.add("POST", r"^/jars/.+/run$", "stall:3", 1,
                  hook=lambda: others.append(ModuleRun(another_spec(v1, flink), "run-b")))
        a = ModuleRun(dict(v1, url=proxy.url, jar=flink.jobs["stateful-v2"]), "run-a").result()
    assert others, "run A never reached its submit"
    b = others[0].result()
    promises(flink, v1["name"], [a, b])
    if b.get("failed"):
        assert "another deployment of job %s is in progress" % v1["name"] in b["msg"], b["msg"]
        assert "run-a" in b["msg"]


@pytest.mark.parametrize("round_id", ROUND_IDS)
def test_run_entering_the_health_window(flink, params, module, round_id):
    v1 = params(round_id)
    old = started(flink, module, v1)
    a = ModuleRun(dict(v1, jar=flink.jobs["stateful-v2"], health_window=8), "run-a")
    deadline = time.time() + 120
    while not [j for j in flink.active(v1["name"]) if j["jid"] != old and
               j["tasks"]["running"] == j["tasks"]["total"]]:
        assert time.time() < deadline, "run A's new job never ran"
        time.sleep(0.2)
    b = ModuleRun(another_spec(v1, flink), "run-b").result()
    a = a.result()
    promises(flink, v1["name"], [a, b])
    if not b.get("failed"):
        # B replaced A's job inside A's health window: A must say so and never roll back.
        assert a.get("failed") and not a.get("rolled_back"), a
        assert "superseded by another deployment" in a["msg"], a["msg"]
        # It names run B: by its claim, by its log entry, or by the job B started (when A
        # looked between B's submit and B's log entry).
        assert "run-b" in a["msg"] or "its successor %s runs" % b["job_id"] in a["msg"], a["msg"]


@pytest.mark.parametrize("round_id", ROUND_IDS)
def test_run_killed_between_stop_and_submit_then_two_reruns(flink, params, module, round_id):
    v1 = params(round_id)
    old = started(flink, module, v1)
    v2 = dict(v1, jar=flink.jobs["stateful-v2"])
    held = threading.Event()
    with FaultProxy(flink.url) as proxy:
        proxy.add("POST", r"^/jars/.+/run$", "hold", hook=held.set)
        killed = ModuleRun(dict(v2, url=proxy.url), "run-killed")
        assert held.wait(120), "the killed run never reached its submit"
        killed.kill()
    assert flink.state(old) == "FINISHED" and flink.active(v1["name"]) == []
    # A retry comes seconds later; the guard takes a dead run's claim over once its run has not
    # renewed it for a lease (_lease.LEASE_MS), however long a live run spends in its submit.
    time.sleep(RETRY_AFTER)
    results = at_once(v2, v2)
    running = promises(flink, v1["name"], results)
    assert running != old
    restored = flink.wait_restored(running)
    assert restored["is_savepoint"], restored
