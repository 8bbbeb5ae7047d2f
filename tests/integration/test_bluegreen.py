# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade_mode=blue-green against real clusters: the stream never pauses, exactly one job remains.

Every claim is checked through Flink's REST API or the sample job's own output (heartbeats and
per-key counts in the TaskManager's stdout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from flinkops_devkit.modules import collection_root

MAX_PAUSE_MS = 1000


def longest_pause(flink, tag, since_ms, until_ms, version=None):
    """The longest gap between consecutive heartbeats of any job printing ``tag`` (ms), and where."""
    beats = sorted((ts, v) for _offset, ts, v in flink.heartbeats(tag)
                   if since_ms <= ts <= until_ms and version in (None, v))
    assert len(beats) > 10, "too few heartbeats of %s to judge a pause: %s" % (tag, beats)
    return max((b[0] - a[0], a, b) for a, b in zip(beats, beats[1:]))


def assert_no_pause(flink, tag, since_ms, until_ms, baseline_from_ms):
    """No pause over 1 s during the handover. On a machine so loaded that blue alone already
    paused longer before the handover began (measured over as long a window), that pause is the
    machine's, and the handover must not add to it; the message shows both."""
    pause, before, after = longest_pause(flink, tag, since_ms, until_ms)
    baseline = longest_pause(flink, tag, baseline_from_ms, since_ms, version="v1")[0]
    assert pause <= max(MAX_PAUSE_MS, baseline), (
        "heartbeats paused %d ms during the handover (between %s and %s); blue alone paused at "
        "most %d ms before it" % (pause, before, after, baseline))


def assert_green_continued_from_blue(flink, tag):
    """Each key's first count in v2 follows a count v1 printed: state from blue's savepoint,
    never from empty (the first count of an empty start would be 50)."""
    seen = flink.wait_counts(tag, "v2", minimum=1)
    for (version, key), counts in seen.items():
        if version != "v2":
            continue
        blue = seen.get(("v1", key))
        assert blue, "key %s printed nothing before the upgrade" % key
        assert counts[0] > 50 and counts[0] - 50 in blue, (key, blue[-3:], counts[:3])


def blue_green(params, flink, **extra):
    return dict(params, jar=flink.jobs["stateful-v2"], upgrade_mode="blue-green", **extra)


def test_blue_green_upgrade_never_pauses_and_ends_with_one_job(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    assert blue["action"] == "started", blue
    flink.wait_counts(params["name"], "v1", minimum=2)
    started_ms = time.time() * 1000
    time.sleep(20)  # a baseline: how long blue alone pauses on this machine
    before_ms = time.time() * 1000

    result = module("flink_job", blue_green(params, flink, health_window=2))
    after_ms = time.time() * 1000
    assert result["changed"] and result["action"] == "upgraded", result
    assert result["strategy"] == "blue-green" and result["overlap_seconds"] > 0
    assert result["previous_job_id"] == blue["job_id"] != result["job_id"]
    green = flink.the_running_job(params["name"])  # exactly one job of the name
    assert green["jid"] == result["job_id"]
    assert flink.state(blue["job_id"]) == "FINISHED"  # stopped with its final savepoint
    assert result["savepoint"] and result["savepoint"] != result["restored_from"]
    # Flink itself says green started from the savepoint taken while blue ran on.
    restored = flink.wait_restored(green["jid"])
    assert restored["is_savepoint"] and restored["external_path"] == result["restored_from"]
    assert_green_continued_from_blue(flink, params["name"])
    flink.wait_counts(params["name"], "v2", minimum=2)
    assert_no_pause(flink, params["name"], before_ms, after_ms + 1000, started_ms)

    again = module("flink_job", blue_green(params, flink, health_window=2))
    assert not again["changed"] and again["job_id"] == green["jid"], again


def progress_stall(beats):
    """The longest time in which no new offset was processed (ms): a replay of offsets
    processed already, as green's catch-up, is not progress."""
    newest, since, stall = -1, None, 0
    for offset, ts, _version in sorted(beats, key=lambda beat: beat[1]):
        if offset > newest:
            if since is not None:
                stall = max(stall, ts - since)
            newest, since = offset, ts
    return stall


def test_blue_is_stopped_only_once_green_caught_up_with_its_input(flink, unique_job_name, module):
    """The bench job reads like a log consumer (a restored job catches up at full speed) and
    reports FLIP-33's pendingRecords: blue keeps running until green caught up, so the stream's
    progress never stops."""
    name = unique_job_name
    params = dict(url=flink.url, name=name, jar=flink.jobs["stateful-v1"],
                  entry_class="org.flinkops.bench.StateSizeJob",
                  args=["--name", name, "--tag", name, "--rate", "200", "--keys", "100",
                        "--bytes-per-key", "64", "--heartbeat-every", "2", "--checkpoint-interval", "1000"])
    blue = module("flink_job", params)
    assert blue["action"] == "started", blue
    time.sleep(10)
    before_ms = time.time() * 1000
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"], upgrade_mode="blue-green"))
    assert result["action"] == "upgraded" and result["strategy"] == "blue-green", result
    catch_up = result["catch_up"]
    assert catch_up["measured"], catch_up
    assert catch_up["pending_records"] <= catch_up["running_job_pending_records"] + 100, catch_up
    assert flink.the_running_job(name)["jid"] == result["job_id"]
    time.sleep(3)
    beats = [beat for beat in flink.heartbeats(name) if beat[1] >= before_ms]
    assert {version for _offset, _ts, version in beats} == {"v1", "v2"}, beats[-3:]
    assert progress_stall(beats) <= MAX_PAUSE_MS, progress_stall(beats)


def test_green_failing_at_runtime_leaves_blue_untouched(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    started_ms = time.time() * 1000
    time.sleep(20)  # a baseline: how long blue alone pauses on this machine
    before_ms = time.time() * 1000
    failing = dict(params, args=params["args"] + ["--variant", "fail-on-start"])
    result = module("flink_job", blue_green(failing, flink, health_window=2))
    after_ms = time.time() * 1000
    assert result["failed"] and "blue-green aborted" in result["msg"], result
    assert "fail-on-start variant fails on purpose" in json.dumps(result)
    assert result["job_id"] == blue["job_id"] and result["failed_job_id"] != blue["job_id"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == blue["job_id"] and job["state"] == "RUNNING"
    assert flink.state(result["failed_job_id"]) == "CANCELED"
    # Blue never paused: its heartbeats run on through the whole attempt.
    time.sleep(1.5)
    assert_no_pause(flink, params["name"], before_ms, after_ms + 1000, started_ms)
    assert not flink.checkpoints(blue["job_id"])["counts"].get("restored")


def test_a_plain_upgrade_after_an_aborted_blue_green_carries_blues_state_once(flink, job_params, module):
    """The aborted attempt's green (cancelled) consumed its job id: the next plain upgrade must
    not stop blue and then meet that id at Flink's duplicate check, nor resume from the green's
    older state."""
    params = job_params()
    blue = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    failing = dict(params, args=params["args"] + ["--variant", "fail-on-start"])
    aborted = module("flink_job", blue_green(failing, flink, health_window=2))
    assert aborted["failed"] and "blue-green aborted" in aborted["msg"], aborted
    assert flink.state(aborted["failed_job_id"]) == "CANCELED"
    flink.wait_counts(params["name"], "v1", minimum=4)
    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert upgraded["action"] == "upgraded" and not upgraded.get("failed"), upgraded
    assert upgraded["job_id"] not in (aborted["failed_job_id"], blue["job_id"])
    assert upgraded["restored_from"] == upgraded["savepoint"]  # blue's own stop savepoint
    assert flink.the_running_job(params["name"])["jid"] == upgraded["job_id"]
    flink.wait_counts(params["name"], "v2", minimum=2)
    flink.assert_exactly_once(params["name"])


def test_not_enough_free_slots_fails_before_anything(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    before = flink.snapshot(params["name"])
    # Within the cluster's slots (else refused as more than it has: test_bad_input), but blue
    # holds some of them.
    total = flink.get("/overview")["slots-total"]
    result = module("flink_job", blue_green(params, flink, parallelism=total))
    assert result["failed"] and "free task slots" in result["msg"], result
    assert flink.snapshot(params["name"])[0] == before[0]
    assert flink.the_running_job(params["name"])["jid"] == blue["job_id"]


def _module_process(params):
    """flink_job in its own process, as Ansible runs it, so the test can kill it mid-run."""
    env = dict(os.environ)
    env["PYTHONPATH"] = collection_root() + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules.flink_job"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": params}).encode())
    proc.stdin.close()
    return proc


def test_interrupted_blue_green_is_finished_by_a_rerun(flink, job_params, module):
    params = job_params()
    blue = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    # A health window keeps the run between green's start and the promotion until the kill.
    # Its claim (the concurrency guard's) lasts through wait_timeout + health_window + 60 s
    # after green's start: a dead run cannot be told from a live one over REST sooner.
    proc = _module_process(blue_green(params, flink, health_window=20, wait_timeout=20))
    try:
        deadline = time.time() + 180
        while len(flink.active(params["name"])) < 2:
            assert time.time() < deadline and proc.poll() is None, "green never started"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    active = flink.active(params["name"])
    assert len(active) == 2, active  # blue and green, the handover left half done
    green_id = next(j["jid"] for j in active if j["jid"] != blue["job_id"])

    # The re-run waits until the dead run's claim has lapsed, then finishes the handover.
    rerun = module("flink_job", blue_green(params, flink, health_window=1,
                                           concurrent_deployment="wait",
                                           concurrent_wait_timeout=300))
    assert rerun["changed"] and rerun["action"] == "upgraded", rerun
    assert rerun["job_id"] == green_id and rerun["previous_job_id"] == blue["job_id"]
    assert flink.the_running_job(params["name"])["jid"] == green_id
    assert flink.state(blue["job_id"]) == "FINISHED"
    assert_green_continued_from_blue(flink, params["name"])
