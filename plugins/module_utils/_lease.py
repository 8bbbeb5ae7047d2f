# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""A lease: a claim in the records' storage that lives while its holder renews it.

Both claims the collection makes are leases: the guard's claim on the successor of a job
(``_guard``: one deployment of a job name acts at a time) and the converge claim on a cluster
(``_cluster_claim``: one converge of a cluster acts at a time). A holder proves it is alive by
writing a renewal record every ``RENEW_EVERY_S`` seconds from a thread of its own, so a main
thread that sits in one long request (a submit whose ``POST /jars/:id/run`` takes minutes, a
stop's savepoint) keeps its place. The store stamps every record on its own clock, and a
reader judges a lease on that same clock: alive while its newest stamp is at most
``LEASE_MS`` old (``fresh``). Nobody compares two machines' clocks.

Where the store itself can tell a dead writer (a ZooKeeper session, a PostgreSQL session),
the claim and its renewals are ephemeral records and vanish with their writer even sooner;
the JAR store and S3 know no writer, and there the renewals are the only proof of life.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError

# How often a holder renews: often enough that several renewals fall into one lease.
RENEW_EVERY_S = 2.0
# How long a lease outlives its newest renewal: five renewals may be late or lost (a
# JobManager or store answering slowly under load) before the holder counts as gone.
LEASE_MS = 10 * 1000


def fresh(renewed_ms, now_ms):
    """Whether a lease last renewed at ``renewed_ms`` is alive at ``now_ms`` (the store's clock)."""
    return renewed_ms + LEASE_MS >= now_ms


def utc(epoch_ms):
    """A lease's time (store clock, epoch ms) as messages show it."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime((epoch_ms or 0) / 1000.0))


def renewal_thread_records(records):
    """The records a renewal thread writes through, beside the run's own thread: a twin with a
    connection of its own where the storage has one (the JAR store: its own HTTP session, so a
    held request of the run never holds a renewal up), else the storage itself (the durable
    stores serialize their calls)."""
    twin = getattr(records, "twin", None)
    return twin() if twin is not None else records


class Renewer:
    """Calls ``renew(records)`` every ``every`` seconds from a daemon thread until ``stop()``.

    ``open_records()`` returns ``(records, close)``: what the thread writes through, and how it
    releases them at its end. A failed renewal is kept as a warning (once per kind: a store that
    stays unreachable does not flood the result) and retried at the next turn."""

    def __init__(self, renew, open_records, what, consequence, every=RENEW_EVERY_S):
        self.renew = renew
        self.open_records = open_records
        self.what = what
        self.consequence = consequence
        self.every = every
        self.warnings = []
        self._failures = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
        self._thread.start()

    def stop(self, timeout=LEASE_MS / 1000.0):
        """Stop renewing. A renewal still under way after ``timeout`` (a store that answers late)
        is left to finish alone: its record, whose claim is gone, is pruned later."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def _run(self):
        close = None
        try:
            records, close = self.open_records()
            while not self._stop.wait(self.every):
                try:
                    self.renew(records)
                except FlinkError as exc:
                    self._failures += 1
                    if self._failures == 1:
                        self.warnings.append("renewing %s failed (%s): %s" % (
                            self.what, exc.msg, self.consequence))
        except FlinkError as exc:
            self.warnings.append("%s is not renewed (%s): %s" % (self.what, exc.msg, self.consequence))
        finally:
            if close is not None:
                close()
