# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The state-compatibility pre-check on REST answers recorded from real clusters.

tests/unit/fixtures/precheck/<version>/ holds what Flink answered for a running v1 job of
the test program (source -> throttle, chained; keyed counter) and the plans of v2 (same
uids) and of the "incompatible" variant (the keyed counter's uid changed). record.py there
re-records them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _precheck as precheck

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "precheck"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "job.json").exists())
JOB_ID = "0123456789abcdef0123456789abcdef"


def load(version, name):
    return json.loads((FIXTURES / version / (name + ".json")).read_text())


def body(version, name):
    return load(version, name)["body"]


def counter_vertex(version):
    return next(v for v in body(version, "job")["vertices"] if v["name"] == "flinkops-keyed-counter")


def test_fixtures_cover_the_required_versions():
    assert {"2.3", "1.20"} <= set(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_job_has_two_stateful_vertices(version):
    held = precheck.stateful_vertices(body(version, "checkpoint_details"))
    job_ids = {v["id"] for v in body(version, "job")["vertices"]}
    assert set(held) == job_ids and len(held) == 2
    assert all(v["state_size"] > 0 and v["parallelism"] == 2 for v in held.values())


@pytest.mark.parametrize("version", VERSIONS)
def test_same_uids_pass_without_reading_the_job(version):
    details, plan = body(version, "checkpoint_details"), body(version, "plan_compatible")
    assert not precheck.needs_job_details(details, plan)
    checkpoint = precheck.latest_completed(body(version, "checkpoints"))
    result = precheck.compare(checkpoint, details, plan)
    assert result["outcome"] == precheck.PASSED
    assert result["vanished"] == [] and result["dropped_state_bytes"] == 0
    assert result["checkpoint_id"] == details["id"]
    assert "all 2 stateful vertices" in result["message"]
    assert precheck.verdict(result, "strict", False) == ("ok", result["message"])


@pytest.mark.parametrize("version", VERSIONS)
def test_changed_uid_of_the_keyed_operator_is_refused_naming_it(version):
    details, plan = body(version, "checkpoint_details"), body(version, "plan_incompatible")
    assert precheck.needs_job_details(details, plan)
    counter = counter_vertex(version)
    result = precheck.compare(precheck.latest_completed(body(version, "checkpoints")), details,
                              plan, body(version, "job"))
    assert result["outcome"] == precheck.REFUSED
    expected = details["tasks"][counter["id"]]["state_size"]
    assert result["vanished"] == [{"id": counter["id"], "name": "flinkops-keyed-counter",
                                   "state_size": expected}]
    assert result["dropped_state_bytes"] == expected
    assert "flinkops-keyed-counter (%s, %d bytes)" % (counter["id"], expected) in result["message"]
    kind, message = precheck.verdict(result, "strict", False)
    assert kind == "fail"
    assert message.startswith("upgrade refused before anything stopped")
    assert "allow_non_restored_state: true" in message
    assert "operator chain" in message and "serializers are not checked" in message


@pytest.mark.parametrize("version", VERSIONS)
def test_allow_non_restored_state_and_warn_mode_turn_a_refusal_into_a_warning(version):
    result = precheck.compare(precheck.latest_completed(body(version, "checkpoints")),
                              body(version, "checkpoint_details"),
                              body(version, "plan_incompatible"), body(version, "job"))
    kind, message = precheck.verdict(result, "strict", True)
    assert kind == "warn" and "Flink drops that state" in message
    kind, message = precheck.verdict(result, "warn", False)
    assert kind == "warn" and "upgrade refused" in message
    assert precheck.verdict(result, "off", False) == ("ok", None)


@pytest.mark.parametrize("version", VERSIONS)
def test_parallelism_beyond_max_parallelism_is_refused_even_with_allow_non_restored(version):
    details, plan = body(version, "checkpoint_details"), body(version, "plan_parallelism_200")
    assert precheck.needs_job_details(details, plan)
    result = precheck.compare(precheck.latest_completed(body(version, "checkpoints")), details,
                              plan, body(version, "job"))
    assert result["outcome"] == precheck.REFUSED and result["vanished"] == []
    over = {v["name"]: (v["parallelism"], v["max_parallelism"]) for v in result["parallelism_over_max"]}
    assert over["flinkops-keyed-counter"] == (200, 128)
    assert len(over) == 2
    assert precheck.verdict(result, "strict", True)[0] == "fail"


@pytest.mark.parametrize("version", VERSIONS)
def test_no_completed_checkpoint_means_the_check_could_not_run(version):
    assert precheck.latest_completed(body(version, "checkpoints_none_completed")) is None
    assert precheck.latest_completed(body(version, "checkpoints_off")) is None


def test_a_savepoint_newer_than_the_last_checkpoint_is_the_reference():
    checkpoints = {"latest": {"completed": {"id": 7, "latest_ack_timestamp": 10},
                              "savepoint": {"id": 9, "latest_ack_timestamp": 20}}}
    assert precheck.latest_completed(checkpoints)["id"] == 9


def test_vertices_with_empty_state_are_not_stateful():
    details = {"tasks": {"a": {"state_size": 0, "num_subtasks": 1},
                         "b": {"state_size": 5, "num_subtasks": 1}}}
    assert list(precheck.stateful_vertices(details)) == ["b"]


# ---------------------------------------------------------------------------
# The reads, on the scripted wire: what the pre-check costs in requests

def replay(version, *names):
    return [(load(version, n)["status"], load(version, n)["body"]) for n in names]


@pytest.mark.parametrize("version", VERSIONS)
def test_compatible_upgrade_costs_two_reads(version, wire, make_client):
    client = make_client()
    wire.expect(*replay(version, "checkpoints", "checkpoint_details"))
    result = precheck.run(client, JOB_ID, body(version, "plan_compatible"))
    assert result["outcome"] == precheck.PASSED
    cid = precheck.latest_completed(body(version, "checkpoints"))["id"]
    assert [(s["method"], s["url"].split("8081")[1]) for s in wire.sent] == [
        ("GET", "/jobs/%s/checkpoints" % JOB_ID),
        ("GET", "/jobs/%s/checkpoints/details/%s" % (JOB_ID, cid))]


@pytest.mark.parametrize("version", VERSIONS)
def test_refusal_reads_the_job_for_names_and_max_parallelism(version, wire, make_client):
    client = make_client()
    wire.expect(*replay(version, "checkpoints", "checkpoint_details", "job"))
    result = precheck.run(client, JOB_ID, body(version, "plan_incompatible"))
    assert result["outcome"] == precheck.REFUSED
    assert [v["name"] for v in result["vanished"]] == ["flinkops-keyed-counter"]
    assert len(wire.sent) == 3 and wire.sent[-1]["url"].endswith("/jobs/%s" % JOB_ID)


@pytest.mark.parametrize("version", VERSIONS)
def test_no_checkpoint_yet_costs_one_read_and_warns(version, wire, make_client):
    client = make_client()
    wire.expect(*replay(version, "checkpoints_none_completed"))
    result = precheck.run(client, JOB_ID, body(version, "plan_incompatible"))
    assert result["outcome"] == precheck.NOT_RUN and len(wire.sent) == 1
    kind, message = precheck.verdict(result, "strict", False)
    assert kind == "warn" and "could not run" in message and "no completed checkpoint" in message


def test_details_no_longer_listed_means_the_check_could_not_run(wire, make_client):
    wire.expect((200, {"latest": {"completed": {"id": 3, "latest_ack_timestamp": 1}}}),
                (404, {"errors": ["Could not find checkpointing statistics for checkpoint 3."]}))
    result = precheck.run(make_client(), JOB_ID, {"plan": {"nodes": []}})
    assert result["outcome"] == precheck.NOT_RUN and "checkpoint 3" in result["message"]


def test_check_upgrade_raises_on_refusal_and_returns_warnings(wire, make_client):
    version = VERSIONS[0]
    wire.expect(*replay(version, "checkpoints", "checkpoint_details", "job"))
    with pytest.raises(precheck.StateCheckRefused) as err:
        precheck.check_upgrade(make_client(), JOB_ID, body(version, "plan_incompatible"))
    assert err.value.result["outcome"] == precheck.REFUSED
    assert str(err.value).startswith("upgrade refused before anything stopped")
    assert precheck.check_upgrade(make_client(), JOB_ID, None, mode="off") == (None, None)
    result, warning = precheck.check_upgrade(make_client(), JOB_ID, None)
    assert result["outcome"] == precheck.NOT_RUN and "check mode uploads nothing" in warning
