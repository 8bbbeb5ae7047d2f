# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Source lag: has a new job caught up with the input the running one reads?

A job started from a savepoint of a job that keeps running (blue/green) begins behind: it
reads again what blue read since the savepoint, then catches up. Stopping blue before green
has caught up stops progress for the rest of the catch-up. Sources that implement FLIP-33
(Kafka, Pulsar, Kinesis, and any source that sets the gauge) report ``pendingRecords``: the
records of the input not read yet. Green has caught up when its sources report no more
pending records than blue's do at the same moment (give or take ``CATCH_UP_SLACK``).

Flink serves metrics from a cache its JobManager refreshes every
``metrics.fetcher.update-interval`` (10 s by default), so a reading can be that old, and a
newly started job's metrics appear with the next refresh.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils import _poll
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkTimeout
from ansible_collections.flinkops.flink.plugins.module_utils._poll import wait_for
from ansible_collections.flinkops.flink.plugins.module_utils._rest import job_details, vertex_metrics

PENDING = "pendingRecords"
LAG_POLL_INTERVAL = 0.5
# Green counts as caught up within this many records of blue: processing them takes
# milliseconds, whatever the input's rate, and both readings jitter by a few records.
CATCH_UP_SLACK = 100
# How long a running job's metrics may take to be listed at all: the JobManager's metrics
# cache is refreshed every metrics.fetcher.update-interval (10 s by default), a job started
# after the last refresh has no metrics in it until the next, and a TaskManager answers the
# refresh from a thread of the lowest priority, which a busy machine starves (CI: not listed
# within 15 s). Only a cache that stays empty costs this wait.
METRICS_APPEAR = 30
# A listing of every vertex without pendingRecords can be a cache filled before the sources
# registered the gauge (Kafka's reader does so with its first split, the bench job with its
# first record; CI saw it on a shared cluster whose cache other jobs' requests had just
# refreshed): it counts only once it held across one refresh (10 s by default).
METRICS_REFRESH = 12


def pending_metrics(client, job_id):
    """{vertex id: [aggregated metric ids ending in pendingRecords]} of the job, or None while
    Flink lists no metric for one of its vertices (its metrics cache holds part of the job: CI
    saw the sources' gauge missing from a listing that had other vertices' metrics)."""
    found, listed_all = {}, True
    for vertex in job_details(client, job_id).get("vertices", []):
        listed = vertex_metrics(client, job_id, vertex["id"])
        listed_all = listed_all and bool(listed)
        names = [m["id"] for m in listed if m.get("id", "").rsplit(".", 1)[-1] == PENDING]
        if names:
            found[vertex["id"]] = names
    return found if found or listed_all else None


def pending_records(client, job_id, metrics):
    """The job's pending records: the sum over its sources and their subtasks."""
    total = 0.0
    for vertex_id, names in sorted(metrics.items()):
        values = vertex_metrics(client, job_id, vertex_id, names)
        total += sum(float(v.get("sum") or 0) for v in values)
    return total


def wait_caught_up(client, green_id, blue_id, timeout, interval=LAG_POLL_INTERVAL):
    """Wait until green reports no more pending records than blue (within the slack); the
    outcome as a dict.

    ``measured`` is False, with the ``reason``, when blue's sources report no
    ``pendingRecords`` (nothing to compare): the caller goes on at once. Raises FlinkTimeout
    when green does not catch up within ``timeout`` seconds.
    """
    # The first metrics request of a JobManager only starts filling its cache.
    appear = min(METRICS_APPEAR, timeout)
    no_pending = "the sources of job %s report no %s" % (blue_id, PENDING)
    listed_without = []  # when a listing of every vertex first lacked the gauge

    def blue_listing():
        metrics = pending_metrics(client, blue_id)
        if metrics or metrics is None:
            return metrics
        if not listed_without:
            listed_without.append(_poll._now())
        return metrics if _poll._now() - listed_without[0] >= METRICS_REFRESH else None

    try:
        blue_metrics = wait_for(client, blue_listing, appear, interval, "")
    except FlinkTimeout:
        return {"measured": False, "reason": no_pending if listed_without else
                "Flink listed no metric of job %s within %ss" % (blue_id, appear)}
    if not blue_metrics:
        return {"measured": False, "reason": no_pending}
    found = {}

    def green_metrics():
        found.update(pending_metrics(client, green_id) or {})
        return found or None

    # A new job's metrics appear with the JobManager's next metrics refresh.
    wait_for(client, green_metrics, timeout, interval,
             "the pendingRecords metric of job %s" % green_id)
    last = {}

    def caught_up():
        green = pending_records(client, green_id, found)
        blue = pending_records(client, blue_id, blue_metrics)
        last.update(green=green, blue=blue)
        return last if green <= blue + CATCH_UP_SLACK else None

    try:
        reading = wait_for(client, caught_up, timeout, interval, "")
    except FlinkTimeout:
        raise FlinkTimeout("job %s did not catch up with job %s within %ss: %d records pending "
                           "for the new job, %d for the running one (pendingRecords)" % (
                               green_id, blue_id, timeout, last["green"], last["blue"])) from None
    return {"measured": True, "pending_records": int(reading["green"]),
            "running_job_pending_records": int(reading["blue"])}
