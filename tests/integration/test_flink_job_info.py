# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job_info against real clusters, compared with Flink's own REST answers."""

from __future__ import annotations

import time


def test_reports_runs_checkpoints_savepoints_and_spec(flink, job_params, module):
    params = job_params()
    first = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert upgraded["action"] == "upgraded"
    time.sleep(4)  # Flink lists the stop savepoint of a finished job after its cache refresh

    info = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    assert not info["changed"] and not info.get("failed")
    by_id = dict((job["job_id"], job) for job in info["jobs"])
    assert [job["job_id"] for job in info["jobs"]] == [upgraded["job_id"], first["job_id"]]
    running, finished = by_id[upgraded["job_id"]], by_id[first["job_id"]]
    assert running["state"] == "RUNNING" and finished["state"] == "FINISHED"
    assert running["end_time"] is None and finished["end_time"] > finished["start_time"]
    assert running["tasks"]["running"] == running["tasks"]["total"] == 2
    assert running["parallelism"] == 1
    assert running["restored_from"]["path"] == upgraded["savepoint"]
    assert running["restored_from"]["is_savepoint"]
    assert finished["latest_savepoint"]["path"] == upgraded["savepoint"]
    assert info["latest_savepoint"]["path"] == upgraded["savepoint"]
    assert info["latest_savepoint"]["job_id"] == first["job_id"]
    raw = flink.checkpoints(upgraded["job_id"])
    if raw["latest"]["completed"]:
        assert running["latest_checkpoint"]["id"] >= raw["latest"]["completed"]["id"] - 5
    assert running["managed"] and running["spec"]["args"] == params["args"]
    assert running["spec"]["jar"].startswith("sha256:") and running["spec"]["jar_id"]
    assert finished["managed"] and finished["spec"]["jar"] != running["spec"]["jar"]

    only_running = module("flink_job_info", dict(url=flink.url, name=params["name"],
                                                 states=["running"]))
    assert [job["job_id"] for job in only_running["jobs"]] == [upgraded["job_id"]]
    by_job_id = module("flink_job_info", dict(url=flink.url, job_id=first["job_id"]))
    assert [job["job_id"] for job in by_job_id["jobs"]] == [first["job_id"]]
    by_prefix = module("flink_job_info", dict(url=flink.url, name=params["name"][:-3],
                                              name_match="prefix"))
    assert set(job["job_id"] for job in by_prefix["jobs"]) >= set(by_id)
    none = module("flink_job_info", dict(url=flink.url, name=params["name"] + "-nothing"))
    assert none["jobs"] == [] and none["latest_savepoint"] is None


def test_failure_root_cause_of_a_restarting_job(flink, job_params, module):
    params = job_params(extra_args=["--variant", "fail-on-start"], health_window=5)
    started = module("flink_job", params)
    assert started["failed"] and "fail-on-start variant fails on purpose" in started["msg"]
    info = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    failing = [job for job in info["jobs"] if job["state"] in ("RESTARTING", "RUNNING", "FAILING")]
    assert failing, info["jobs"]
    deadline = time.time() + 20
    while "fails on purpose" not in (failing[0]["failure"] or "") and time.time() < deadline:
        time.sleep(1)  # between restarts the job is RUNNING and reports no failure
        failing = module("flink_job_info", dict(url=flink.url, job_id=failing[0]["job_id"]))["jobs"]
    assert "fail-on-start variant fails on purpose" in failing[0]["failure"]
