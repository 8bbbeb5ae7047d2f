# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Upgrade strategies: how a running job is replaced by a new spec.

A strategy is a small class with one entry point, ``upgrade(run, current,
spec, jar_id, previous)``, that uses the engine's steps (``run.stop_to_savepoint``,
``run.cancel``, ``run.start``, ``run.start_or_roll_back``, ``run.submit``,
``run.await_healthy``, ``run.roll_back``). The three stop-then-start strategies
differ only in ``take_down``: how the old job ends and where its state goes.

Adding a strategy is adding a file ``_strategy_<name>.py`` with a subclass of
``_strategy.Strategy`` and registering it in ``STRATEGIES`` below (AnsiballZ
ships only module_utils that are imported, so the registry imports it by name),
plus the option value in flink_job's options (``_job_options``). The base class
lives apart from this registry, so the new file imports nothing that imports it.
"""

from __future__ import annotations

import uuid

from ansible_collections.flinkops.flink.plugins.module_utils import _poll
from ansible_collections.flinkops.flink.plugins.module_utils._bluegreen import BlueGreenStrategy
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    checkpoint_stats_ttl,
    checkpoints_survive_cancel,
    describe_state,
    high_availability,
    is_healthy,
    latest_completed_checkpoint,
    restart_count,
    restored_from,
    retained_checkpoint,
    settled_checkpoints,
    stats_generation,
)
from ansible_collections.flinkops.flink.plugins.module_utils._poll import wait_until_terminal
from ansible_collections.flinkops.flink.plugins.module_utils._request import Planned, is_planned
from ansible_collections.flinkops.flink.plugins.module_utils._rescale import (
    RescaleStrategy,
    only_parallelism_differs,
)
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cancel_job,
    job_checkpoints,
    trigger_checkpoint,
)
from ansible_collections.flinkops.flink.plugins.module_utils._strategy import Strategy


class SavepointStrategy(Strategy):
    """Atomic stop-with-savepoint, then the new version from exactly that savepoint. A job
    that is crash-looping cannot take a savepoint: it is replaced from its latest retained
    state instead (``CrashLoop``), or the upgrade is refused before anything stops."""

    name = "savepoint"

    def take_down(self, run, current):
        if crash_looping(run.client, current):
            return CrashLoop.take_down(run, current)
        return run.stop_to_savepoint(current["jid"], run.request.drain)


# Failures (not waits for slots) that make a job that is not running crash-looping: one is a
# failover (a TaskManager lost) that a stop with a savepoint can wait out on a re-run.
CRASH_LOOP_FAILURES = 2


def crash_looping(client, job):
    """Whether ``job`` (an overview entry) fails over and over: not every task runs and it
    recorded repeated failures that are not waits for slots. A stop with a savepoint cannot work."""
    return not is_healthy(job) and restart_count(client, job["jid"]) >= CRASH_LOOP_FAILURES


class CrashLoop:
    """Replace a crash-looping job from the state it restarts from: its latest completed
    checkpoint (only if Flink keeps it when the job is cancelled), or, when it completed none
    since its start, the savepoint it was started from. Never from empty state."""

    RETENTION = ("execution.checkpointing.externalized-checkpoint-retention: "
                 "RETAIN_ON_CANCELLATION")

    @classmethod
    def take_down(cls, run, current):
        job_id = current["jid"]
        checkpoints = job_checkpoints(run.client, job_id)
        completed = latest_completed_checkpoint(checkpoints)
        restored = restored_from(checkpoints)
        how = "job %s is crash-looping (%s), so it cannot take a savepoint" % (
            job_id, describe_state(current))
        if completed and not checkpoints_survive_cancel(run.client, job_id):
            raise FlinkError("%s, and Flink deletes its checkpoints when it is cancelled: set %s "
                             "in its configuration, or replace it with upgrade_mode=stateless "
                             "(with savepoint_path to keep state); job left as it is" % (
                                 how, cls.RETENTION))
        if not completed and not (restored and (restored.get("is_savepoint") or
                                                checkpoints_survive_cancel(run.client, job_id))):
            raise FlinkError("%s, and it has no completed checkpoint (nor a savepoint it was "
                             "started from) to carry over: replace it with "
                             "upgrade_mode=stateless (it starts from savepoint_path, or from "
                             "empty state); job left as it is" % how)
        origin = "its latest retained checkpoint" if completed else "the state it was started from"
        location = run.changes.do(
            "cancel crash-looping job %s and start from %s" % (job_id, origin),
            cls.cancel_keeping_state, run, job_id, None if completed else restored["path"],
            planned=Planned("%s of job %s" % (origin, job_id)))
        if not is_planned(location):
            run.result.warnings.append(
                "%s: it was cancelled and its replacement started from %s, %s%s" % (
                    how, origin, location, "; records since that checkpoint are processed "
                    "again" if completed else ""))
        return location

    @staticmethod
    def cancel_keeping_state(run, job_id, started_from):
        """Cancel; the retained checkpoint's path (re-read once Flink settled it), or
        ``started_from`` when the job completed no checkpoint."""
        ended = run.cancel(job_id)
        if started_from is None:
            retained = retained_checkpoint(run.client, job_id,
                                           settled_checkpoints(run.client, ended,
                                                               checkpoint_stats_ttl(run.client, run.cluster_config)))
            if not retained:
                raise FlinkError("crash-looping job %s was cancelled but Flink reports no "
                                 "retained checkpoint; nothing was started. Its checkpoint "
                                 "directory may still hold the state: start the job with "
                                 "savepoint_path set to it" % job_id)
            return retained["path"]
        return started_from


class LastStateStrategy(Strategy):
    """Cancel, then the new version from the last retained checkpoint. Records since
    that checkpoint are processed again.

    Which checkpoint is the last one is read from /jobs/:id/checkpoints, which Flink's REST
    endpoint answers from a cache for ``checkpoint_stats_ttl`` seconds after the request
    that filled it: read too early after the cancel, a checkpoint already subsumed (deleted,
    or older than the one whose transactions were committed) can still be the latest. The
    answer counts only when its cache entry was filled after the job had ended. Waiting a
    whole ttl after the end (the safe default) holds the records for seconds; instead, while
    the job still runs, the moment an entry was filled is found (its counts differ from the
    previous answer's), the cancel is timed to end before that entry expires, and the
    answer is read just after it expired: any entry then was filled after the end.
    """

    name = "last-state"

    def take_down(self, run, current):
        job_id = current["jid"]
        self.check_checkpoints_retained(run, job_id)
        return run.changes.do(
            "cancel job %s and start from its last retained checkpoint" % job_id,
            self.cancel_keeping_checkpoint, run, job_id,
            planned=Planned("the last retained checkpoint of job %s" % job_id))

    @staticmethod
    def check_checkpoints_retained(run, job_id):
        """Refuse before anything stops unless a checkpoint will survive the cancel."""
        if not latest_completed_checkpoint(job_checkpoints(run.client, job_id)):
            raise FlinkError("upgrade_mode=last-state needs a completed checkpoint of job %s, "
                             "and it has none; job left running" % job_id)
        if not checkpoints_survive_cancel(run.client, job_id):
            raise FlinkError("upgrade_mode=last-state needs checkpoints retained on "
                             "cancellation (execution.checkpointing.externalized-checkpoint-"
                             "retention: RETAIN_ON_CANCELLATION); job %s left running" % job_id)

    @staticmethod
    def cancel_keeping_checkpoint(run, job_id):
        client = run.client
        ttl = checkpoint_stats_ttl(client, run.cluster_config)
        entry = None
        if one_stats_cache(run.cluster_config):
            entry = stats_entry_filled(client, job_id, ttl)
            if entry:
                client.sleep(max(0.0, entry[0] + ttl - CANCEL_LEAD - _poll._now()))
        cancel_job(client, job_id)
        wait_until_terminal(client, job_id, run.request.wait_timeout, TERMINAL_POLL)
        seen_ended = _poll._now()
        # The known entry outlived the end: entries after it were filled after the end.
        # Otherwise any entry filled before the end has expired one ttl after it.
        fresh_from = entry[1] + ttl if entry and seen_ended < entry[0] + ttl else seen_ended + ttl
        client.sleep(max(0.0, fresh_from + FRESH_MARGIN - _poll._now()))
        retained = retained_checkpoint(client, job_id, job_checkpoints(client, job_id),
                                       survive_cancel=True)  # checked before the cancel
        if not retained:
            raise FlinkError("job %s was cancelled but Flink reports no retained checkpoint; "
                             "nothing was started. Its checkpoint directory may still hold the "
                             "state: start the job with savepoint_path set to it" % job_id)
        return retained["path"]


# Polls of /jobs/:id/checkpoints while looking for the moment its cache entry was filled: the
# uncertainty of that moment, and so time added to the records' pause.
STATS_POLL = 0.025
# The cancel is sent this long before the known cache entry expires: the job must be seen
# ended by then (cancelling a job takes 50-300 ms here), or the answer waits a whole ttl.
CANCEL_LEAD = 0.4
TERMINAL_POLL = 0.02
FRESH_MARGIN = 0.02
# Below this many entries (rest.cache.checkpoint-statistics.size) other jobs' answers could
# push this job's out of the cache early, and an early refill breaks the timing above.
STATS_CACHE_SIZE = 1000


def one_stats_cache(config):
    """Whether every request reaches the same statistics cache, kept its full time: one
    JobManager (with high availability each JobManager's REST endpoint has its own)
    and a cache not sized below Flink's default."""
    size = str(config.get("rest.cache.checkpoint-statistics.size", STATS_CACHE_SIZE)).strip()
    return not high_availability(config) and size.isdigit() and int(size) >= STATS_CACHE_SIZE


def stats_entry_filled(client, job_id, ttl):
    """(after, before): monotonic times between which the cache entry that answers
    /jobs/:id/checkpoints now was filled, or None if no change showed within two ttls.

    A checkpoint is triggered (the job keeps running) so that the counts change within one
    ttl whatever the job's checkpoint interval; it also shortens what is processed again.
    """
    try:
        trigger_checkpoint(client, job_id, uuid.uuid4().hex)
    except FlinkError:
        pass  # the periodic checkpoints change the counts too, if often enough
    deadline = _poll._now() + 2 * ttl + 1
    sent = _poll._now()
    seen = stats_generation(job_checkpoints(client, job_id))
    while _poll._now() < deadline:
        client.sleep(STATS_POLL)
        asked = _poll._now()
        now = stats_generation(job_checkpoints(client, job_id))
        if now != seen:
            return sent, _poll._now()
        sent = asked
    return None


class StatelessStrategy(Strategy):
    """Cancel without saving state; the new version starts empty (or from savepoint_path)."""

    name = "stateless"

    def take_down(self, run, current):
        job_id = current["jid"]
        run.changes.do("cancel job %s without saving its state" % job_id, run.cancel, job_id)
        return run.request.savepoint_path


STRATEGIES = {}


def register(strategy_class):
    """Make ``strategy_class`` the strategy of ``upgrade_mode: <its name>``; returns it."""
    STRATEGIES[strategy_class.name] = strategy_class
    return strategy_class


for _registered in (SavepointStrategy, LastStateStrategy, StatelessStrategy, BlueGreenStrategy):
    register(_registered)


def select_strategy(request, current, spec, previous):
    """The strategy for this upgrade. ``previous`` (the running job's recorded spec,
    or None) lets a strategy that applies only to some changes (an in-place
    rescale when only the parallelism differs) be chosen here."""
    if request.rescale_mode == "in-place" and only_parallelism_differs(previous, spec):
        return RescaleStrategy(fallback=SavepointStrategy())
    return STRATEGIES[request.upgrade_mode]()
