# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_savepoint against real clusters: trigger, stop, failure, max_age, disposal, restore."""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse

import pytest


def local_path(location):
    return urlparse(location).path


@pytest.fixture
def running(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(params["name"], "v1", minimum=2)
    return params, started["job_id"]


@pytest.mark.parametrize("fmt", ["canonical", "native"])
def test_trigger_waits_and_returns_location(flink, module, running, fmt):
    params, job_id = running
    planned = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], format=fmt),
                     check=True)
    assert planned["changed"] and planned["location"] is None
    taken = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], format=fmt))
    assert taken["changed"] and taken["job_id"] == job_id and taken["trigger_id"]
    assert os.path.isfile(os.path.join(local_path(taken["location"]), "_metadata"))
    status = flink.get("/jobs/%s/savepoints/%s" % (job_id, taken["trigger_id"]))
    assert status["operation"]["location"] == taken["location"]
    assert flink.the_running_job(params["name"])["jid"] == job_id


def test_unwritable_target_fails_and_job_keeps_running(flink, module, running):
    params, job_id = running
    result = module("flink_savepoint", dict(url=flink.url, job_name=params["name"],
                                            target_directory="file:///proc/flinkops-nope"))
    assert result["failed"] and "savepoint of job %s failed" % job_id in result["msg"]
    assert "/proc/flinkops-nope" in result["msg"]
    assert "GET %s/jobs/%s/savepoints/" % (flink.url, job_id) in result["msg"]
    assert flink.the_running_job(params["name"])["jid"] == job_id
    assert flink.state(job_id) == "RUNNING"


def test_max_age_makes_a_backup_idempotent(flink, module, running):
    params, job_id = running
    taken = module("flink_savepoint", dict(url=flink.url, job_name=params["name"]))
    deadline = time.time() + 15
    listed = None
    while time.time() < deadline and listed != taken["location"]:
        time.sleep(0.5)  # /checkpoints is served from a ~3 s cache
        latest = flink.checkpoints(job_id).get("latest") or {}
        listed = (latest.get("savepoint") or {}).get("external_path")
    assert listed == taken["location"]
    skipped = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], max_age=3600))
    assert not skipped["changed"] and skipped["location"] == taken["location"]
    assert skipped["actions"] == []
    fresh = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], max_age=0.001))
    assert fresh["changed"] and fresh["location"] != taken["location"]


def test_stop_dispose_and_restore_from_the_location(flink, module, job_params, running):
    params, job_id = running
    stopped = module("flink_savepoint", dict(url=flink.url, job_id=job_id, stop=True))
    assert stopped["changed"] and stopped["location"]
    assert flink.active(params["name"]) == []
    assert flink.state(job_id) == "FINISHED"
    # A new job restored from the returned location carries the state on.
    resumed = module("flink_job", dict(job_params(jar="stateful-v2"),
                                       savepoint_path=stopped["location"]))
    assert resumed["action"] == "started" and resumed["restored_from"] == stopped["location"]
    seen = flink.wait_counts(params["name"], "v2")
    for (version, key), counts in seen.items():
        if version == "v2":
            assert counts[0] == seen[("v1", key)][-1] + 50
    # Another savepoint to dispose of (the restored one stays: it is the job's origin).
    extra = module("flink_savepoint", dict(url=flink.url, job_name=params["name"]))
    directory = local_path(extra["location"])
    assert os.path.isdir(directory)
    planned = module("flink_savepoint", dict(url=flink.url, state="absent",
                                             path=extra["location"]), check=True)
    assert planned["changed"] and os.path.isdir(directory)
    disposed = module("flink_savepoint", dict(url=flink.url, state="absent",
                                              path=extra["location"]))
    assert disposed["changed"] and disposed["disposed"]
    assert not os.path.exists(directory)
    again = module("flink_savepoint", dict(url=flink.url, state="absent", path=extra["location"]))
    assert not again["changed"] and again["disposed"] is False
    # Flink keeps listing it as the job's latest savepoint; flink_job_info never names it (issue 30).
    info = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    assert info["latest_savepoint"] is None or info["latest_savepoint"]["path"] != extra["location"], info
    assert all((j["latest_savepoint"] or {}).get("path") != extra["location"] for j in info["jobs"]), info


def test_no_running_job_is_a_clear_error(flink, module, unique_job_name):
    result = module("flink_savepoint", dict(url=flink.url, job_name=unique_job_name))
    assert result["failed"] and "no running job named %r" % unique_job_name in result["msg"]


def test_several_jobs_are_stopped_at_once_and_a_failure_is_named(flink, module, job_params):
    """job_ids: both running jobs stop with a savepoint each in one module run; a job that is not
    running fails by name, after the others completed."""
    names, ids = [], []
    for suffix in ("a", "b"):
        params = job_params(name=None)
        params["name"] = "%s-%s" % (params["name"], suffix)
        params["args"] = ["--name", params["name"], "--tag", params["name"], "--rate", "400"]
        started = module("flink_job", params)
        assert started["action"] == "started", started
        names.append(params["name"])
        ids.append(started["job_id"])
    for name in names:
        flink.wait_counts(name, "v1", minimum=2)
    gone = "0" * 32
    planned = module("flink_savepoint", dict(url=flink.url, job_ids=ids, stop=True), check=True)
    assert planned["changed"] and [s["location"] for s in planned["savepoints"]] == [None, None]
    assert [flink.state(i) for i in ids] == ["RUNNING", "RUNNING"]

    result = module("flink_savepoint", dict(url=flink.url, job_ids=ids + [gone], stop=True))
    assert result["failed"] and result["changed"], result
    assert result["msg"].startswith("1 of 3 savepoints failed: job %s: no job with id %s" % (gone, gone))
    by_id = dict((s["job_id"], s) for s in result["savepoints"])
    for job_id in ids:
        assert by_id[job_id]["error"] is None and by_id[job_id]["trigger_id"], by_id[job_id]
        assert os.path.isfile(os.path.join(local_path(by_id[job_id]["location"]), "_metadata"))
        assert flink.state(job_id) == "FINISHED"
        status = flink.get("/jobs/%s/savepoints/%s" % (job_id, by_id[job_id]["trigger_id"]))
        assert status["operation"]["location"] == by_id[job_id]["location"]
    assert by_id[gone]["location"] is None
    for name in names:
        assert flink.active(name) == []


def test_keep_disposes_of_the_history_beyond_the_newest(flink, module, job_params, running):
    params, _job_id = running
    name = params["name"]
    upgraded = module("flink_job", job_params(jar="stateful-v2"))
    reconfigured = module("flink_job", dict(job_params(jar="stateful-v2"),
                                            configuration={"pipeline.object-reuse": "true"}))
    stopped = module("flink_job", dict(job_params(jar="stateful-v2"), state="stopped"))
    assert [upgraded["action"], reconfigured["action"], stopped["action"]] == \
        ["upgraded", "upgraded", "stopped"], (upgraded, reconfigured, stopped)
    resumed = module("flink_job", dict(job_params(jar="stateful-v2"),
                                       configuration={"pipeline.object-reuse": "true"}))
    assert resumed["action"] == "resumed" and resumed["restored_from"] == stopped["savepoint"], resumed
    manual = module("flink_savepoint", dict(url=flink.url, job_name=name))
    older = [reconfigured["savepoint"], upgraded["savepoint"]]
    assert all(os.path.isdir(local_path(path)) for path in older)

    retention = dict(url=flink.url, state="absent", job_name=name, keep=1)
    planned = module("flink_savepoint", retention, check=True)
    # The newest kept; the running job's restore point kept too, though older.
    assert planned["changed"] and planned["disposed_savepoints"] == older, planned
    assert planned["kept_savepoints"] == [manual["location"], stopped["savepoint"]], planned
    assert all(os.path.isdir(local_path(path)) for path in older)

    applied = module("flink_savepoint", retention)
    assert applied["changed"] and applied["disposed"] and applied["disposed_savepoints"] == older
    assert not any(os.path.exists(local_path(path)) for path in older)
    assert os.path.isdir(local_path(stopped["savepoint"])) and os.path.isdir(local_path(manual["location"]))
    again = module("flink_savepoint", retention)
    assert not again["changed"] and again["disposed_savepoints"] == [], again
    info = module("flink_job_info", dict(url=flink.url, name=name))
    assert not set(older) & set(sp["path"] for sp in info["savepoints"]), info["savepoints"]
    assert flink.the_running_job(name)["jid"] == resumed["job_id"]


def test_keep_needs_a_job_name_and_one_savepoint_at_least(flink, module, unique_job_name):
    missing = module("flink_savepoint", dict(url=flink.url, state="absent", keep=2))
    # name (formerly job_name, still its alias)
    assert missing["failed"] and "required by 'keep': name" in missing["msg"], missing
    zero = module("flink_savepoint", dict(url=flink.url, state="absent", job_name=unique_job_name,
                                          keep=0))
    assert zero["failed"] and "keep must be 1 or more" in zero["msg"], zero
    both = module("flink_savepoint", dict(url=flink.url, state="absent", job_name=unique_job_name,
                                          keep=1, path="file:/tmp/nope"))
    assert both["failed"] and "mutually exclusive" in both["msg"], both
