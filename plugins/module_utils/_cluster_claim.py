# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The converge claim: one converge (``flink_jobs``) of a cluster acts at a time.

Each job's guard (``_guard``) already keeps two runs from starting two jobs of one name, but
two converges of one cluster from different cluster files would still take turns job by job
and leave a mix of both files. So a converge claims the cluster before its survey, and a
second one waits until the first has ended (then plans from what runs then) or fails naming it.

The claim is the guard's lease (``Guard.claim``, ``Guard.keep_alive``), keyed by the cluster
instead of a job's successor: the same records in the records' storage (the JAR store, or the
durable store's ``converge`` scope), the same election, the same renewal and takeover of a
dead holder's claim (``_lease``). One difference: no job-id fence stands behind a converge, so
its election is strict (``_guard.elect``): a converge goes on only when its claim is the only
one listed, and two that see each other both back off and try again after a random part of a
poll (so that they do not meet again), whatever the stamps say.
"""

from __future__ import annotations

import hashlib
import random
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    GENESIS,
    DeploymentInProgress,
    Guard,
)
from ansible_collections.flinkops.flink.plugins.module_utils._lease import LEASE_MS, utc
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords

SCOPE = "converge"
# The lease's key in place of a successor id: one per storage, and the storage is the cluster's.
CLUSTER_KEY = hashlib.sha256(b"flinkops-converge:cluster").hexdigest()[:32]
LEASE_NAME = "flinkops-converge"
# A converge that hangs yet renews its claim holds the cluster this long at most; one that
# died holds it a lease (``_lease.LEASE_MS``) after its last renewal.
TTL = 24 * 3600
NO_SPEC = "0" * 16


class ConvergeInProgress(FlinkError):
    """Another converge of the cluster holds the claim."""


class ClusterClaim:
    """``acquire(wait)`` before a converge changes anything, ``release()`` after (in finally).

    ``state``: the run's StateStore; ``connect()``: another (client, state store) for the
    renewing thread (it must not share the run's connection)."""

    def __init__(self, state, who, connect=None, ttl=TTL, sleep=time.sleep, monotonic=time.monotonic,
                 poll=1.0):
        self.state = state
        self.who = who
        self.connect = connect
        self.ttl = ttl
        self.sleep = sleep
        self.monotonic = monotonic
        self.poll = poll
        self.guard = None
        self.waited_for = None  # the claim (a _guard.Intent) this run waited for, if any
        self.acquired = False
        self.warnings = []

    @staticmethod
    def storage(state):
        return state.jar_store if not state.durable else ScopedRecords(state.backend, SCOPE)

    def acquire(self, wait):
        """Claim the cluster, waiting up to ``wait`` seconds for another converge's claim to end;
        raises ConvergeInProgress naming it (and changing nothing) when it does not."""
        records = self.storage(self.state)
        deadline = self.monotonic() + wait
        while True:
            guard = Guard(records, LEASE_NAME, who=self.who, warn=self.warnings.append,
                          subject="the converge claim of this cluster")
            guard.renewal_consequence = "another converge may begin once it ends"
            try:
                guard.claim(CLUSTER_KEY, NO_SPEC, GENESIS, self.ttl, strict=True, plan=False)
            except DeploymentInProgress as exc:
                other = exc.winner
                self.waited_for = self.waited_for or other
                if self.monotonic() >= deadline:
                    raise ConvergeInProgress(
                        "another converge of this cluster is in progress: %s, since %s (its claim "
                        "ends by %s unless renewed); nothing was changed%s" % (
                            other.actor, utc(other.uploaded), utc(other.renewed + LEASE_MS),
                            " after waiting %ss (concurrent_wait_timeout)" % wait if wait else
                            " (concurrent_wait_timeout is 0: raise it to wait for the other "
                            "converge)"))
                self.sleep(self.poll * random.uniform(0.5, 1.5))
                continue
            self.guard = guard
            self.acquired = True
            guard.keep_alive(self._renewal_records if self.connect is not None else None)
            return

    def _renewal_records(self):
        """The renewing thread's own connection: (records, close)."""
        _client, state = self.connect()
        return self.storage(state), state.close

    def release(self):
        """End the claim: stop renewing, remove this run's claim records (best effort: a claim
        left behind ends a lease after its last renewal). Nothing to do when it was never
        acquired."""
        if not self.acquired:
            return
        self.acquired = False
        self.guard.release()
