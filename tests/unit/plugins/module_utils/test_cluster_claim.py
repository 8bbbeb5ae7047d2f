# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The converge claim (flink_jobs): an election in the records' storage, on a storage in memory
whose clock the test moves."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._rest import delete_jar
from ansible_collections.flinkops.flink.plugins.module_utils._cluster_claim import (
    ClusterClaim,
    ConvergeInProgress,
    claim_name,
    first_live,
    holders,
)


class Records:
    """The JAR store's record interface (jars, write, delete) with a clock of its own."""

    def __init__(self):
        self.entries = []
        self.now = 1000000
        self.writes = 0

    def jars(self):
        return [dict(entry) for entry in self.entries]

    def write(self, name, ephemeral=False):
        self.writes += 1
        self.entries.append({"id": "id-%d" % self.writes, "name": name, "uploaded": self.now})

    def delete(self, ids):
        self.entries = [e for e in self.entries if e["id"] not in ids]


class State:
    durable = False

    def __init__(self, records):
        self.jar_store = records

    def describe(self):
        return "the JobManager's JAR upload directory"


def claim(records, who, **kwargs):
    return ClusterClaim(State(records), who, sleep=lambda s: None, **kwargs)


def test_the_first_claim_wins_and_its_release_removes_it():
    records = Records()
    first = claim(records, "awx job 1")
    first.acquire(0)
    assert first.acquired and len(records.entries) == 1
    first.release()
    assert records.entries == []


def test_a_second_converge_fails_at_once_naming_the_first_and_leaves_nothing():
    records = Records()
    first = claim(records, "awx job 1 (prod-eu) by alice")
    first.acquire(0)
    records.now += 1
    second = claim(records, "ci job 7")
    with pytest.raises(ConvergeInProgress) as raised:
        second.acquire(0)
    assert "another converge of this cluster is in progress: awx job 1 (prod-eu) by alice" in raised.value.msg
    assert "nothing was changed" in raised.value.msg and "concurrent_wait_timeout is 0" in raised.value.msg
    assert [e["name"] for e in records.entries] == [records.entries[0]["name"]]  # only the first's
    second.release()  # never acquired: touches nothing
    assert len(records.entries) == 1


def test_a_waiting_converge_goes_once_the_first_has_ended():
    records = Records()
    first = claim(records, "awx job 1")
    first.acquire(0)
    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) == 3:
            first.release()
        records.now += 1000

    second = ClusterClaim(State(records), "ci job 7", sleep=sleep)
    second.acquire(600)
    assert second.acquired and second.waited_for.who == "awx job 1"
    assert len(ticks) == 3
    assert list(holders(records.jars())) == [second.run_id]


def test_a_claim_past_its_ttl_holds_nothing_and_is_removed():
    records = Records()
    crashed = claim(records, "awx job 1", ttl=60)
    crashed.acquire(0)  # never released: its process was killed
    records.now += 61 * 1000
    later = claim(records, "awx job 2")
    later.acquire(0)
    assert list(holders(records.jars())) == [later.run_id]


def test_claims_with_the_same_stamp_both_back_off():
    entries = [{"id": "1", "name": claim_name("a" * 16, 1, 60, "one"), "uploaded": 5},
               {"id": "2", "name": claim_name("b" * 16, 1, 60, "two"), "uploaded": 5}]
    tied = first_live(entries, 5)
    assert [h.run_id for h in tied] == ["a" * 16, "b" * 16]  # neither is alone: neither goes
    records = Records()
    records.now = 5
    records.entries = [entries[1]]
    run = claim(records, "one")
    with pytest.raises(ConvergeInProgress):
        run.acquire(0)


def test_a_run_is_as_old_as_its_first_claim_and_lives_as_long_as_its_latest():
    entries = [{"id": "1", "name": claim_name("a" * 16, 1, 60, "one"), "uploaded": 1000},
               {"id": "2", "name": claim_name("a" * 16, 3, 60, "one"), "uploaded": 50000},
               {"id": "3", "name": claim_name("b" * 16, 1, 60, "two"), "uploaded": 20000}]
    found = holders(entries)
    assert (found["a" * 16].first, found["a" * 16].expires) == (1000, 110000)
    assert [h.who for h in first_live(entries, 70000)] == ["one"]  # renewed: still first
    assert [h.who for h in first_live(entries, 115000)] == []


# ---------------------------------------------------------------------------- an upload already gone

def test_deleting_an_upload_already_gone_is_not_an_error_on_either_version(client, script):
    # 2.x answers 404; 1.x answers 400 naming the missing file (seen on 1.20.5: two runs
    # removing the same record at once).
    script.on("DELETE", "/jars/gone-2x.jar", {"errors": ["Not found"]}, status=404)
    script.on("DELETE", "/jars/gone-1x.jar", {"errors": [
        "org.apache.flink.runtime.rest.handler.RestHandlerException: File gone-1x.jar does not "
        "exist in /tmp/flink-web-upload.\n\tat org.apache.flink.runtime.webmonitor.handlers."
        "JarDeleteHandler.lambda$handleRequest$0(JarDeleteHandler.java:80)"]}, status=400)
    script.on("DELETE", "/jars/refused.jar", {"errors": ["some other refusal"]}, status=400)
    delete_jar(client, "gone-2x.jar")
    delete_jar(client, "gone-1x.jar")
    with pytest.raises(FlinkError) as raised:
        delete_jar(client, "refused.jar")
    assert raised.value.status == 400 and raised.value.method == "DELETE"
    assert "refused.jar" in raised.value.url and "some other refusal" in str(raised.value)
