# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Blue/green upgrade on a session cluster: the new version takes over without a pause.

The order of steps is the safety argument:

1. Pre-flight: the cluster has free slots for the new version (green) while the running one
   (blue) keeps its own; otherwise the task fails before anything happens.
2. A savepoint of blue is taken WITHOUT stopping it (``cancel-job: false``): blue never pauses.
3. Green is submitted from exactly that savepoint, once, with its own job id (the engine's
   exactly-once submit; the id carries the spec's fingerprint).
4. Green is gated: every task running, a checkpoint completed after its start (forced), the
   health window (``health_window``) without a restart, and, where its sources report FLIP-33's
   ``pendingRecords``, caught up with blue (``_lag``): stopping blue earlier would stop progress
   for the rest of green's catch-up.
5. Promote: blue is stopped with a final savepoint (``savepoint`` in the result), so exactly one
   job of the name runs. Or abort: green is cancelled, blue is left untouched (same job id,
   never paused) and the task fails saying why. Nothing is rolled back: nothing was stopped.

Between 3 and 5 both versions process the stream (the overlap, reported as
``overlap_seconds``): fine for idempotent or upsert sinks, duplicates for others.

A run interrupted between 3 and 5, or whose final stop of blue failed, leaves two jobs of the
name: blue, and a green this collection started (its spec is recorded). The next run of the
job, whatever it asks for, finds both (``split_handover``) and finishes the handover from step 4
(``finish``) before anything else: promote if green is healthy, abort otherwise. A run asking
for green's spec ends there; any other (another spec, ``state: stopped``) goes on from the one
job left (the engine's ``finish_pending_handover``).
"""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._capacity import slots_needed
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._lag import wait_caught_up
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    default_savepoint_dir,
    is_active,
)
from ansible_collections.flinkops.flink.plugins.module_utils._health import force_checkpoint
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    DeadlineReached,
    wait_savepoint,
    wait_until_running,
    watch_health,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployFailure, Planned
from ansible_collections.flinkops.flink.plugins.module_utils._store import new_job_id
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    find_job,
    trigger_savepoint,
)


class BlueGreenStrategy:
    """Savepoint without stopping, green beside blue, gate, then promote or abort.

    A strategy of ``_strategies`` (registered there), with the same entry point.
    """

    name = "blue-green"
    stops_first = False  # blue runs on until green passed its gate

    def upgrade(self, run, current, spec, jar_id, previous):
        if run.handover:
            return self.finish_handover(run, spec)
        blue = current["jid"]
        client, req = run.client, run.request
        target = req.savepoint_dir or default_savepoint_dir(run.cluster_config)
        if not target:
            raise FlinkError("no savepoint directory: set savepoint_dir, or configure "
                             "execution.checkpointing.savepoint-dir (state.savepoints.dir on "
                             "1.x) on the cluster; job %s was left running" % blue)
        needed = slots_needed(run.cluster_config, spec, run.plan)
        free = int(run.overview().get("slots-available", 0))
        if free < needed:
            raise FlinkError("upgrade_mode=blue-green needs %d free task slots for the new version "
                             "while job %s keeps running, and the cluster has %d: nothing was "
                             "changed" % (needed, blue, free))
        run.result.update(previous_job_id=blue, action="upgraded", strategy=self.name)
        handover = run.changes.do(
            "take a %s savepoint of job %s without stopping it" % (req.savepoint_format, blue),
            self.savepoint, client, blue, target, req.savepoint_format, req.savepoint_timeout,
            planned=Planned("a savepoint of job %s taken while it runs" % blue))
        started = time.time()
        green = next_job_id(run, spec)
        run.result.update(job_id=green, restored_from=handover)
        try:
            run.changes.do("start job %s (%s) beside job %s from that savepoint" % (
                req.name, spec.fingerprint, blue), run.submit, spec, jar_id,
                run.body(spec, jar_id, handover, green))
        except FlinkError as exc:
            if getattr(exc, "roll_back", True) is False:
                # Refused at a fence (the store's head, Flink's duplicate id): green's id is
                # another run's, never ours to cancel.
                raise
            # Flink refused the new version (e.g. incompatible state): nothing runs but blue.
            self.abort(run, blue, green, exc)
        self.finish(run, current, green, started)

    def finish_handover(self, run, spec):
        """Two jobs of the name: an earlier run was interrupted between green's start and the
        promotion. Finish it (gate, then promote or abort) when green runs the spec asked for;
        otherwise the two jobs are ambiguous and refused."""
        blue, green = run.handover
        if run.fingerprint_of(green["jid"]) != spec.fingerprint:
            raise FlinkError("2 jobs match name %r: %s and %s, and the newer one does not run the "
                             "requested spec, so this is not a blue/green handover to finish; "
                             "refusing to guess which one to manage" % (
                                 run.request.name, blue["jid"], green["jid"]))
        run.changes.note("finish the blue/green handover from job %s to job %s" % (
            blue["jid"], green["jid"]))
        self.finish(run, blue, green["jid"])

    @staticmethod
    def savepoint(client, job_id, target, fmt, timeout):
        trigger = trigger_savepoint(client, job_id, target, fmt, cancel_job=False)
        return wait_savepoint(client, job_id, trigger, timeout)

    def finish(self, run, blue_job, green_id, started=None):
        """Gate green, then promote it (stop blue with a final savepoint) or abort.

        Also finishes a handover an earlier, interrupted run left with both jobs running.
        """
        blue = blue_job["jid"]
        client, req = run.client, run.request
        run.result.update(previous_job_id=blue, job_id=green_id, action="upgraded",
                          strategy=self.name)
        if run.changes.check_mode:
            run.result.job_id = None
            run.stop_to_savepoint(blue, False)
            return
        if started is None:
            green = find_job(client, green_id) or {}
            started = (green.get("start-time") or time.time() * 1000) / 1000.0
        try:
            run.result.job = wait_until_running(client, green_id, req.wait_timeout)
            run.lease.confirm(run)
            checkpoint = force_checkpoint(client, green_id)
            if req.health_window:
                health = watch_health(client, green_id, req.health_window, False,
                                      int(started * 1000))
                run.result.update(job=health["job"],
                                  health={"window": req.health_window, "checkpoint": checkpoint})
            run.result.update(catch_up=wait_caught_up(client, green_id, blue, req.wait_timeout))
        except DeadlineReached:
            raise  # green did not fail its gate: both run on, and a re-run finishes the handover
        except FlinkError as exc:
            self.abort(run, blue, green_id, exc)
        try:
            run.stop_to_savepoint(blue, False)
        except FlinkError as exc:
            # Green passed: never cancel it now. Both run until the next run stops blue.
            raise DeployFailure("promote", exc, "handover-pending", job_id=green_id,
                                previous_job_id=blue)
        run.result.update(overlap_seconds=round(time.time() - started, 3))

    @staticmethod
    def abort(run, blue, green_id, failure):
        """Cancel green, leave blue untouched, fail saying why."""
        client = run.client
        outcome = "cancelled it"
        try:
            if green_id and is_active(find_job(client, green_id)):
                run.cancel(green_id)
        except FlinkError as exc:
            outcome = "cancelling it failed too (%s): cancel job %s by hand" % (exc.msg, green_id)
        blue_state = (find_job(client, blue) or {}).get("state", "unknown")
        run.result.update(job_id=blue, failed_job_id=green_id)
        raise FlinkError(
            "blue-green aborted: the new version (job %s) failed its gate: %s; %s. The running "
            "version (job %s, %s) was left untouched" % (
                green_id, failure.msg, outcome, blue, blue_state),
            method=failure.method, url=failure.url, status=failure.status,
            errors=failure.errors, cause=failure.cause)


def split_handover(runs, started_here):
    """A name's ``runs`` without green, and the handover (blue, green), when two runs are
    active and the newer one was started by this collection (``started_here(job id)``: its
    spec is recorded): what a blue/green run left half done, whatever this run's upgrade mode.
    Otherwise ``runs`` unchanged and None (two jobs nobody can tell apart are refused later)."""
    active = [job for job in runs if is_active(job)]
    if len(active) == 2:
        handover = sorted(active, key=lambda job: job.get("start-time", 0))
        if started_here(handover[1]["jid"]):
            return [job for job in runs if job is not handover[1]], handover
    return runs, None


def next_job_id(run, spec):
    """Green's job id: the successor the run's lease fences (``_deployment_lease``), else the default."""
    return run.lease.next_job_id(run, spec) or new_job_id(spec)
