# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The head fence (``_head``): the rule, its moves on a store, and the deployment lease applying it
before each submission (issue 25)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _bluegreen, _submit
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    GENESIS,
    Intent,
    intent_names,
    successor_id,
)
from ansible_collections.flinkops.flink.plugins.module_utils._deployment_lease import DeploymentLease, NoRollback
from ansible_collections.flinkops.flink.plugins.module_utils._head import (
    CREATE,
    MALFORMED,
    MOVE,
    PROCEED,
    REFUSE,
    TAKE_OVER,
    HeadMoved,
    decode_head,
    encode_head,
    judge,
    may_adopt,
    move_head,
)
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords
from ansible_collections.flinkops.flink.plugins.module_utils._request import Changes, DeployResult
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.memorystore import MemoryBackend
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_guard import Store
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_deployment_lease import (
    OLD,
    SPEC,
    Cluster,
    job,
    run_of,
)

P, S, S2, X = "1" * 32, "2" * 32, "3" * 32, "4" * 32
OURS, THEIRS = "0000aaaa", "0000bbbb"


def head(at, moved_from=P, nonce=THEIRS, who="ci job 7"):
    return decode_head(encode_head(at, moved_from, nonce, who, now=1_700_000_000))


# -- the rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("found, verdict", [
    (None, CREATE),  # a name new to the store (or just migrated from the JAR store)
    (head(P, moved_from=None), MOVE),
    (head(X), MOVE),  # an attempt of P that ended (an aborted green)
    (head(S, nonce=OURS), PROCEED),  # our own move, a retried submit
    (head(S, nonce=THEIRS + "t"), TAKE_OVER),  # moved by a claim we took over
    (head(S, nonce=THEIRS), REFUSE),  # moved by a run we did not take over
    (head(S2, moved_from=S), REFUSE),  # moved on past our successor
    (MALFORMED, REFUSE),
])
def test_the_rule(found, verdict):
    assert judge(found, P, S, consumed=(X,), nonce=OURS, taken_over={THEIRS + "t"}) == verdict


def test_a_successor_moved_by_a_run_whose_claim_is_gone_while_ours_holds():
    """A run that died between its move and its submit (its ZooKeeper claim went with its
    session, nobody took it over) must not leave the name stuck; a run whose own claim was
    taken over (paused) must not take the head back."""
    moved = head(S, nonce=THEIRS)
    assert judge(moved, P, S, (), OURS, set(), live_claims={OURS}) == TAKE_OVER
    assert judge(moved, P, S, (), OURS, set(), live_claims={OURS, THEIRS}) == REFUSE
    assert judge(moved, P, S, (), OURS, set(), live_claims=set()) == REFUSE


def test_a_head_that_does_not_decode_is_malformed_never_a_crash():
    assert decode_head(None) is None
    assert decode_head("not base64 !!") is MALFORMED
    assert decode_head(encode_head(S, GENESIS, OURS, "me")[:-3]) is MALFORMED
    assert decode_head(encode_head(S, GENESIS, OURS, "me"))["p"] is None


def test_adopting_an_unmanaged_active_job():
    ended = [job(S, state="CANCELED"), job(X)]
    # A user's job X runs; the head's job S ended: X may become the head before it is replaced.
    assert may_adopt(head(S), X, ended)
    assert may_adopt(head(S), X, [job(X)])  # S forgotten by Flink
    # Never while the head's job runs, nor over a run deploying from X, nor for an ended X.
    assert not may_adopt(head(S), X, [job(S), job(X)])
    assert not may_adopt(head(S, moved_from=X), X, [job(X)])
    assert not may_adopt(head(S), X, [job(X, state="FINISHED")])
    assert not may_adopt(None, X, [job(X)]) and not may_adopt(MALFORMED, X, [job(X)])


# -- moves on a store ---------------------------------------------------------------------

@pytest.fixture
def records():
    return ScopedRecords(MemoryBackend(), "job-abc")


def test_the_first_move_creates_the_head_then_moves_it(records):
    assert move_head(records, "orders", GENESIS, P, (), OURS, set(), "me") == CREATE
    assert move_head(records, "orders", P, S, (), OURS, set(), "me") == MOVE
    found = decode_head(records.read_head()[0])
    assert (found["j"], found["p"], found["r"], found["a"]) == (S, P, OURS, "me")
    assert move_head(records, "orders", P, S, (), OURS, set(), "me") == PROCEED


def test_a_lost_swap_is_judged_again_on_a_fresh_read(records):
    records.swap_head(None, encode_head(P, None, THEIRS, "them"))
    backend = records.backend
    swap = backend.swap_head

    def our_earlier_try_landed(scope, expected, value):
        swap(scope, expected, value)  # our write lands, its answer is lost
        return False
    backend.swap_head = our_earlier_try_landed
    assert move_head(records, "orders", P, S, (), OURS, set(), "me") == PROCEED

    backend.swap_head = lambda scope, expected, value: (
        swap(scope, backend.heads[scope][1], encode_head(S2, S, THEIRS, "them")) and False)
    with pytest.raises(HeadMoved) as refused:
        move_head(records, "orders", S, "5" * 32, (), OURS, set(), "me")
    assert "its head is job %s (moved there from job %s by them" % (S2, S) in refused.value.msg


def test_a_malformed_head_is_a_named_warning_and_a_refusal(records):
    records.swap_head(None, "garbage")
    warnings = []
    with pytest.raises(HeadMoved) as refused:
        move_head(records, "orders", P, S, (), OURS, set(), "me", warn=warnings.append)
    assert "a head the store holds but this release cannot read" in refused.value.msg
    assert warnings and "the head record of job orders in the state store cannot be read" in warnings[0]
    assert records.read_head()[0] == "garbage"


# -- the deployment lease, before each submission ---------------------------------------------------

class DurableStore(Store):
    """The records of one name in a durable store: entries and the head."""

    durable = True

    def __init__(self):
        super().__init__()
        self.records = ScopedRecords(MemoryBackend(), "job-abc")

    def read_head(self):
        return self.records.read_head()

    def swap_head(self, expected, value):
        return self.records.swap_head(expected, value)

    def head(self):
        return decode_head(self.read_head()[0])


@pytest.fixture
def durable():
    return DurableStore()


def upgrade_over(durable, monkeypatch, jobs=None):
    cluster = Cluster(monkeypatch, durable, jobs or [job(OLD)])
    lease = DeploymentLease(durable)
    run = run_of(durable, job(OLD))
    lease.acquire(run, run.current, SPEC)
    return cluster, lease, run


def test_an_upgrade_moves_the_head_before_it_submits(durable, monkeypatch):
    durable.swap_head(None, encode_head(OLD, None, THEIRS, "earlier run"))
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    assert lease.submit(run, "jar", {"jobId": successor}) == successor
    assert cluster.submitted == [successor]
    assert (durable.head()["j"], durable.head()["p"], durable.head()["r"]) == (successor, OLD, lease.nonce)


def test_flink_accepts_a_forgotten_id_but_the_store_refuses(durable, monkeypatch):
    """A run paused past its lease resumes after others replaced its predecessor twice and a
    leader change made Flink forget its successor id: the store refuses it."""
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    later = successor_id("orders", successor)
    durable.swap_head(None, encode_head(later, successor, THEIRS, "ci job 9"))
    cluster.jobs = [job(later)]  # the fake, like a new leader, would accept `successor` again
    with pytest.raises(HeadMoved) as refused:
        lease.submit(run, "jar", {"jobId": successor})
    assert refused.value.roll_back is False
    assert cluster.submitted == []
    assert "its head is job %s (moved there from job %s by ci job 9" % (later, successor) in refused.value.msg
    assert "this run changed nothing further and started nothing" in refused.value.msg
    assert (run.result.action, run.result.job_id, run.result.winner_job_id) == ("none", None, later)
    assert read_operations(durable.jars(), "orders")[0]["action"] == "refused"
    with pytest.raises(FlinkError, match="the state store's head of job orders moved on") as kept:
        lease.allow_rollback(run, successor, {"jar_id": "jar"})  # and never rolled back over it
    assert durable.head()["j"] == later
    # The run's end logs nothing more: a "failed" entry with its stop savepoint would be taken
    # by a later resume for the name's last state (others went on from it since).
    run.result.savepoint = "file:///sp/of-old"
    lease.release(run, kept.value)
    assert [op["action"] for op in read_operations(durable.jars(), "orders")] == ["refused"]


def test_a_retry_after_a_lost_answer_passes_the_head_again(durable, monkeypatch):
    """submit_once's second request is fenced too: the pause may fall between the two."""
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    posts = []

    def post_run(client, jar_id, body, timeout=None):
        posts.append(body["jobId"])
        # The answer is lost; meanwhile the name moved on and Flink forgot the id.
        durable.swap_head(durable.read_head()[1], encode_head("5" * 32, successor, THEIRS, "them"))
        raise FlinkError("connection reset", method="POST", url="http://jm/jars/jar/run")
    monkeypatch.setattr(_submit, "post_run", post_run)
    monkeypatch.setattr(_submit, "find_job", lambda client, job_id: None)
    monkeypatch.setattr(DeploymentLease, "submit", lambda self, run, jar_id, body: _submit.submit_once(
        None, jar_id, body, before_post=lambda: self._move_head(run, body["jobId"])))
    with pytest.raises(HeadMoved):
        lease.submit(run, "jar", {"jobId": successor})
    assert posts == [successor]
    assert cluster.submitted == []


def test_a_takeover_resubmits_the_same_id_and_makes_the_head_its_own(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    durable.swap_head(None, encode_head(successor, OLD, THEIRS, "paused run"))
    paused = Intent(successor, {"r": THEIRS, "a": "paused run"}, [{"id": "x", "uploaded": 1}])
    lease.guard.taken_over.append(paused)
    lease.submit(run, "jar", {"jobId": successor})
    assert cluster.submitted == [successor]
    assert durable.head()["r"] == lease.nonce


def test_a_successor_moved_by_a_live_twin_is_refused(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    durable.swap_head(None, encode_head(successor, OLD, THEIRS, "twin run"))
    for entry in intent_names("orders", successor, SPEC.fingerprint, OLD, "twin run", 600, THEIRS):
        durable.write(entry)  # its claim is listed: it lives (both believed they won)
    with pytest.raises(HeadMoved, match="by twin run"):
        lease.submit(run, "jar", {"jobId": successor})
    assert cluster.submitted == []


def test_a_successor_moved_by_a_dead_run_whose_claim_is_gone_is_taken_over(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    durable.swap_head(None, encode_head(successor, OLD, THEIRS, "killed run"))
    lease.submit(run, "jar", {"jobId": successor})
    assert cluster.submitted == [successor] and durable.head()["r"] == lease.nonce


def test_a_run_whose_claim_was_taken_over_never_takes_the_head_back(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    durable.swap_head(None, encode_head(successor, OLD, THEIRS, "the run that took over"))
    durable.delete([entry["id"] for entry in durable.jars() if entry["name"].startswith("flinkops-intent-")])
    with pytest.raises(HeadMoved, match="by the run that took over"):
        lease.submit(run, "jar", {"jobId": successor})
    assert cluster.submitted == []


def test_an_unreachable_store_submits_nothing(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    durable.records.backend.unreachable = True
    with pytest.raises(NoRollback) as failed:
        lease.submit(run, "jar", {"jobId": lease.next_job_id(run, SPEC)})
    assert failed.value.msg.startswith("the state store could not move the head of job orders to job")
    assert "could not be reached" in failed.value.msg
    assert cluster.submitted == []
    with pytest.raises(FlinkError) as no_rollback:
        lease.allow_rollback(run, lease.next_job_id(run, SPEC), {"jar_id": "jar"})
    # The rollback's refusal says why there is none; the store's error is in the failure once.
    assert no_rollback.value.msg == "the state store must move the head of job orders before any " \
        "submission, a rollback's too"


def test_a_rollback_moves_the_head_from_the_failed_job(durable, monkeypatch):
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    new = lease.next_job_id(run, SPEC)
    lease.submit(run, "jar", {"jobId": new})
    lease.check_started(run, new, SPEC)
    cluster.jobs = [job(new, state="FAILED")]
    lease.allow_rollback(run, new, {"jar_id": "jar"})
    back = successor_id("orders", new)
    lease.submit(run, "jar", {"jobId": back})
    assert cluster.submitted == [new, back]
    assert (durable.head()["j"], durable.head()["p"]) == (back, new)


def test_an_aborted_greens_id_in_the_head_is_moved_on(durable, monkeypatch):
    green = successor_id("orders", OLD)
    durable.swap_head(None, encode_head(green, OLD, THEIRS, "blue/green run"))
    cluster, lease, run = upgrade_over(durable, monkeypatch, [job(OLD), job(green, state="CANCELED")])
    run.jobs = list(cluster.jobs)
    lease = DeploymentLease(durable)
    lease.acquire(run, run.current, SPEC)
    assert lease.next_job_id(run, SPEC) == successor_id("orders", OLD, 1) and lease.consumed == (green,)
    lease.submit(run, "jar", {"jobId": lease.next_job_id(run, SPEC)})
    assert durable.head()["j"] == successor_id("orders", OLD, 1)


def test_an_unmanaged_active_job_is_adopted_before_it_is_replaced(durable, monkeypatch):
    durable.swap_head(None, encode_head(X, None, THEIRS, "old run"))
    cluster, lease, run = upgrade_over(durable, monkeypatch, [job(X, state="CANCELED"), job(OLD)])
    assert (durable.head()["j"], durable.head()["p"]) == (OLD, X)
    lease.submit(run, "jar", {"jobId": lease.next_job_id(run, SPEC)})
    assert cluster.submitted == [lease.next_job_id(run, SPEC)]


def test_the_jar_store_relies_on_flinks_fence_alone(monkeypatch):
    store = Store()
    cluster = Cluster(monkeypatch, store, [job(OLD)])
    lease = DeploymentLease(store)
    run = run_of(store, job(OLD))
    lease.acquire(run, run.current, SPEC)
    lease.submit(run, "jar", {"jobId": lease.next_job_id(run, SPEC)})
    assert cluster.submitted == [lease.next_job_id(run, SPEC)]


def test_check_mode_reads_no_head(durable, monkeypatch):
    Cluster(monkeypatch, durable, [job(OLD)])
    lease = DeploymentLease(durable)
    run = run_of(durable, job(OLD), check=True)
    lease.acquire(run, run.current, SPEC)
    assert durable.records.backend.head_reads == []


def test_a_refusal_at_flinks_fence_is_logged_as_refused_never_as_failed(durable, monkeypatch):
    """The same for Flink's own duplicate refusal: the entry ``failed`` with the stop's savepoint
    would make a later resume (Flink lists no run) go back to the state other runs went on from."""
    cluster, lease, run = upgrade_over(durable, monkeypatch)
    successor = lease.next_job_id(run, SPEC)
    cluster.submit_error = FlinkError("run failed", method="POST", url="http://jm/jars/x/run",
                                      status=400, errors=["DuplicateApplicationSubmissionException"])
    with pytest.raises(NoRollback) as refused:
        lease.submit(run, "jar", {"jobId": successor})
    run.result.savepoint = "file:///sp/of-old"
    lease.release(run, refused.value)
    assert [op["action"] for op in read_operations(durable.jars(), "orders")] == ["refused"]


def test_blue_green_refused_at_the_head_cancels_no_green(monkeypatch):
    """Green's id refused at a fence is another run's job id: the refusal goes up as it is,
    blue/green's abort (which cancels green) is not for it."""
    cancelled = []

    def refused(spec, jar_id, body):
        raise HeadMoved("job orders: ... the state store says the name has moved on ...")

    monkeypatch.setattr(_bluegreen, "slots_needed", lambda config, spec, plan: 1)
    monkeypatch.setattr(_bluegreen.BlueGreenStrategy, "savepoint", staticmethod(lambda *a: "file:///sp"))
    monkeypatch.setattr(_bluegreen, "next_job_id", lambda run, spec: S)
    run = SimpleNamespace(handover=None, client=None, cluster_config={}, plan=None,
                          request=SimpleNamespace(name="orders", savepoint_dir="file:///sp",
                                                  savepoint_format="canonical", savepoint_timeout=60),
                          overview=lambda: {"slots-available": 4}, result=DeployResult(),
                          changes=Changes(), submit=refused, body=lambda *a: {"jobId": S},
                          cancel=cancelled.append)
    with pytest.raises(HeadMoved):
        _bluegreen.BlueGreenStrategy().upgrade(run, job(P), SPEC, "jar", None)
    assert cancelled == []


def test_two_lost_creates_refuse_with_a_message(records):
    records.backend.swap_head = lambda scope, expected, value: False
    with pytest.raises(HeadMoved, match="its head is absent"):
        move_head(records, "orders", GENESIS, P, (), OURS, set(), "me")
