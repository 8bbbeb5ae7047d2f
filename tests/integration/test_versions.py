# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 25: a job's versions listed from the records, and a return to an earlier version by
number: an upgrade like any other (state carried exactly once), a no-op when re-run, and with
a durable store after the JobManager lost its uploads, only with the very JAR file it ran."""

from __future__ import annotations

import hashlib
import json

import pytest

from test_state_store import wipe_upload_dir

# The state-store suites share one worker: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _v1_lines(flink, tag):
    """The fewest count lines a key of the job's v1 printed so far."""
    return min(len(counts) for (version, _key), counts in flink.counts(tag).items() if version == "v1")


def _specs(info):
    return [(v["version"], v["spec"]["jar"], v["spec"]["args"]) for v in info["versions"]]


def test_versions_are_listed_and_version_1_is_returned_to(flink, job_params, module):
    params = job_params()
    first = module("flink_job", params)
    assert first["action"] == "started", first
    flink.wait_counts(params["name"], "v1", minimum=2)
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    upgraded = module("flink_job", v2)
    assert upgraded["action"] == "upgraded", upgraded
    flink.wait_counts(params["name"], "v2", minimum=2)

    info = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    v1_sha = _sha256(params["jar"])[:16]
    assert _specs(info) == [(1, "sha256:" + v1_sha, params["args"]),
                            (2, "sha256:" + _sha256(v2["jar"])[:16], params["args"])]
    assert [v["outcome"] for v in info["versions"]] == ["started", "upgraded"]
    assert info["versions"][0]["jar_sha256"] == v1_sha and info["versions"][0]["jar_on_cluster"]
    assert info["recorded_spec"]["jar"] == info["versions"][1]["spec"]["jar"]

    before = flink.snapshot(params["name"])
    planned = module("flink_job", dict(url=flink.url, name=params["name"], version=1), check=True, diff=True)
    assert planned["changed"] and planned["version"] == 1, planned
    assert planned["diff"]["after"]["jar"] == "sha256:" + v1_sha and planned["diff"]["before"]["jar"] != planned["diff"]["after"]["jar"]
    assert flink.snapshot(params["name"]) == before  # check mode changed nothing
    printed = _v1_lines(flink, params["name"])
    back = module("flink_job", dict(url=flink.url, name=params["name"], version=1))
    assert back["action"] == "upgraded" and back["version"] == 1, back
    assert back["restored_from"] == back["savepoint"] and back["savepoint"]
    flink.wait_counts(params["name"], "v1", minimum=printed + 2)
    flink.assert_exactly_once(params["name"])
    again = module("flink_job", dict(url=flink.url, name=params["name"], version=1))
    assert again["action"] == "none" and not again["changed"], again

    after = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    assert [v["version"] for v in after["versions"]] == [1, 2]
    assert after["versions"][0]["outcome"] == "upgraded"
    assert after["versions"][0]["last_applied"] >= after["versions"][1]["last_applied"]


def test_a_version_whose_jar_the_jobmanager_lost_needs_its_very_file(
        flink, job_params, module, state_store_of, tmp_path):
    store = state_store_of("zookeeper")
    params = job_params(state_store=store)
    assert module("flink_job", params)["action"] == "started"
    flink.wait_counts(params["name"], "v1", minimum=2)
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    assert module("flink_job", v2)["action"] == "upgraded"
    flink.wait_counts(params["name"], "v2", minimum=2)
    wipe_upload_dir(flink)  # a restarted JobManager with a fresh upload directory

    by_number = dict(url=flink.url, name=params["name"], state_store=store, version=1)
    info = module("flink_job_info", dict(url=flink.url, name=params["name"], state_store=store))
    assert [v["version"] for v in info["versions"]] == [1, 2]
    assert [v["jar_on_cluster"] for v in info["versions"]] == [None, None]
    v1_sha = _sha256(params["jar"])
    running = flink.the_running_job(params["name"])["jid"]

    missing = module("flink_job", by_number)
    assert missing["failed"] and "sha256:%s" % v1_sha[:16] in missing["msg"], missing
    assert "give that JAR file as jar" in missing["msg"] and not missing["changed"]
    wrong = module("flink_job", dict(by_number, jar=v2["jar"]))
    assert wrong["failed"] and _sha256(v2["jar"]) in wrong["msg"], wrong
    assert "sha256:%s" % v1_sha[:16] in wrong["msg"] and not wrong["changed"]
    assert flink.jar_names() == [] and flink.the_running_job(params["name"])["jid"] == running

    # The running version's JAR was lost too: no way back to it, said before the stop.
    no_way_back = module("flink_job", dict(by_number, jar=params["jar"]))
    assert no_way_back["failed"] and "rollback=false" in no_way_back["msg"], no_way_back
    assert flink.the_running_job(params["name"])["jid"] == running
    printed = _v1_lines(flink, params["name"])
    back = module("flink_job", dict(by_number, jar=params["jar"], rollback=False))
    assert back["action"] == "upgraded" and back["version"] == 1, back.get("msg")
    flink.wait_counts(params["name"], "v1", minimum=printed + 2)
    flink.assert_exactly_once(params["name"])
    after = module("flink_job_info", dict(url=flink.url, name=params["name"], state_store=store))
    assert after["versions"][0]["jar_on_cluster"], after["versions"]
    assert after["recorded_spec"]["jar"] == "sha256:" + v1_sha[:16]


def test_a_version_with_a_secret_needs_it_again_and_keeps_its_number(flink, job_params, module):
    """The records hold only a salted hash of a secret argument (the fingerprint too): returning
    to that version needs the value again, and is the same version (same fingerprint, number 1)."""
    secret = "s3cr3t-tag-%s" % job_params()["name"][-6:]
    params = job_params(tag=secret, secret_args=["--tag"])
    assert module("flink_job", params)["action"] == "started"
    flink.wait_counts(secret, "v1", minimum=2)
    assert module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))["action"] == "upgraded"
    flink.wait_counts(secret, "v2", minimum=2)

    by_number = dict(url=flink.url, name=params["name"], version=1)
    refused = module("flink_job", by_number)
    assert refused["failed"] and "deployed with secret values" in refused["msg"], refused
    printed = _v1_lines(flink, secret)
    back = module("flink_job", dict(by_number, args=params["args"], secret_args=["--tag"]))
    assert back["action"] == "upgraded" and back["version"] == 1, back.get("msg")
    info = module("flink_job_info", dict(url=flink.url, name=params["name"]))
    assert [(v["version"], v["outcome"]) for v in info["versions"]] == [(1, "upgraded"), (2, "upgraded")]
    assert info["versions"][0]["spec"]["args"][3] == "********"
    for result in (refused, back, info):
        assert secret not in json.dumps(result)
    flink.wait_counts(secret, "v1", minimum=printed + 2)
    flink.assert_exactly_once(secret)
