# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The converge claim (flink_jobs): the guard's lease keyed by the cluster, on a storage in
memory whose clock the test moves."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._rest import delete_jar
from ansible_collections.flinkops.flink.plugins.module_utils._cluster_claim import (
    CLUSTER_KEY,
    LEASE_NAME,
    TTL,
    ClusterClaim,
    ConvergeInProgress,
)
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    GENESIS,
    intent_names,
    read_intents,
    renewal_name,
)
from ansible_collections.flinkops.flink.plugins.module_utils._lease import LEASE_MS


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
        return "id-%d" % self.writes

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


def holders(records):
    """Who holds a converge claim in ``records``, earliest first."""
    return [i.actor for i in read_intents(records.jars()).get(CLUSTER_KEY, [])]


def stop_renewing(run):
    """As if its process was killed: its claim stays, nobody renews it."""
    run.guard.renewer.stop()
    run.guard.renewer = None


def test_the_first_claim_wins_and_its_release_removes_it():
    records = Records()
    first = claim(records, "awx job 1")
    first.acquire(0)
    assert first.acquired and holders(records) == ["awx job 1"]
    first.release()
    assert records.entries == []


def test_a_second_converge_fails_at_once_naming_the_first_and_leaves_nothing():
    records = Records()
    first = claim(records, "awx job 1 (prod-eu) by alice")
    first.acquire(0)
    records.now += 1
    before = records.jars()
    second = claim(records, "ci job 7")
    with pytest.raises(ConvergeInProgress) as raised:
        second.acquire(0)
    assert "another converge of this cluster is in progress: awx job 1 (prod-eu) by alice" in raised.value.msg
    assert "nothing was changed" in raised.value.msg and "concurrent_wait_timeout is 0" in raised.value.msg
    assert records.jars() == before  # only the first's
    second.release()  # never acquired: touches nothing
    assert records.jars() == before
    first.release()


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
    assert second.acquired and second.waited_for.actor == "awx job 1"
    assert len(ticks) == 3
    assert holders(records) == ["ci job 7"]
    second.release()


def test_a_claim_no_longer_renewed_holds_nothing_a_lease_later_and_is_removed():
    records = Records()
    crashed = claim(records, "awx job 1")
    crashed.acquire(0)
    stop_renewing(crashed)  # never released: its process was killed
    records.now += LEASE_MS
    with pytest.raises(ConvergeInProgress):
        claim(records, "awx job 2").acquire(0)  # within the lease: still held
    records.now += 1
    later = claim(records, "awx job 2")
    later.acquire(0)
    assert holders(records) == ["awx job 2"]
    later.release()


def test_a_claim_past_its_ttl_holds_nothing_however_renewed():
    records = Records()
    hung = claim(records, "awx job 1", ttl=60)
    hung.acquire(0)
    stop_renewing(hung)
    records.now += 61 * 1000
    records.write(renewal_name(CLUSTER_KEY, hung.guard.intent.nonce, 99))  # renewed, yet past its ttl
    later = claim(records, "awx job 2")
    later.acquire(0)
    assert holders(records) == ["awx job 2"]
    later.release()


def test_claims_with_the_same_stamp_both_back_off():
    records = Records()
    records.now = 5
    for name in intent_names(LEASE_NAME, CLUSTER_KEY, "0" * 16, GENESIS, "two", TTL, "b" * 8,
                             leased=True):
        records.entries.append({"id": "0-" + name, "name": name, "uploaded": 5})  # listed first
    run = claim(records, "one")
    with pytest.raises(ConvergeInProgress) as raised:
        run.acquire(0)  # its own claim, stamped 5 too, is not alone: it does not go
    assert "in progress: two" in raised.value.msg
    assert holders(records) == ["two"]


def test_a_run_is_as_old_as_its_first_claim_and_lives_as_long_as_its_latest_renewal():
    records = Records()
    first = claim(records, "one")
    first.acquire(0)
    stop_renewing(first)
    records.now += 50 * 1000
    records.write(renewal_name(CLUSTER_KEY, first.guard.intent.nonce, 7))  # its thread renewed it
    records.now += LEASE_MS
    with pytest.raises(ConvergeInProgress) as raised:  # renewed: still first, though made long ago
        claim(records, "two").acquire(0)
    assert "in progress: one, since 1970-01-01 00:16:40 UTC" in raised.value.msg
    records.now += 1
    claim(records, "two").acquire(0)
    assert holders(records) == ["two"]


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
