# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The concurrency guard's decisions over scripted JAR-store and job lists."""

from __future__ import annotations

import itertools
import time

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    GENESIS,
    DeploymentInProgress,
    Guard,
    abandoned,
    actor,
    confirmation_name,
    elect,
    deploying,
    ended_attempts,
    intent_names,
    next_successor,
    planned_name,
    predecessor_of,
    read_confirmations,
    read_intents,
    read_planned,
    renewal_name,
    spec_of,
    stale_records,
    stop_trigger_id,
    successor_id,
    superseded_by,
)
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import cluster_lineage
from ansible_collections.flinkops.flink.plugins.module_utils._lease import LEASE_MS
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    OPERATIONS_KEPT,
    SAVEPOINT_ACTION,
    SAVEPOINTS_KEPT,
    append_operation,
    last_known_state,
    operation_names,
    read_operations,
    resumable_state,
    stale_operations,
    started_by,
    wanted_run,
)

UPLOAD_NAME_MAX = 218  # 255 bytes of a file name minus Flink's "<uuid>_" prefix
JID = "a" * 32
# A job name that does not compress: its records need several entries.
LONG_NAME = "".join("%08x" % (i * 2654435761 % 2 ** 32) for i in range(40))


class Store:
    """The JAR store as Flink keeps it: ids, names, and the JobManager's upload time (ms)."""

    def __init__(self, start_ms=1_700_000_000_000, step_ms=7):
        self.files = []
        self.clock = itertools.count(start_ms, step_ms)
        self.ids = itertools.count(1)
        self.deleted = []
        self.fail_writes = False
        self.fail_deletes = False
        self.after_write = None

    def write(self, name, ephemeral=False):
        if self.fail_writes:
            raise FlinkError("upload failed", method="POST", url="http://jm/jars/upload",
                             status=500)
        assert len(name) <= UPLOAD_NAME_MAX, name
        jar_id = "%08d-uuid_%s" % (next(self.ids), name)
        self.files.append({"id": jar_id, "name": name, "uploaded": next(self.clock)})
        if self.after_write:
            hook, self.after_write = self.after_write, None
            hook()
        return jar_id

    def jars(self):
        return list(self.files)

    def delete(self, ids):
        if self.fail_deletes:
            raise FlinkError("delete failed", method="DELETE", url="http://jm/jars/x", status=500)
        self.deleted.extend(ids)
        self.files = [f for f in self.files if f["id"] not in ids]


def test_successor_and_trigger_ids_are_deterministic_hex_and_distinct():
    first = successor_id("orders", JID)
    assert first == successor_id("orders", JID) and len(first) == 32
    int(first, 16)
    assert first != successor_id("orders-backfill", JID)
    assert successor_id("orders", None) == successor_id("orders", GENESIS)
    assert successor_id("orders", first) != first
    trigger = stop_trigger_id(JID, first)
    assert trigger == stop_trigger_id(JID, first) and len(trigger) == 32 and trigger != first


def test_a_tool_acting_through_the_modules_is_named_first():
    assert actor({"FLINKOPS_ACTOR": "flinkops.flink.heal", "CI_JOB_URL": "https://ci/jobs/7"}) == \
        "flinkops.flink.heal, ci job https://ci/jobs/7"
    assert actor({"FLINKOPS_ACTOR": "x" * 200}) == "x" * 120


def test_actor_names_the_awx_job_or_user_and_host():
    assert actor({"AWX_JOB_ID": "42", "AWX_JOB_TEMPLATE_NAME": "deploy orders"}) == \
        "awx job 42 (deploy orders)"
    assert actor({"tower_job_id": "7"}) == "awx job 7"
    assert "@" in actor({})
    assert actor({"CI_JOB_URL": "https://gitlab.example/p/-/jobs/9"}) == \
        "ci job https://gitlab.example/p/-/jobs/9"
    assert actor({"GITHUB_RUN_ID": "77", "GITHUB_REPOSITORY": "acme/orders"}) == \
        "github run acme/orders/77"
    # AWX sets JOB_ID beside INVENTORY_ID and AWX_HOST; alone, a JOB_ID is any program's variable.
    assert actor({"JOB_ID": "12", "INVENTORY_ID": "3", "AWX_HOST": "https://awx"}) == "awx job 12"
    assert "@" in actor({"JOB_ID": "12"})
    assert actor({"AWX_JOB_ID": "5", "AWX_JOB_TEMPLATE_NAME": "", "AWX_USER_NAME": "alice"}) == \
        "awx job 5 by alice"


def test_intent_round_trip_fits_flinks_name_limit_even_with_a_long_name():
    store = Store()
    names = intent_names(LONG_NAME, successor_id(LONG_NAME, JID), "f" * 16, JID,
                         "awx job 1 (" + "t" * 60 + ")", 600, "0badcafe")
    assert len(names) > 1
    for name in names:
        store.write(name)
    intents = read_intents(store.jars())
    assert len(intents) == 1
    successor, found = next(iter(intents.items()))
    intent = found[0]
    assert successor == successor_id(LONG_NAME, JID)
    assert intent.name == LONG_NAME and intent.predecessor == JID and intent.ttl == 600
    assert intent.fingerprint == "f" * 16 and intent.nonce == "0badcafe"
    assert len(intent.entry_ids) == len(names)


def test_an_incomplete_intent_is_not_read():
    store = Store()
    names = intent_names(LONG_NAME, successor_id("y", JID), "f" * 16, JID, "me", 60, "11111111")
    store.write(names[0])
    assert read_intents(store.jars()) == {}


def test_election_prefers_the_earliest_unexpired_intent_then_the_smallest_id():
    store = Store(step_ms=0)  # a tie on the JobManager's clock
    successor = successor_id("orders", JID)
    for nonce in ("aaaaaaaa", "bbbbbbbb"):
        for name in intent_names("orders", successor, "f" * 16, JID, nonce, 60, nonce):
            store.write(name)
    intents = read_intents(store.jars())[successor]
    winner = elect(intents, intents[0].uploaded)
    assert winner.entry_ids[0] == min(i.entry_ids[0] for i in intents)
    # Expired intents never win.
    assert elect(intents, intents[0].uploaded + 61 * 1000) is None


def test_claim_alone_wins_and_release_removes_it():
    store = Store()
    guard = Guard(store, "orders", who="ci@host")
    intent = guard.claim(successor_id("orders", JID), "f" * 16, JID, 600)
    assert intent.actor == "ci@host"
    assert read_intents(store.jars())
    guard.release()
    assert read_intents(store.jars()) == {}


def test_second_claim_loses_names_the_winner_and_leaves_no_record():
    store = Store()
    successor = successor_id("orders", JID)
    Guard(store, "orders", who="pipeline-a@ci").claim(successor, "a" * 16, JID, 600)
    loser = Guard(store, "orders", who="pipeline-b@ci")
    with pytest.raises(DeploymentInProgress) as caught:
        loser.claim(successor, "b" * 16, JID, 600)
    assert "another deployment of job orders is in progress" in str(caught.value)
    assert "pipeline-a@ci since" in str(caught.value)
    assert [i.actor for i in read_intents(store.jars())[successor]] == ["pipeline-a@ci"]


def test_two_claims_interleaved_agree_on_one_winner():
    """B writes while A is between its write and its re-read: both see both, one wins."""
    store = Store()
    successor = successor_id("orders", JID)
    b = Guard(store, "orders", who="b")
    outcome = {}

    def b_claims():
        try:
            outcome["b"] = b.claim(successor, "b" * 16, JID, 600)
        except DeploymentInProgress as exc:
            outcome["b"] = exc
    store.after_write = b_claims
    a = Guard(store, "orders", who="a").claim(successor, "a" * 16, JID, 600)
    assert a.actor == "a" and isinstance(outcome["b"], DeploymentInProgress)


def dead_run(store, successor, seconds_ago):
    """A run claimed, stopped the predecessor and died before its submit, ``seconds_ago`` on
    the JobManager's clock; returns the predecessor as Flink lists it."""
    Guard(store, "orders", who="killed").claim(successor, "a" * 16, JID, 600)
    ended = next(store.clock)
    store.clock = itertools.count(ended + seconds_ago * 1000, 7)
    return {"jid": JID, "state": "FAILED", "end-time": ended}


def test_an_abandoned_claim_is_taken_over():
    store = Store()
    successor = successor_id("orders", JID)
    ended = dead_run(store, successor, seconds_ago=11)  # past the lease (_lease.LEASE_MS)
    rerun = Guard(store, "orders", who="rerun", warn=print)
    intent = rerun.claim(successor, "a" * 16, JID, 600, jobs=[ended])
    assert intent.actor == "rerun"
    assert [i.actor for i in read_intents(store.jars())[successor]] == ["rerun"]


def test_two_reruns_after_a_dead_run_elect_one():
    """A run died after its stop; two re-runs claim at once, long after the job ended. Each
    takes the dead claim over, and they elect one of themselves: the other's fresh claim is
    not abandoned (it was made after the predecessor ended), so exactly one wins the claim."""
    store = Store()
    successor = successor_id("orders", JID)
    ended = dead_run(store, successor, seconds_ago=14)
    b = Guard(store, "orders", who="b")
    outcome = {}

    def b_claims():
        store.after_write = None
        try:
            outcome["b"] = b.claim(successor, "a" * 16, JID, 600, jobs=[ended])
        except DeploymentInProgress as exc:
            outcome["b"] = exc
    store.after_write = b_claims
    try:
        outcome["a"] = Guard(store, "orders", who="a").claim(successor, "a" * 16, JID, 600,
                                                             jobs=[ended])
    except DeploymentInProgress as exc:
        outcome["a"] = exc
    won = [who for who, got in outcome.items() if not isinstance(got, DeploymentInProgress)]
    assert len(won) == 1, outcome
    assert [i.actor for i in read_intents(store.jars())[successor]] == won


def test_abandoned_rules_of_a_claim_never_renewed():
    """A run killed before its first renewal (or of an older release): judged by the job it
    replaces, with one lease of grace after that job's end or after the claim's own making."""
    store = Store()
    for name in intent_names("o", successor_id("o", JID), "f" * 16, JID, "a", 60, "12345678"):
        store.write(name)
    intent = list(read_intents(store.jars()).values())[0][0]
    now = intent.uploaded + 20 * 1000  # its run stopped the predecessor after claiming
    assert not abandoned(intent, {"jid": JID, "state": "RUNNING", "end-time": -1}, False, now)
    assert not abandoned(intent, {"end-time": now - LEASE_MS}, False, now)  # in the gap, live
    assert abandoned(intent, {"end-time": now - LEASE_MS - 1}, False, now)
    # Made after its predecessor ended (a re-run resuming): the lease runs from the claim.
    ended_before = {"end-time": intent.uploaded - 60 * 1000}
    assert not abandoned(intent, ended_before, False, intent.uploaded + LEASE_MS)
    assert abandoned(intent, ended_before, False, intent.uploaded + LEASE_MS + 1)
    assert abandoned(intent, None, False, intent.uploaded + 61 * 1000)  # past its ttl
    # Flink lists no such predecessor (a JobManager without HA restarted): past the lease.
    assert not abandoned(intent, None, False, intent.uploaded + LEASE_MS)
    assert abandoned(intent, None, False, intent.uploaded + LEASE_MS + 1)


def renewed_claim(renewals_after_ms, ttl=3600):
    """A claim and renewals of it stamped at the given offsets from the claim (ms)."""
    store = Store()
    successor = successor_id("o", JID)
    for name in intent_names("o", successor, "f" * 16, JID, "a", ttl, "12345678"):
        store.write(name)
    made = store.files[0]["uploaded"]
    for sequence, offset in enumerate(renewals_after_ms):
        store.files.append({"id": "r%d" % sequence, "name": renewal_name(successor, "12345678", sequence),
                            "uploaded": made + offset})
    return store, read_intents(store.jars())[successor][0]


def test_a_renewed_claim_is_never_abandoned_however_long_ago_its_predecessor_ended():
    """The slow submit of issue 25: the old job ended a minute ago, the run still sits in
    POST /jars/:id/run, renewing its claim; nobody takes it over."""
    _store, intent = renewed_claim([2000 * i for i in range(1, 31)])
    assert intent.renewed == intent.uploaded + 60 * 1000
    now = intent.renewed + 1000
    ended_long_ago = {"jid": JID, "state": "FINISHED", "end-time": intent.uploaded + 1000}
    assert not abandoned(intent, ended_long_ago, None, now)
    assert not abandoned(intent, None, None, now)  # even with its predecessor forgotten
    assert not abandoned(intent, ended_long_ago, None, intent.renewed + LEASE_MS)


def test_a_claim_whose_renewals_stopped_is_abandoned_a_lease_later_whatever_its_predecessor():
    """Its run died (renewals stopped): taken over one lease after its last renewal, even while
    the job it replaces still runs (the takeover shares that job's stop: same successor)."""
    _store, intent = renewed_claim([2000, 4000])
    running = {"jid": JID, "state": "RUNNING", "end-time": -1}
    assert not abandoned(intent, running, None, intent.renewed + LEASE_MS)
    assert abandoned(intent, running, None, intent.renewed + LEASE_MS + 1)
    assert abandoned(intent, {"end-time": intent.uploaded + 3000}, None, intent.renewed + LEASE_MS + 1)


def test_a_renewed_claim_still_ends_at_its_ttl():
    """A run that hangs but renews: its ttl bounds it (the fence still holds after)."""
    _store, intent = renewed_claim([2000 * i for i in range(1, 40)], ttl=60)
    assert abandoned(intent, None, None, intent.uploaded + 61 * 1000)


def test_renewals_of_other_claims_and_names_are_kept_apart():
    store, intent = renewed_claim([2000])
    other = successor_id("o", "f" * 32)
    store.files.append({"id": "x", "name": renewal_name(other, "12345678", 1),
                        "uploaded": intent.uploaded + 9000})
    store.files.append({"id": "y", "name": renewal_name(intent.successor, "87654321", 1),
                        "uploaded": intent.uploaded + 9000})
    again = read_intents(store.jars())[intent.successor][0]
    assert [jar["id"] for jar in again.renewals] == ["r0"] and again.renewed == intent.uploaded + 2000


def test_renewals_whose_claim_is_gone_are_pruned_once_past_the_lease():
    store, intent = renewed_claim([2000])
    store.delete(intent.entry_ids)
    store.files.append({"id": "late", "name": "other", "uploaded": intent.uploaded + 2000 + LEASE_MS})
    assert "r0" not in stale_records(store.jars(), "o", set())
    store.files.append({"id": "later", "name": "other", "uploaded": intent.uploaded + 2001 + LEASE_MS})
    assert "r0" in stale_records(store.jars(), "o", set())


def test_keep_alive_renews_the_claim_and_release_removes_every_renewal():
    store = Store()
    guard = Guard(store, "orders", who="a")
    successor = successor_id("orders", JID)
    guard.claim(successor, "a" * 16, JID, 600, jobs=[])
    guard.keep_alive()
    guard.renewer.every = 0.01
    deadline = time.time() + 10
    while len([f for f in store.files if f["name"].startswith("flinkops-renew-")]) == 0 or \
            store.deleted == []:
        assert time.time() < deadline, store.files
        time.sleep(0.01)
    listed = read_intents(store.jars())[successor][0]
    # One renewal listed at a time (the older ones deleted), newer than the claim.
    assert len(listed.renewals) == 1 and listed.renewed > listed.uploaded
    guard.release()
    assert guard.renewer is None
    assert not [f for f in store.files if "flinkops-intent-" in f["name"] or "flinkops-renew-" in f["name"]]


def test_a_claim_whose_successor_runs_is_abandoned_past_its_window():
    """A run killed after its submit (a blue/green run before its promotion): its claim, valid
    for minutes yet, is over once the job has run longer than the run would watch it."""
    store = Store()
    for name in intent_names("o", successor_id("o", JID), "f" * 16, JID, "a", 3600, "1" * 8,
                             window=30):
        store.write(name)
    intent = list(read_intents(store.jars()).values())[0][0]
    green = {"jid": intent.successor, "start-time": intent.uploaded, "duration": 89 * 1000}
    assert not abandoned(intent, None, green, intent.uploaded + 89 * 1000)
    assert abandoned(intent, None, dict(green, duration=91 * 1000), intent.uploaded + 91 * 1000)
    assert not intent.expired(intent.uploaded + 91 * 1000)


def test_a_first_deployments_claim_is_not_taken_over_within_its_ttl():
    store = Store()
    for name in intent_names("o", successor_id("o", GENESIS), "f" * 16, GENESIS, "a", 60, "1" * 8):
        store.write(name)
    intent = list(read_intents(store.jars()).values())[0][0]
    assert not abandoned(intent, None, False, intent.uploaded + 59 * 1000)


def test_clean_up_failures_are_warnings():
    store = Store()
    warnings = []
    guard = Guard(store, "orders", who="me", warn=warnings.append)
    guard.claim(successor_id("orders", JID), "f" * 16, JID, 600)
    store.fail_deletes = True
    guard.confirm("b" * 32, "f" * 16)
    assert read_confirmations(store.jars()) == {"b" * 32: "f" * 16}
    assert warnings and "could not remove" in warnings[0]
    store.fail_writes = True
    append_operation(store, "orders", "upgraded", "me", warnings.append, job_id="b" * 32)
    guard.confirm("c" * 32, "f" * 16)
    assert len(warnings) == 3


def test_claim_fails_clearly_when_the_store_lists_no_intent():
    class Forgetful(Store):
        def jars(self):
            return []
    with pytest.raises(FlinkError) as caught:
        Guard(Forgetful(), "orders").claim(successor_id("orders", JID), "f" * 16, JID, 60)
    assert "not listed by GET /jars" in str(caught.value)


def test_confirmations_are_per_name():
    store = Store()
    store.write(confirmation_name("orders", JID, "1" * 16))
    store.write(confirmation_name("payments", "b" * 32, "2" * 16))
    assert read_confirmations(store.jars(), "orders") == {JID: "1" * 16}
    assert len(read_confirmations(store.jars())) == 2


def test_spec_of_confirmation_then_single_intent_then_legacy_prefix():
    store = Store()
    successor = successor_id("orders", JID)
    for nonce in ("aaaaaaaa", "bbbbbbbb"):
        for name in intent_names("orders", successor, nonce[0] * 16, JID, nonce, 60, nonce):
            store.write(name)
    intents = read_intents(store.jars())
    assert spec_of(successor, {}, intents) is None  # two claims, none confirmed: unknown
    assert spec_of(successor, {successor: "c" * 16}, intents) == "c" * 16
    single = {successor: intents[successor][:1]}
    assert spec_of(successor, {}, single) == "a" * 16
    legacy = "0123456789abcdef" + "9" * 16
    assert spec_of(legacy, {}, {}, ["0123456789abcdef"]) == "0123456789abcdef"
    assert spec_of(legacy, {}, {}, []) is None


def test_predecessor_active_then_newest_run_then_log_then_genesis():
    active = {"jid": "a" * 32}
    runs = [{"jid": "1" * 32, "start-time": 5}, {"jid": "2" * 32, "start-time": 9}]
    log = [{"action": "refused"}, {"action": "upgraded", "job_id": "3" * 32}]
    assert predecessor_of(active, runs, log) == ("a" * 32, "active")
    assert predecessor_of(None, runs, log) == ("2" * 32, "overview")
    assert predecessor_of(None, [], log) == ("3" * 32, "operation log")
    assert predecessor_of(None, [], []) == (GENESIS, "none")


def test_superseded_by_a_listed_successor_or_a_claim_on_it():
    new = "b" * 32
    successor = successor_id("orders", new)
    assert superseded_by(new, "orders", [{"jid": new}], {}) is None
    assert superseded_by(new, "orders", [{"jid": successor}], {}) == (successor, None)
    store = Store()
    Guard(store, "orders", who="other").claim(successor, "f" * 16, new, 60)
    found, intent = superseded_by(new, "orders", [], read_intents(store.jars()))
    assert found == successor and intent.actor == "other"


def test_operation_log_newest_first_bounded_and_per_name():
    store = Store()
    for i in range(OPERATIONS_KEPT + 3):
        append_operation(store, "orders", "upgraded", "me", print, job_id="%032x" % i,
                         savepoint="file:///sp/%d" % i, fingerprint="f" * 16)
    append_operation(store, "orders-backfill", "started", "me", print, job_id=JID)
    log = read_operations(store.jars(), "orders")
    assert len(log) == OPERATIONS_KEPT
    assert log[0]["job_id"] == "%032x" % (OPERATIONS_KEPT + 2) and log[0]["actor"] == "me"
    assert log[-1]["job_id"] == "%032x" % 3
    assert read_operations(store.jars(), "orders-backfill")[0]["action"] == "started"
    assert stale_operations(store.jars(), "orders") == []
    assert last_known_state(log) == "file:///sp/%d" % (OPERATIONS_KEPT + 2)
    assert last_known_state([{"action": "started"}]) is None


def test_savepoints_taken_are_bounded_apart_and_never_push_a_deployment_out_of_the_log():
    """A scheduled flink_savepoint logs one entry per run: the newest SAVEPOINTS_KEPT of those
    are kept, beside the newest OPERATIONS_KEPT other entries; who started a job and whether it
    should run are still read from the deployment's entries."""
    store = Store()
    append_operation(store, "orders", "started", "deployer", print, job_id=JID, fingerprint="f" * 16)
    for i in range(SAVEPOINTS_KEPT + 4):
        append_operation(store, "orders", SAVEPOINT_ACTION, "backup", print, job_id=JID,
                         savepoint="file:///sp/taken-%d" % i, fingerprint="f" * 16)
    log = read_operations(store.jars(), "orders")
    taken = [entry for entry in log if entry["action"] == SAVEPOINT_ACTION]
    assert len(taken) == SAVEPOINTS_KEPT and log[-1]["action"] == "started"
    assert taken[0]["savepoint"] == "file:///sp/taken-%d" % (SAVEPOINTS_KEPT + 3)
    assert last_known_state(log) == "file:///sp/taken-%d" % (SAVEPOINTS_KEPT + 3)
    assert started_by(store.jars(), "orders", JID) == "deployer"
    assert wanted_run(log)["action"] == "started"
    # resumable only after a stop: a savepoint of a job that ran on is not where to resume from
    assert resumable_state(log, set([JID])) is None


def test_operation_records_with_long_paths_fit_the_name_limit():
    for name in operation_names("orders", {"action": "upgraded", "savepoint": "s3://" + LONG_NAME,
                                           "actor": "a" * 80}, 1_700_000_000_000):
        assert len(name) <= UPLOAD_NAME_MAX


def test_deploying_finds_the_run_still_waiting_for_its_job():
    store = Store()
    new = "b" * 32
    Guard(store, "orders", who="pipeline-a").claim(new, "f" * 16, JID, 600, window=30)
    intents = read_intents(store.jars())
    uploaded = intents[new][0].uploaded
    young = {"jid": new, "start-time": uploaded, "duration": 5000}
    assert deploying(young, intents).actor == "pipeline-a"
    old = {"jid": new, "start-time": uploaded, "duration": 91 * 1000}  # past window + 60 s
    assert deploying(old, intents) is None
    assert deploying({"jid": JID, "start-time": uploaded, "duration": 1}, intents) is None


def test_stale_records_are_unlisted_confirmations_and_expired_intents():
    from ansible_collections.flinkops.flink.plugins.module_utils._guard import stale_records
    store = Store()
    store.write(confirmation_name("orders", JID, "1" * 16))
    store.write(confirmation_name("orders", "b" * 32, "1" * 16))
    store.write(confirmation_name("payments", "c" * 32, "1" * 16))
    Guard(store, "orders", who="dead").claim(successor_id("orders", JID), "f" * 16, JID, 0)
    store.write(confirmation_name("orders", "d" * 32, "1" * 16))  # time passes
    stale = stale_records(store.jars(), "orders", {"b" * 32, "d" * 32})
    names = [f["name"] for f in store.files if f["id"] in stale]
    assert len(names) == 2 and JID in names[0] and names[1].startswith("flinkops-intent-")


# --- job ids: ended attempts and clusters -------------------------------------------------

def test_an_ended_attempt_does_not_block_the_next_replacement():
    first = successor_id("orders", "p" * 32)
    assert next_successor("orders", "p" * 32, set()) == first
    # an aborted blue/green's green (listed CANCELED) consumed the first id
    green = {"jid": first, "state": "CANCELED"}
    ended = ended_attempts([green, {"jid": "p" * 32, "state": "RUNNING"}], [])
    second = next_successor("orders", "p" * 32, ended)
    assert second not in (first, "p" * 32) and second == successor_id("orders", "p" * 32, 1)
    # Flink forgot the green (an hour later, a leader change): the log still names it
    assert next_successor("orders", "p" * 32, ended_attempts(
        [], [{"action": "failed", "job_id": "p" * 32, "failed_job_id": first}])) == second


def test_a_running_job_is_never_taken_for_an_ended_attempt():
    first = successor_id("orders", "p" * 32)
    ended = ended_attempts([{"jid": first, "state": "RUNNING"}],
                           [{"action": "failed", "job_id": first}])
    assert next_successor("orders", "p" * 32, ended) == first  # competing runs meet at the fence


def test_job_ids_differ_between_clusters_but_not_between_jobmanagers():
    ha = {"high-availability.type": "zookeeper", "high-availability.cluster-id": "/prod",
          "high-availability.storageDir": "s3://ha/prod", "jobmanager.rpc.address": "10.0.0.1"}
    standby = dict(ha, **{"jobmanager.rpc.address": "10.0.0.2"})
    other = dict(ha, **{"high-availability.cluster-id": "/staging"})
    assert cluster_lineage(ha) == cluster_lineage(standby) != cluster_lineage(other)
    assert successor_id("orders", GENESIS, lineage=cluster_lineage(ha)) != \
        successor_id("orders", GENESIS, lineage=cluster_lineage(other))
    single = {"jobmanager.rpc.address": "flink-a", "state.checkpoints.dir": "s3://cp"}
    assert cluster_lineage(single) != cluster_lineage(dict(single, **{"jobmanager.rpc.address": "flink-b"}))
    assert cluster_lineage({}) == ""


def test_the_winner_plans_its_submission_and_the_plan_answers_after_its_claim_is_gone():
    """A run that lost the store after its submit (its confirmation unwritten) and whose
    claim went with its session: the planned record still says which spec the job runs, so
    the same spec again is a no-op, not an upgrade."""
    store = Store()
    guard = Guard(store, "orders", who="ci")
    successor = successor_id("orders", "1" * 32)
    guard.claim(successor, "f" * 16, "1" * 32, 600)
    guard.release()  # the claim is gone (an ephemeral node with its session)
    jars = store.jars()
    assert read_intents(jars) == {}
    assert spec_of(successor, read_confirmations(jars), read_intents(jars),
                   planned=read_planned(jars, "orders")) == "f" * 16
    # Two plans for one id (twins with different specs): unknown, an upgrade, never a false no-op.
    store.write(planned_name("orders", successor, "e" * 16))
    assert spec_of(successor, {}, {}, planned=read_planned(store.jars(), "orders")) is None
    # Confirmed: the confirmation decides, and the plans are pruned.
    guard.confirm(successor, "f" * 16)
    assert spec_of(successor, read_confirmations(store.jars()), {},
                   planned=read_planned(store.jars(), "orders")) == "f" * 16
    stale = stale_records(store.jars(), "orders", {successor})
    assert len(stale) == 2 and all("flinkops-plan-" in name for name in stale)


def test_a_leased_claim_never_renewed_is_abandoned_a_lease_after_its_making():
    """A run killed before its first renewal: its claim says it renews, so one lease after it
    was made it is gone, even while the job it replaces still runs."""
    store = Store()
    for name in intent_names("o", successor_id("o", JID), "f" * 16, JID, "a", 3600, "12345678",
                             leased=True):
        store.write(name)
    intent = list(read_intents(store.jars()).values())[0][0]
    assert intent.leased and not intent.renewals
    running = {"jid": JID, "state": "RUNNING", "end-time": -1}
    assert not abandoned(intent, running, None, intent.uploaded + LEASE_MS)
    assert abandoned(intent, running, None, intent.uploaded + LEASE_MS + 1)


def test_a_strict_election_elects_nobody_on_a_tie():
    store = Store(step_ms=0)
    for nonce in ("1" * 8, "2" * 8):
        for name in intent_names("o", successor_id("o", JID), "f" * 16, JID, nonce, 60, nonce):
            store.write(name)
    tied = list(read_intents(store.jars()).values())[0]
    now = tied[0].uploaded
    assert elect(tied, now) is tied[0]  # the guard: the smallest entry id (the fence stands behind)
    assert elect(tied, now, strict=True) is None  # the converge claim: both back off
    assert elect(tied[:1], now, strict=True) is tied[0]


def test_a_strict_election_elects_only_a_claim_listed_alone():
    """The converge claim: a rival listed later may carry an earlier stamp (the JAR store stamps
    an upload before Flink lists it), so two listed claims elect nobody, whatever their stamps."""
    store = Store(step_ms=5)
    for nonce in ("1" * 8, "2" * 8):
        for name in intent_names("o", successor_id("o", JID), "f" * 16, JID, nonce, 60, nonce):
            store.write(name)
    claims = list(read_intents(store.jars()).values())[0]
    assert claims[0].uploaded < claims[1].uploaded
    now = claims[1].uploaded
    assert elect(claims, now) is claims[0]
    assert elect(claims, now, strict=True) is None
    assert elect(claims[1:], now, strict=True) is claims[1]


def test_a_strict_claim_that_sees_a_later_rival_backs_off_too():
    """Ours has the earlier stamp, but a rival is listed beside it: ours backs off (dropped),
    naming the rival; the rival, listed alone on its next look, goes on."""
    store = Store(step_ms=5)
    successor = successor_id("o", JID)
    ours = Guard(store, "o", who="ours")
    real_jars = store.jars
    rival = []

    def jars_with_a_late_rival():
        # The rival's claim becomes visible after ours was written, stamped later.
        if not rival:
            rival.extend(store.write(name) for name in intent_names(
                "o", successor, "f" * 16, JID, "rival", 60, "9" * 8))
        return real_jars()

    store.jars = jars_with_a_late_rival
    with pytest.raises(DeploymentInProgress) as raised:
        ours.claim(successor, "f" * 16, JID, 60, strict=True, plan=False)
    assert raised.value.winner.actor == "rival"
    store.jars = real_jars
    assert [i.actor for i in read_intents(store.jars())[successor]] == ["rival"]


def test_a_strict_claim_that_ties_with_rivals_before_it_names_the_earliest():
    """Two rivals tied at one stamp, ours later: nobody is elected, ours backs off naming one."""
    store = Store(step_ms=0)
    successor = successor_id("o", JID)
    for nonce in ("1" * 8, "2" * 8):
        for name in intent_names("o", successor, "f" * 16, JID, "rival " + nonce[0], 60, nonce):
            store.write(name)
    store.clock = itertools.count(next(store.clock) + 1000, 7)
    with pytest.raises(DeploymentInProgress) as raised:
        Guard(store, "o", who="ours").claim(successor, "f" * 16, JID, 60, strict=True, plan=False)
    assert raised.value.winner.actor == "rival 1"
    assert [i.actor for i in read_intents(store.jars())[successor]] == ["rival 1", "rival 2"]
