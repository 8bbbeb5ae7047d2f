# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""A deployment's lease on a job name: the concurrency guard (``_guard``) as the engine calls it.

The engine holds one ``DeploymentLease`` per run and calls it by name at each step of its
order (the argument is in ``_engine``):

- ``acquire``: before anything stops. Pick the predecessor, refuse a start from empty state
  when the job has history, win the claim on the successor (``_guard.Guard``: a lease the
  store keeps alive while this run renews it) and fix the stop's triggers.
- ``next_job_id``: every submission (new version, resume, rollback) uses the successor id
  of the job it replaces: Flink's fence.
- ``submit``: with a durable store, the name's head is moved from the predecessor to the
  successor right before each request (``_head``): a head that moved on without this run
  refuses it, even where Flink forgot the id. A fenced submission Flink refuses as a
  duplicate is another run's job: fail naming it, never roll back over it.
- ``check_started``: the job started carries the name asked for. ``confirm``: once it runs
  (not before: the upload would compete with its restore for the JobManager); a job that
  never ran is confirmed before a rollback or at the release.
- ``allow_rollback``: a new job another run stopped or replaced is superseded: fail saying
  so, never roll back.
- ``verify_running``: the job asked for runs already; green only once it is healthy.
- ``release``: give the claim up, whatever happened, and append to the operation log.
"""

from __future__ import annotations

import functools
import itertools

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    FlinkTimeout,
)
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    DeploymentInProgress,
    GENESIS,
    MAX_ATTEMPTS,
    Guard,
    abandoned,
    actor,
    deploying,
    elect,
    ended_attempts,
    next_successor,
    predecessor_of,
    read_confirmations,
    read_intents,
    stale_records,
    stop_trigger_id,
    successor_id,
    superseded_by,
)
from ansible_collections.flinkops.flink.plugins.module_utils._head import (
    MALFORMED,
    HeadMoved,
    adopt_head,
    move_head,
)
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    append_operation,
    SAVEPOINT_ACTION,
    last_known_state,
    read_operations,
    resumable_state,
    started_by,
)
from ansible_collections.flinkops.flink.plugins.module_utils._health import (
    RECENT_S,
    prove_checkpoint,
    recent_restarts,
)
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    cluster_lineage,
    describe_state,
    is_active,
    restart_count,
    is_healthy,
    root_exception,
)
from ansible_collections.flinkops.flink.plugins.module_utils._poll import wait_for, wait_until_running, watch_health
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cancel_job,
    find_job,
    list_jobs,
)
from ansible_collections.flinkops.flink.plugins.module_utils._submit import (
    DUPLICATE_SUBMISSION,
    submit_once,
)

# Longest a claim may live beyond the run's own timeouts before others may take it over.
CLAIM_MARGIN_S = 120
# Logged actions after which a job of the name ran (and may have had state).
RAN = ("started", "resumed", "upgraded", "rolled back", "stopped", "cancelled")


class NoRollback(FlinkError):
    """A failure after which the engine must not start the previous version again:
    another run's job is (or is about to be) the active one."""

    roll_back = False


class Superseded(NoRollback):
    """Our new job was stopped or replaced by another deployment."""


class Replan(NoRollback):
    """Another deployment ended while this run waited for it: plan again from scratch."""


def _consumed(name, predecessor, successor, lineage):
    """The successor ids of ``predecessor`` before ``successor``: attempts that ended
    (``next_successor`` skipped them), which the head may still name."""
    ids = []
    for attempt in itertools.count():
        candidate = successor_id(name, predecessor, attempt, lineage)
        if candidate == successor or attempt >= MAX_ATTEMPTS:
            return tuple(ids)
        ids.append(candidate)


def _is_duplicate(exc):
    return exc.status == 400 and any(name in str(exc.errors) for name in DUPLICATE_SUBMISSION)


class DeploymentLease:
    """One run's side of the protocol, called by the engine (``run``) at its steps."""

    def __init__(self, store=None):
        self.store = store
        self.guard = None
        self.predecessor = None
        self.successor = None
        self.warnings = []
        self.fingerprint = None
        self.refusal = None  # why a rollback must not happen
        self.unconfirmed = []  # (job id, fingerprint) submitted, not yet confirmed
        self.lineage = ""  # what tells this cluster apart in job ids (_jobstate.cluster_lineage)
        self.consumed = ()  # successor ids of the predecessor that ended attempts consumed
        self.nonce = None  # our claim's nonce: what the head names as its mover
        self.refused = False  # the head or Flink's fence refused our submission (logged as refused)

    def _guard(self, run):
        if self.guard is None:
            self.guard = Guard(self.store or run.record_store, run.request.name,
                               warn=self.warnings.append)
        return self.guard

    # -- before anything stops ----------------------------------------------------

    def acquire(self, run, current, spec):
        req = run.request
        operations = read_operations(run.records, req.name)
        ours = read_confirmations(run.records, req.name)
        exact_runs = [job for job in run.runs
                      if job.get("name") == req.name or job.get("jid") in ours]
        if req.name_match == "prefix":
            # Never resume the state of another job that only shares the prefix.
            run.runs = exact_runs
        predecessor = predecessor_of(current, exact_runs, operations)[0]
        self.fingerprint = spec.fingerprint if spec is not None else "0" * 16
        ran = [op for op in operations if op.get("action") in RAN]
        # A submission that failed leaves a FAILED job with no tasks: it never ran, and holds
        # no state, so it does not stand for the job's history (Flink forgot the runs that did).
        really_ran = [job for job in exact_runs if (job.get("tasks") or {}).get("total")]
        if current is None and spec is not None and not really_ran and ran and \
                not req.savepoint_path and not getattr(req, "allow_start_empty", False):
            resumable = resumable_state(operations, ours) if req.resume else None
            if resumable is None:
                self._refuse_empty_start(run, ran, predecessor, last_known_state(
                    [op for op in operations if op.get("action") in RAN + (SAVEPOINT_ACTION,)]))
            run.resume_from = resumable
        intents = read_intents(run.records)
        busy = deploying(current, intents) if current else None
        if busy is not None:
            self._lost(run, busy, predecessor, "it deploys job %s" % current["jid"])
        self.predecessor = predecessor
        self.lineage = cluster_lineage(run.cluster_config)
        self.successor = next_successor(req.name, predecessor, ended_attempts(run.jobs, operations),
                                        self.lineage)
        self.consumed = _consumed(req.name, predecessor, self.successor, self.lineage)
        run.stop_trigger_of = functools.partial(stop_trigger_id, predecessor, self.successor)
        if run.changes.check_mode:
            return
        ttl = req.savepoint_timeout + 2 * req.wait_timeout + req.health_window + CLAIM_MARGIN_S
        jobs = list_jobs(run.client)  # now: the run's list predates its plan, a twin may have submitted since
        try:
            self.nonce = self._guard(run).claim(
                self.successor, self.fingerprint, predecessor, ttl, jobs,
                window=req.wait_timeout + req.health_window, health_window=req.health_window).nonce
        except DeploymentInProgress as exc:
            self._lost(run, exc.winner, predecessor, "it replaces job %s" % predecessor)
        # Renewed until the run lets it go: a long stop or submit never looks abandoned.
        self._guard(run).keep_alive()
        if self._fenced(run) and current is not None:
            # A job the head does not name, active now (a user's own): the head follows it
            # before it is stopped, so that its successor's move is judged like any other.
            adopt_head(run.record_store, req.name, predecessor, jobs, self.nonce, self.guard.actor)

    def _refuse_empty_start(self, run, operations, predecessor, state):
        req = run.request
        message = (
            "job %s has history on this cluster (last: %s, job %s) but Flink lists no run of "
            "it (a JobManager without high availability lost its job list?); refusing to start "
            "it from empty state. %s, or set allow_start_empty=true to start without state" % (
                req.name, operations[0].get("action"), predecessor,
                "Its last known state is %s: set savepoint_path to it" % state if state else
                "No savepoint of it is recorded: set savepoint_path to its last savepoint or "
                "retained checkpoint"))
        self._log(run, "refused", previous_job_id=predecessor, savepoint=state, message=message)
        raise NoRollback(message)

    def _lost(self, run, winner, predecessor, what):
        """Another run holds the claim: wait for it (then re-plan) or fail naming it."""
        req = run.request
        message = ("another deployment of job %s is in progress: %s (%s); this run changed "
                   "nothing" % (req.name, winner.describe(), what))
        if getattr(req, "concurrent_deployment", "fail") == "wait" and \
                not run.changes.check_mode:
            self._wait_for(run, winner, message)
            raise Replan(message)
        message += ". %s" % winner.release_hint(run.state.describe())
        self._log(run, "refused", previous_job_id=None if predecessor == GENESIS else predecessor,
                  message=message)
        raise DeploymentInProgress(message)

    def _wait_for(self, run, winner, message):
        """Until the winner's claim is gone (released, expired or abandoned), bounded."""
        timeout = getattr(run.request, "concurrent_wait_timeout", 600)

        def over():
            """True once the winner's claim is gone; None (wait_for polls on) while it holds."""
            jobs = list_jobs(run.client)
            claims = read_intents(run.record_store.jars()).get(winner.successor) or []
            mine = next((i for i in claims if i.nonce == winner.nonce), None)
            if mine is None:
                return True
            listed = find_job(run.client, winner.successor, jobs)
            if listed is not None:
                return (deploying(listed, {winner.successor: [mine]}) is None) or None
            pred = find_job(run.client, winner.predecessor, jobs)
            now_ms = max([j.get("start-time", 0) + j.get("duration", 0) for j in jobs] or [0])
            return (abandoned(mine, pred, None, now_ms) or elect([mine], now_ms) is None) or None
        try:
            wait_for(run.client, over, timeout, 1.0, "the other deployment of job %s to end" %
                     run.request.name)
        except FlinkTimeout:
            raise DeploymentInProgress("%s; still in progress after waiting %ss "
                                       "(concurrent_wait_timeout)" % (message, timeout))

    # -- the fence ------------------------------------------------------------------

    def next_job_id(self, run, spec):
        if self.successor is None:
            return None
        return self.successor

    @staticmethod
    def _fenced(run):
        """Whether the head fence applies: the records are in a durable store (the JAR store
        has no compare-and-set; Flink's fence then stands alone) and the run acts."""
        return bool(getattr(run.record_store, "durable", False)) and not run.changes.check_mode

    def _move_head(self, run, job_id):
        """Right before a request submits ``job_id``: move the name's head to it (``_head``)."""
        if not self._fenced(run):
            return
        req = run.request
        taken_over = set(i.nonce for i in self._guard(run).taken_over if i.successor == job_id)
        try:
            move_head(run.record_store, req.name, self.predecessor, job_id, self.consumed,
                      self.nonce, taken_over, self._guard(run).actor, self.warnings.append,
                      live_claims=lambda: set(i.nonce for i in read_intents(
                          run.record_store.jars()).get(job_id) or ()))
        except HeadMoved as exc:
            head = exc.head if exc.head is not MALFORMED else {}
            run.result.update(action="none", job_id=None, winner_job_id=(head or {}).get("j"))
            self.refusal = "another deployment replaced job %s (the state store's head of job %s " \
                "moved on), so this run started nothing" % (self.predecessor, req.name)
            self._log(run, "refused", previous_job_id=self.predecessor, message=exc.msg)
            self.refused = True
            raise
        except FlinkError as exc:  # the store failed (StoreError): never submit unfenced
            run.result.update(job_id=None)
            # The failure names the store's error once; the rollback's refusal says only why
            # there is none (it would need the head moved too).
            self.refusal = "the state store must move the head of job %s before any submission, " \
                "a rollback's too" % req.name
            raise NoRollback("the state store could not move the head of job %s to job %s, so this "
                             "run submitted nothing: %s" % (req.name, job_id, exc.msg))

    def submit(self, run, jar_id, body):
        try:
            return submit_once(run.client, jar_id, body,
                               before_post=functools.partial(self._move_head, run, body["jobId"]))
        except FlinkError as exc:
            if not _is_duplicate(exc):
                raise
        job = find_job(run.client, body["jobId"]) or {}
        # This run started nothing: its result says so, and names the winner apart.
        run.result.update(action="none", job_id=None, winner_job_id=body["jobId"])
        self.refusal = (
            "another deployment of job %s is in progress or has finished: it started job %s "
            "(%s) in place of job %s, so this run started nothing%s" % (
                run.request.name, body["jobId"], job.get("state", "state unknown"),
                self.predecessor, self._who(run, body["jobId"])))
        self._log(run, "refused", previous_job_id=self.predecessor, message=self.refusal)
        self.refused = True
        raise NoRollback(self.refusal)

    def _who(self, run, job_id):
        """Who else claimed ``job_id``: a claim listed now, or one we took over as abandoned."""
        guard = self._guard(run)
        mine = guard.intent.nonce if guard.intent else None
        try:
            listed = read_intents(run.record_store.jars()).get(job_id) or []
        except FlinkError:
            listed = []
        others = [i for i in listed + guard.taken_over if i.successor == job_id and i.nonce != mine]
        return " (%s)" % others[0].describe() if others else ""

    def check_started(self, run, job_id, spec):
        req = run.request
        job = find_job(run.client, job_id) or {}
        name = job.get("name")
        expected = name == req.name if req.name_match == "exact" else \
            (name or "").startswith(req.name)
        self.predecessor, self.successor = job_id, successor_id(req.name, job_id, lineage=self.lineage)
        self.consumed = ()
        if name is not None and not expected:
            cancel_job(run.client, job_id)
            if run.current is None:  # a fresh start: this run leaves nothing started
                run.result.update(action="none", job_id=None, failed_job_id=job_id)
            raise FlinkError(
                "the program started a job named %r, not %r (name_match=%s): job %s was "
                "cancelled. Set name to the name the program passes to execute(), or change "
                "the program" % (name, req.name, req.name_match, job_id))
        if spec is not None:
            self.fingerprint = spec.fingerprint
            self.unconfirmed.append((job_id, spec.fingerprint))

    def confirm(self, run):
        """Once the new job runs: confirm every job this run submitted (the first confirmation
        drops the claim)."""
        for job_id, fingerprint in self.unconfirmed:
            self._guard(run).confirm(job_id, fingerprint)
        self.unconfirmed = []

    def allow_rollback(self, run, failed_job_id, previous):
        """Never start the previous version over another run's job: refuse the rollback when
        the submission lost the fence, or when another run stopped or replaced our new job."""
        if self.refusal:
            raise FlinkError(self.refusal)
        self.confirm(run)
        try:
            # Claims first: a claim outlives its run's submit, so one of the reads sees it.
            jars = run.record_store.jars()
            jobs = list_jobs(run.client)
            found = None if is_active(find_job(run.client, failed_job_id, jobs)) else \
                superseded_by(failed_job_id, run.request.name, jobs, read_intents(jars), self.lineage)
        except FlinkError:
            found = None
        if found:
            successor, intent = found
            who = started_by(jars, run.request.name, successor)
            raise Superseded("job %s was superseded by another deployment (%s)" % (
                failed_job_id, intent.describe() if intent else "its successor %s runs%s" % (
                    successor, ", started by %s" % who if who else "")))
        # The rollback replaces the failed job: it gets that job's successor id.
        self.predecessor = failed_job_id
        self.successor = successor_id(run.request.name, failed_job_id, lineage=self.lineage)
        self.consumed = ()

    def verify_running(self, run, current):
        """Green means healthy: the job asked for must not be failing or restarting."""
        job_id = current["jid"]
        busy = deploying(current, read_intents(run.records))
        if busy is not None:
            # Another run deploys this very spec and still watches it: green only once the
            # job passed that run's health window too.
            run.result.healthy = False
            if not run.changes.check_mode:
                self._gate(run, job_id, max(busy.health_window, run.request.health_window),
                           "another deployment (%s) is still watching it" % busy.describe())
            return
        failed_gate = self._last_deployment_failed(run, job_id)
        if failed_gate is not None:
            # Its own deployment failed (a gate it could not pass): not up to date until a
            # gate passes, whatever it looks like now. A retry never turns that green.
            run.result.healthy = False
            if not run.changes.check_mode:
                self._gate(run, job_id, run.request.health_window,
                           "its last deployment failed (%s)" % failed_gate)
                self._log(run, "verified", job_id=job_id)
            return
        recent = recent_restarts(run.client, job_id)
        failing = current.get("state") in ("RESTARTING", "FAILING") or recent
        run.result.healthy = bool(is_healthy(current) and not failing)
        if not failing or run.changes.check_mode:
            return
        req = run.request
        if req.health_window and req.wait:
            # Gate options given: wait for it and gate it like a fresh deployment.
            self._gate(run, job_id, req.health_window, "it was not healthy")
            return
        raise NoRollback(
            "job %s runs the requested spec but is not healthy (%s; %d restart(s) in the last "
            "%d minutes): %s. Fix the cause and deploy again, or set health_window to wait for "
            "it to recover" % (job_id, describe_state(current), recent, RECENT_S // 60,
                               root_exception(run.client, job_id) or "no failure recorded"))

    @staticmethod
    def _last_deployment_failed(run, job_id):
        """The message of the failed deployment that left ``job_id`` running (the newest
        logged change of that job is a failure about the job itself), else None."""
        for entry in read_operations(run.records, run.request.name):
            if entry.get("job_id") == job_id and entry.get("action") != SAVEPOINT_ACTION:
                if entry.get("action") == "failed" and not entry.get("failed_job_id"):
                    return (entry.get("message") or "no message recorded")[:200]
                return None
        return None

    def _gate(self, run, job_id, window, why):
        """Wait until every task of the job runs, then watch it for ``window`` seconds."""
        req = run.request
        try:
            job = wait_until_running(run.client, job_id, req.wait_timeout, new=False)
            # The same proof a fresh deployment's gate asks for (_health.health_gate): a
            # triggered checkpoint, whatever the window.
            proof = prove_checkpoint(run.client, job_id, req.savepoint_timeout) \
                if req.health_require_checkpoint else None
            before = restart_count(run.client, job_id)
            health = watch_health(run.client, job_id, window, False, 0, baseline_restarts=before)
            if proof:
                health["checkpoint"] = proof
        except FlinkError as exc:
            raise NoRollback("job %s runs the requested spec, but %s and it failed the health "
                             "gate: %s" % (job_id, why, exc))
        run.result.update(healthy=True, job=health["job"] or job)

    # -- the end ---------------------------------------------------------------------

    def _prune(self, run, job_id):
        """Drop this name's records that no listed job needs; a failure is only a warning."""
        try:
            jobs = list_jobs(run.client)
            store = self.store or run.record_store
            stale = stale_records(store.jars(), run.request.name,
                                  set(j["jid"] for j in jobs) | set([job_id]))
            if stale:
                store.delete(stale)
        except FlinkError as exc:
            self.warnings.append("old records of job %s could not be removed: %s" % (
                run.request.name, exc))

    def _log(self, run, action, **facts):
        if run.changes.check_mode:
            return
        append_operation(self.store or run.record_store, run.request.name, action,
                         self.guard.actor if self.guard else actor(), self.warnings.append,
                         fingerprint=getattr(self, "fingerprint", None), logged=self._logged(run), **facts)

    @staticmethod
    def _logged(run):
        """The log as this run read it (it numbers the version an entry applies), or None when
        the records cannot be read now (the entry is still written, without a number)."""
        try:
            return read_operations(run.records, run.request.name)
        except FlinkError:
            return None

    def release(self, run, failure):
        if run.changes.check_mode or self.guard is None:
            return
        self.confirm(run)
        self.guard.release()
        if isinstance(failure, (DeploymentInProgress, Replan)) or self.refused:
            # Logged as refused already. Never as failed with this run's stop savepoint: other
            # runs went on from that state, and a later resume would take the log's newest
            # failed entry for the last state.
            return
        result = run.result
        if failure is None:
            self._prune(run, result.job_id)
        action = result.action if failure is None else \
            "rolled back" if result.rolled_back else "failed"
        if action == "none":
            return
        restored = result.restored_from if isinstance(result.restored_from, str) else None
        self._log(run, action, job_id=result.job_id, previous_job_id=result.previous_job_id,
                  failed_job_id=result.failed_job_id, savepoint=result.savepoint or restored,
                  message=failure.msg if failure is not None else None)
