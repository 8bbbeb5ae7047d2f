# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade_mode=last-state on a real Flink: the new version starts from the checkpoint the old
job completed last, although Flink answers /jobs/:id/checkpoints from a cache refreshed only
every few seconds and the job checkpoints several times within one refresh (issue 29: the
strategy no longer waits a whole cache lifetime after the cancel, so this is what could break)."""

from __future__ import annotations

import threading
import time

RETAINED = {"execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}


class Dashboard(threading.Thread):
    """Another reader of the job's checkpoints (a web UI, a monitor): it fills Flink's cache
    entries at moments the module does not choose."""

    def __init__(self, flink, job_id):
        super().__init__(daemon=True)
        self.flink, self.job_id, self.done = flink, job_id, threading.Event()

    def run(self):
        while not self.done.wait(0.3):
            try:
                self.flink.checkpoints(self.job_id)
            except Exception:  # pylint: disable=broad-except
                pass  # a read during the cancel may fail; the next one is as good


def test_last_state_starts_from_the_checkpoint_the_old_job_completed_last(flink, job_params,
                                                                          module):
    # A checkpoint every 200 ms: a cached answer read after the cancel would name an older one.
    params = job_params(configuration=RETAINED, extra_args=["--checkpoint-interval", "200"])
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(params["name"], "v1", minimum=2)
    flink.wait_checkpoint(started["job_id"], after_ms=time.time() * 1000)
    dashboard = Dashboard(flink, started["job_id"])
    dashboard.start()
    try:
        upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                            upgrade_mode="last-state"))
    finally:
        dashboard.done.set()
        dashboard.join()
    assert upgraded["action"] == "upgraded", upgraded
    assert flink.state(started["job_id"]) == "CANCELED"
    # Read once every cache entry filled before the end has expired: the old job's final word.
    time.sleep(flink.get("/config")["refresh-interval"] / 1000.0 + 1)
    last = flink.checkpoints(started["job_id"])["latest"]["completed"]
    assert upgraded["restored_from"] == last["external_path"], (upgraded["restored_from"], last)
    new_job = flink.the_running_job(params["name"])
    assert flink.wait_restored(new_job["jid"])["external_path"] == last["external_path"]
    # The counters go on from that checkpoint: never back to the start.
    seen = flink.wait_counts(params["name"], "v2")
    assert all(counts[0] > 100 for (version, _k), counts in seen.items() if version == "v2")
