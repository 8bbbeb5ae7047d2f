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

The claim is a record in the records' storage (the JAR store, or the durable store's
``converge`` scope), an election like the guard's: a run writes its claim, lists the claims,
and proceeds only when its own is strictly the earliest live one (on the store's clock: the
stamp of the claim it just wrote is "now"); two claims with the same stamp both back off, so
two runs never both proceed unless the store's clock goes backwards. A claim lives ``ttl``
seconds after its latest renewal (a thread renews it while the converge runs; a ZooKeeper
store also drops it with the session): a converge that crashed blocks others for ``ttl`` at
most. A run keeps its first record (its place in the election) and its latest (its liveness).
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords

SCOPE = "converge"
TTL = 60
_CLAIM = re.compile(r"^flinkops-converge-([0-9a-f]{16})-(\d+)-(\d+)-([A-Za-z0-9_-]*)\.jar$")


class ConvergeInProgress(FlinkError):
    """Another converge of the cluster holds the claim."""


def claim_name(run_id, sequence, ttl, who):
    encoded = base64.urlsafe_b64encode(who.encode("utf-8")[:120]).decode("ascii").rstrip("=")
    return "flinkops-converge-%s-%d-%d-%s.jar" % (run_id, sequence, ttl, encoded)


def _who(encoded):
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8", "replace")
    except ValueError:
        return "(unreadable)"


class Holder:
    """One run's claim: its first stamp (its place), its latest stamp plus ttl (its end)."""

    def __init__(self, run_id, who):
        self.run_id = run_id
        self.who = who
        self.first = None
        self.expires = None
        self.entries = []

    def add(self, entry, ttl):
        stamp = int(entry.get("uploaded") or 0)
        self.first = stamp if self.first is None else min(self.first, stamp)
        self.expires = max(self.expires or 0, stamp + ttl * 1000)
        self.entries.append(entry)


def holders(entries):
    """{run id: Holder} of the converge claims among ``entries``."""
    found = {}
    for entry in entries:
        match = _CLAIM.match(entry.get("name") or "")
        if match:
            holder = found.setdefault(match.group(1), Holder(match.group(1), _who(match.group(4))))
            holder.add(entry, int(match.group(3)))
    return found


def first_live(entries, now_ms):
    """The live holders with the earliest first stamp (several: a tie), or []."""
    live = [h for h in holders(entries).values() if h.expires > now_ms]
    if not live:
        return []
    earliest = min(h.first for h in live)
    return sorted((h for h in live if h.first == earliest), key=lambda h: h.run_id)


def _utc(ms):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000.0))


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
        self.run_id = os.urandom(8).hex()
        self.sequence = 0
        self.waited_for = None  # the holder this run waited for, if any
        self._stop = threading.Event()
        self._renewer = None
        self.acquired = False
        self.warnings = []

    @staticmethod
    def storage(state):
        return state.jar_store if not state.durable else ScopedRecords(state.backend, SCOPE)

    def _write(self, records):
        self.sequence += 1
        name = claim_name(self.run_id, self.sequence, self.ttl, self.who)
        records.write(name, ephemeral=True)
        entries = records.jars()
        mine = [e for e in entries if e.get("name") == name]
        if not mine:
            raise FlinkError("the converge claim %s was written but is not listed by %s; nothing was "
                             "changed" % (name, self.state.describe()))
        return entries, int(mine[0].get("uploaded") or 0)

    def acquire(self, wait):
        """Claim the cluster, waiting up to ``wait`` seconds for another converge's claim to end;
        raises ConvergeInProgress naming it (and changing nothing) when it does not."""
        records = self.storage(self.state)
        deadline = self.monotonic() + wait
        while True:
            entries, now = self._write(records)
            # Claims of converges that crashed (ended, never removed) go; they hold nothing.
            self._delete(records, [e for h in holders(entries).values() if h.expires <= now
                                   for e in h.entries])
            first = first_live(entries, now)
            if len(first) == 1 and first[0].run_id == self.run_id:
                self.acquired = True
                self._start_renewing()
                return
            self._delete(records, [e for h in holders(entries).values() if h.run_id == self.run_id
                                   for e in h.entries])
            other = next((h for h in first if h.run_id != self.run_id), first[0])
            self.waited_for = self.waited_for or other
            if self.monotonic() >= deadline:
                raise ConvergeInProgress(
                    "another converge of this cluster is in progress: %s, since %s (its claim ends "
                    "by %s unless renewed); nothing was changed%s" % (
                        other.who, _utc(other.first), _utc(other.expires),
                        " after waiting %ss (concurrent_wait_timeout)" % wait if wait else
                        " (concurrent_wait_timeout is 0: raise it to wait for the other converge)"))
            self.sleep(self.poll)

    def _delete(self, records, entries):
        records.delete([e["id"] for e in entries if e.get("id")])

    def _start_renewing(self):
        if self.connect is None:
            return
        self._renewer = threading.Thread(target=self._renew, name="converge-claim", daemon=True)
        self._renewer.start()

    def _renew(self):
        client_state = None
        try:
            client_state = self.connect()
            records = self.storage(client_state[1])
            while not self._stop.wait(self.ttl / 3.0):
                try:
                    entries, _now = self._write(records)
                    mine = holders(entries).get(self.run_id)
                    if mine:
                        keep = (min(mine.entries, key=lambda e: int(e.get("uploaded") or 0)),
                                max(mine.entries, key=lambda e: int(e.get("uploaded") or 0)))
                        self._delete(records, [e for e in mine.entries if e not in keep])
                except FlinkError as exc:
                    self.warnings.append("renewing the converge claim failed (%s): another converge "
                                         "may begin once it ends" % exc.msg)
        except FlinkError as exc:
            self.warnings.append("the converge claim is not renewed (%s)" % exc.msg)
        finally:
            if client_state is not None:
                client_state[1].close()

    def release(self):
        """End the claim: stop renewing, remove this run's claim records (best effort: a claim
        left behind ends by itself after ``ttl``). Nothing to do when it was never acquired."""
        if not self.acquired:
            return
        self.acquired = False
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(60)
        records = self.storage(self.state)
        try:
            mine = holders(records.jars()).get(self.run_id)
            if mine:
                self._delete(records, mine.entries)
        except FlinkError as exc:
            self.warnings.append("the converge claim was not removed (%s); it ends by itself within "
                                 "%ss" % (exc.msg, self.ttl))
