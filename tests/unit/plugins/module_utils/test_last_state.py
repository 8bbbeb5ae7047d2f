# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade_mode=last-state on a scripted Flink with a clock that moves only when the code sleeps:
the latest checkpoint is read from an answer Flink's statistics cache filled after the old job
ended, and the cancel is timed so that this costs the records no whole cache lifetime."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _strategies
from ansible_collections.flinkops.flink.plugins.module_utils._engine import Engine
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import StateStore
from ansible_collections.flinkops.flink.plugins.module_utils._request import Changes
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    checkpoint_stats_ttl,
    duration_ms,
    stats_generation,
)

from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    checkpoints,
    job,
    overview,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.unleased import Unleased
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_engine import (  # noqa: F401 pylint: disable=unused-import
    RETAINED,
    engine,
    expect_run,
    fixed_job_ids,
    jar,
    sha,
    spec_of,
    upgrade_setup,
    uploaded,
)

TTL = 3.0  # the scripted /config's refresh-interval, 3000 ms


class Times:
    """When (on the test's clock) each marked request was sent."""

    def __init__(self, clock):
        self.clock, self.at = clock, {}

    def mark(self, name):
        def check(_sent):
            self.at.setdefault(name, []).append(self.clock.now)
        return check


def chk(jid, number=7):
    return {"external_path": "file:/chk/%s/chk-%d" % (jid, number), "id": number,
            "latest_ack_timestamp": number * 10}


def expect_checks(script, jid):
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(completed=chk(jid)))
    script.on("GET", "/jobs/%s/checkpoints/config" % jid, RETAINED)


def expect_search(script, jid, times, totals):
    """The triggered checkpoint, then one poll of /checkpoints per entry of ``totals``."""
    path = "/jobs/%s/checkpoints" % jid
    script.on("POST", path, {"request-id": "c1"})
    for total in totals:
        script.on("GET", path, checkpoints(completed=chk(jid), counts={"total": total}),
                  check=times.mark("poll"))


def expect_cancel(script, jid, times, cancelling=1, final=None):
    script.on("PATCH", "/jobs/%s" % jid, {}, check=times.mark("cancel"))
    for _poll in range(cancelling):
        script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELLING")))
    script.on("GET", "/jobs/overview", overview(job(jid, state="CANCELED", end=1)),
              check=times.mark("ended"))
    script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(completed=final or chk(jid, 8)),
              check=times.mark("read"))


def test_the_cancel_ends_before_the_refilled_entry_expires_and_the_read_follows_its_expiry(
        client, script, clock, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    jid, times = current["jid"], Times(clock)
    expect_checks(script, jid)
    expect_search(script, jid, times, (7, 7, 8))  # the third answer came from a new entry
    expect_cancel(script, jid, times)
    expect_run(script, spec_of(req, sha))
    result = engine(client, req).run()
    _first, unchanged, changed = times.at["poll"]
    filled_before = changed  # the new entry was filled between these two requests
    cancel, ended, read = times.at["cancel"][0], times.at["ended"][0], times.at["read"][0]
    # The job ended while the known entry still lived (it was filled after `unchanged`) ...
    assert cancel < ended < unchanged + TTL
    # ... and the answer was read only once it had expired: it was filled after the end.
    assert read >= filled_before + TTL
    # The records stood still from the cancel to the read: well under one cache lifetime.
    assert read - cancel < TTL / 4
    assert result.restored_from == chk(jid, 8)["external_path"] == \
        script.body_of("/run")["savepointPath"]
    # The retention was checked once, before the cancel, not again after it.
    assert script.calls().count("GET /jobs/%s/checkpoints/config" % jid) == 1


def test_a_cancel_that_ends_too_late_waits_one_cache_lifetime_after_the_end(
        client, script, clock, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    jid, times = current["jid"], Times(clock)
    expect_checks(script, jid)
    expect_search(script, jid, times, (7, 8))
    # Cancelling takes longer than the lead the cancel was given (0.4 s at 20 ms polls).
    expect_cancel(script, jid, times, cancelling=40)
    expect_run(script, spec_of(req, sha))
    engine(client, req).run()
    ended, read = times.at["ended"][0], times.at["read"][0]
    assert ended > times.at["poll"][0] + TTL  # the known entry expired before the end
    assert read >= ended + TTL


def test_counts_that_never_change_fall_back_to_one_cache_lifetime_after_the_end(
        client, script, clock, jar, sha, uploaded, monkeypatch):
    monkeypatch.setattr(_strategies, "STATS_POLL", 4.0)  # 3 polls fill the search (7 s)
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    jid, times = current["jid"], Times(clock)
    expect_checks(script, jid)
    expect_search(script, jid, times, (7, 7, 7))
    expect_cancel(script, jid, times)
    expect_run(script, spec_of(req, sha))
    engine(client, req).run()
    assert times.at["cancel"][0] >= times.at["poll"][-1]  # no waiting for an expiry
    assert times.at["read"][0] >= times.at["ended"][0] + TTL


@pytest.mark.parametrize("config", [
    {"key": "high-availability.type", "value": "zookeeper"},  # a cache per JobManager
    {"key": "rest.cache.checkpoint-statistics.size", "value": "10"},  # entries pushed out early
])
def test_without_one_stats_cache_kept_its_time_no_search(client, script, clock, jar, sha,
                                                         uploaded, config):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    script.on("GET", "/jobmanager/config", [config])
    jid, times = current["jid"], Times(clock)
    expect_checks(script, jid)
    expect_cancel(script, jid, times)  # no checkpoint triggered, no polls
    expect_run(script, spec_of(req, sha))
    # records declared on a shared upload directory: a high-availability cluster is served
    Engine(client, req, Changes(), hooks=[], new_lease=Unleased,
           state=StateStore(None, client, declared_shared=True)).run()
    assert times.at["read"][0] >= times.at["ended"][0] + TTL


@pytest.mark.parametrize("value, expected", [
    ("3000", 3000), ("5 s", 5000), ("2s", 2000), ("1 min", 60000), ("250 ms", 250),
    ("soon", None), (None, None), ("3 fortnights", None),
])
def test_flink_durations_in_milliseconds(value, expected):
    assert duration_ms(value) == expected


def test_the_cache_lifetime_is_the_longer_of_refresh_interval_and_cache_timeout(client, script):
    script.on("GET", "/config", {"refresh-interval": 3000})
    assert checkpoint_stats_ttl(client, {}) == 3.0
    assert checkpoint_stats_ttl(client, {"rest.cache.checkpoint-statistics.timeout": "10 s"}) == 10.0
    assert checkpoint_stats_ttl(client, {"rest.cache.checkpoint-statistics.timeout": "1 s"}) == 3.0


def test_the_generation_of_an_answer_ignores_what_one_cached_answer_can_change():
    first = {"counts": {"total": 7, "in_progress": 1, "completed": 5, "failed": 1},
             "latest": {"completed": {"id": 5, "discarded": False}},
             "history": [{"id": 6, "status": "IN_PROGRESS", "num_acknowledged_subtasks": 1}]}
    same_entry = dict(first, latest={"completed": {"id": 5, "discarded": True}},
                      history=[{"id": 6, "status": "IN_PROGRESS", "num_acknowledged_subtasks": 2}])
    assert stats_generation(first) == stats_generation(same_entry)
    refilled = dict(first, counts=dict(first["counts"], in_progress=0, completed=6))
    assert stats_generation(first) != stats_generation(refilled)
