# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Blue/green upgrade of a job on a session cluster: the new version takes over without a pause.

The order of steps is the safety argument:

1. Pre-flight: the cluster has free slots for the new version (green) while the running one
   (blue) keeps its own; otherwise fail before anything happens.
2. A savepoint of blue is taken WITHOUT stopping it (cancel-job false): blue never pauses.
3. Green is submitted from exactly that savepoint, once, with its own job id (the caller's
   exactly-once submit, with a client-chosen id carrying the spec fingerprint).
4. Green is gated: every task running, a checkpoint completed after its start, then the health
   window without a restart.
5. Promote: blue is stopped with a final savepoint (recorded in the result), so exactly one job
   of the name runs. Or abort: green is cancelled, blue is left untouched (same job id, never
   paused) and the task fails saying why.

Between 3 and 5 both versions process the stream ("overlap"; its length is reported): fine for
idempotent or upsert sinks, duplicates for others; green can be given its own sink identities
through its arguments or configuration.

A run interrupted between 3 and 5 leaves two jobs of the name, blue and a green whose job id
carries the desired spec's fingerprint; the next run finds both and finishes the handover from
step 4 (``finish``): promote when green is healthy, abort otherwise. Nothing else is recorded.
"""

from __future__ import annotations

import time
import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._ops import (
    cancel_job,
    check_health,
    find_job,
    stop_with_savepoint,
    trigger_savepoint,
    wait_savepoint,
    wait_until_running,
    wait_until_terminal,
)

STRATEGY = "blue-green"


class BlueGreenOptions:
    """What a blue/green handover needs besides the client: plain values, no Ansible params."""

    def __init__(self, savepoint_dir=None, savepoint_format="canonical", savepoint_timeout=1800,
                 wait_timeout=300, health_window=0, checkpoint_timeout=600, green_slots=1):
        self.savepoint_dir = savepoint_dir
        self.savepoint_format = savepoint_format
        self.savepoint_timeout = savepoint_timeout
        self.wait_timeout = wait_timeout
        self.health_window = health_window
        self.checkpoint_timeout = checkpoint_timeout
        self.green_slots = green_slots


def free_slots(client):
    """Free task slots of the cluster (``/overview``)."""
    return int(client.get("/overview").get("slots-available", 0))


def preflight(client, blue_id, options):
    """Fail before anything happens when green cannot get its slots beside blue."""
    available = free_slots(client)
    if available < options.green_slots:
        raise FlinkError(
            "blue-green needs %d free task slots for the new version while job %s keeps its own; "
            "the cluster has %d free: nothing was changed (add TaskManagers or use "
            "upgrade_mode=savepoint)" % (options.green_slots, blue_id, available))
    return available


def force_checkpoint(client, job_id, timeout):
    """Trigger a checkpoint of the job and wait for it (Flink 1.17+ ``POST /jobs/:id/checkpoints``).

    The client-chosen trigger id makes a repeated request harmless. Returns the checkpoint id.
    """
    trigger_id = uuid.uuid4().hex
    client.post("/jobs/%s/checkpoints" % job_id,
                json={"checkpointType": "CONFIGURED", "triggerId": trigger_id}, idempotent=True)
    path = "/jobs/%s/checkpoints/%s" % (job_id, trigger_id)

    def check():
        answer = client.get(path)
        if (answer.get("status") or {}).get("id") != "COMPLETED":
            return None
        return answer.get("operation") or {}

    operation = client.wait_for(check, timeout, 0.1, "a checkpoint of job %s" % job_id)
    if operation.get("failure-cause"):
        cause = operation["failure-cause"]
        raise FlinkError("the checkpoint of job %s failed" % job_id, method="GET",
                         url=client.public_url(path), status=200,
                         errors=[cause.get("stack-trace") or cause.get("class") or str(cause)])
    return operation.get("checkpointId")


def gate(client, green_id, options, started_at_ms):
    """Every task of green running, a checkpoint completed, the health window without restart."""
    wait_until_running(client, green_id, options.wait_timeout)
    checkpoint = force_checkpoint(client, green_id, options.checkpoint_timeout)
    if options.health_window:
        check_health(client, green_id, options.health_window, False, started_at_ms)
    return checkpoint


def abort(client, green_id, blue_id, options, reason):
    """Cancel green, leave blue untouched, and fail saying why."""
    try:
        cancel_job(client, green_id)
        wait_until_terminal(client, green_id, options.wait_timeout)
        cancelled = "cancelled it"
    except FlinkError as exc:
        cancelled = "cancelling it failed too (%s): cancel job %s by hand" % (exc, green_id)
    blue = find_job(client, blue_id) or {}
    raise FlinkError(
        "blue-green aborted: the new job %s did not pass its gate (%s); %s. The previous job %s "
        "was left untouched (state %s)" % (green_id, reason, cancelled, blue_id,
                                            blue.get("state", "unknown")),
        cause=getattr(reason, "cause", None))


def promote(client, blue_id, options):
    """Stop blue with a final savepoint: from now on only green runs. Returns its location."""
    trigger = stop_with_savepoint(client, blue_id, options.savepoint_dir, False,
                                  options.savepoint_format)
    return wait_savepoint(client, blue_id, trigger, options.savepoint_timeout)


def upgrade(client, blue_id, submit_green, options):
    """The whole handover. ``submit_green(restore_path)`` starts green exactly once and returns its id.

    Returns the result fields: job_id, previous_job_id, savepoint (green's origin),
    final_savepoint (blue's last), overlap_seconds, strategy.
    """
    preflight(client, blue_id, options)
    trigger = trigger_savepoint(client, blue_id, options.savepoint_dir, options.savepoint_format,
                                cancel_job=False)
    savepoint = wait_savepoint(client, blue_id, trigger, options.savepoint_timeout)
    started = time.time()
    green_id = submit_green(savepoint)
    result = finish(client, blue_id, green_id, options, started_at=started)
    result["savepoint"] = result["restored_from"] = savepoint
    return result


def finish(client, blue_id, green_id, options, started_at=None):
    """Gate green, then promote it or abort. Also finishes a handover an earlier run left half done."""
    green = find_job(client, green_id) or {}
    if started_at is None:
        started_at = (green.get("start-time") or time.time() * 1000) / 1000.0
    try:
        gate(client, green_id, options, int(started_at * 1000))
    except FlinkError as exc:
        abort(client, green_id, blue_id, options, exc)
    final = promote(client, blue_id, options)
    return {"job_id": green_id, "previous_job_id": blue_id, "final_savepoint": final,
            "overlap_seconds": round(time.time() - started_at, 3), "strategy": STRATEGY}
