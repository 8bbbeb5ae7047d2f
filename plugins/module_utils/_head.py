# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The head fence: a durable store's compare-and-set value per job name (issue 25).

Flink's fence (``_guard``: a successor id is accepted once) does not hold on a
high-availability cluster across a leader change: the new leader forgets the jobs that
ended before it, and accepts their ids again. So a run paused long enough for its claim
to be taken over could, once resumed, submit a successor id Flink has forgotten, over
the jobs that came after it.

The head closes that gap where the records live in a durable store: every job name has
one compare-and-set value (the backend's ``read_head``/``swap_head``), naming the job
the name's newest start moved it to. A run may submit the successor S of job P only if
it moved the head from P to S itself (or the head is at S by its own hand, or by a run
whose claim it took over): the store refuses a stale run even when Flink forgot the id.
Flink's job-id fence stays as the second line; the JAR store has no compare-and-set and
relies on it alone (the collection refuses HA clusters without a durable store).

``judge`` is the rule, in one place (pure); ``move_head`` applies it against a store.
"""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    GENESIS,
    TERMINAL_STATES,
    _decode,
    encode_payload,
)
from ansible_collections.flinkops.flink.plugins.module_utils._lease import utc
from ansible_collections.flinkops.flink.plugins.module_utils._records._schema import HEAD, conforms

# judge's verdicts
CREATE = "create"  # no head yet: create it at the successor
MOVE = "move"  # the head is at the predecessor (or a consumed attempt): move it on
PROCEED = "proceed"  # the head is at the successor by our hand: submit (a retry)
TAKE_OVER = "take over"  # at the successor by a claim we took over: make it ours, submit
REFUSE = "refuse"  # it moved on without us: submit nothing

MALFORMED = object()  # a head value that does not decode to a head's shape


class HeadMoved(FlinkError):
    """The name's head moved on without this run: it must start nothing. ``head``: the
    head read (a payload, or MALFORMED)."""

    roll_back = False

    def __init__(self, msg, head=None):
        self.head = head
        super().__init__(msg)


def encode_head(job_id, predecessor, nonce, who, now=None):
    """The head's text: the job the head points to, the job it moved from, the mover's claim
    nonce and actor, and when (the mover's clock), in the records' codec (``_guard``)."""
    return "".join(encode_payload({
        "j": job_id, "p": None if predecessor in (None, GENESIS) else predecessor, "r": nonce,
        "a": who, "t": int(now if now is not None else time.time())}))


def decode_head(text):
    """The head's payload (a dict), None when there is no head, MALFORMED when it does not
    decode to a head's shape (written by something else, or damaged)."""
    if text is None:
        return None
    payload = _decode([text.strip()])
    return payload if conforms(payload, HEAD) else MALFORMED


def judge(head, predecessor, successor, consumed, nonce, taken_over, live_claims=()):
    """What a run may do before it submits ``successor`` in place of ``predecessor``.

    ``head``: the decoded head (``decode_head``); ``consumed``: ids of ended attempts to
    replace ``predecessor`` (an aborted blue/green's green, a failed start:
    ``_guard.next_successor`` skipped them); ``nonce``: our claim's nonce; ``taken_over``:
    nonces of the claims on ``successor`` this run took over as abandoned (their run may
    have moved the head before it stopped); ``live_claims``: nonces of the claims on
    ``successor`` the store lists now. Returns one of the verdicts above.
    """
    if head is MALFORMED:
        return REFUSE
    if head is None:
        return CREATE
    at = head.get("j")
    if at == successor:
        mover = head.get("r")
        if mover == nonce:
            return PROCEED
        if mover in taken_over:
            return TAKE_OVER
        # The mover's claim is gone while ours holds: its run died between its move and its
        # submit (a ZooKeeper store frees a dead run's claim with its session, before anyone
        # could take it over), or lost the claim to us. Without this the name would be stuck.
        # Should that run resume, it finds the head ours and its own claim gone: refused.
        if nonce in live_claims and mover not in live_claims:
            return TAKE_OVER
        return REFUSE
    if at == predecessor or at in consumed:
        return MOVE
    return REFUSE


def may_adopt(head, predecessor, jobs):
    """Whether the head may be moved to ``predecessor`` before a run replaces it: a job this
    collection did not start (a user's job, started by hand after the head's job ended).

    Judged before anything stops, on a job list read then: the predecessor is active now,
    the head's job is not (Flink lists it ended, or not at all), and the head did not move
    *from* the predecessor (that is a run deploying over it: a green not listed yet). A
    stale run never passes: the job it planned to replace was stopped by the run that moved
    the head on, and the head's job runs."""
    if head is None or head is MALFORMED or head.get("j") == predecessor or \
            predecessor in (None, GENESIS) or head.get("p") == predecessor:
        return False
    states = dict((job.get("jid"), job.get("state")) for job in jobs)
    ended_or_unlisted = TERMINAL_STATES + (None,)
    return states.get(predecessor) not in ended_or_unlisted and \
        states.get(head.get("j")) in ended_or_unlisted


def describe_head(head):
    if head is None:
        return "absent (created and removed by others meanwhile)"
    if head is MALFORMED:
        return "a head the store holds but this release cannot read"
    moved = "moved there from job %s" % head["p"] if head.get("p") else "created there"
    return "job %s (%s by %s at %s)" % (head["j"], moved, head.get("a") or "an unknown run",
                                        utc((head.get("t") or 0) * 1000))


def move_head(records, name, predecessor, successor, consumed, nonce, taken_over, who,
              warn=None, live_claims=lambda: ()):
    """Move job ``name``'s head from ``predecessor`` to ``successor`` as ``judge`` allows,
    before the submission of ``successor``; raise HeadMoved when it does not. A lost race
    is judged once more on a fresh read (the winner may be this run, retrying).
    ``records``: the job's ScopedRecords; a failure to reach it propagates (StoreError).
    ``live_claims()``: the nonces of the claims on ``successor`` listed now (read only when
    the head is at the successor by another run)."""
    warn = warn or (lambda msg: None)
    for _round in range(2):
        text, token = records.read_head()
        head = decode_head(text)
        claims = live_claims() if head not in (None, MALFORMED) and head.get("j") == successor and \
            head.get("r") not in (nonce,) else ()
        verdict = judge(head, predecessor, successor, consumed, nonce, taken_over, claims)
        if head is MALFORMED:
            warn("the head record of job %s in the state store cannot be read (%r...): this "
                 "run does not act on it blindly" % (name, (text or "")[:40]))
        if verdict == PROCEED:
            return verdict
        if verdict == REFUSE:
            break
        value = encode_head(successor, predecessor, nonce, who)
        if records.swap_head(None if verdict == CREATE else token, value):
            return verdict
    raise HeadMoved(
        "job %s: this run would start job %s in place of job %s, but the state store says "
        "the name has moved on: its head is %s. Another deployment replaced job %s after "
        "this run planned (this run paused, or lost its claim); this run changed nothing "
        "further and started nothing. Run the task again to deploy over what runs now" % (
            name, successor, predecessor, describe_head(head), predecessor), head)


def adopt_head(records, name, predecessor, jobs, nonce, who):
    """Before a run replaces an active job the head does not name (``may_adopt``), move the
    head to it; a lost race leaves the head as it is (the submission then judges it)."""
    text, token = records.read_head()
    head = decode_head(text)
    if may_adopt(head, predecessor, jobs):
        records.swap_head(token, encode_head(predecessor, head["j"], nonce, who))
