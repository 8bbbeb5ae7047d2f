# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Bring a named job to the desired spec, carrying its state over.

``Engine(client, request, changes).run()`` takes a ``DeployRequest`` and
returns a ``DeployResult`` (or raises FlinkError / ``DeployFailure``). It
never sees Ansible.

The order of steps is the safety argument, so it is spelled out once, here:

1. Everything that can fail without downtime happens first: the JAR is
   uploaded, the new program's job graph is planned, [hook ``pre_check``],
   the spec is recorded.
2. [lease ``acquire``] The run wins the job name's lease (``_deployment_lease``),
   then the old job is stopped the way the strategy says (``_strategies``): by
   default with an atomic stop-with-savepoint, never savepoint-then-cancel; a
   savepoint that reports a failure cause leaves the old job running. A stop
   whose outcome is unknown says so.
3. The new job is submitted exactly once (the successor's job id [lease
   ``next_job_id``], fenced by the store's head and Flink [lease ``submit``]),
   from exactly that savepoint, [lease ``check_started``] and waited for until
   every task runs [lease ``confirm``] and, if asked, through the health window.
4. If the new job cannot start or is unhealthy, [lease ``allow_rollback``] the
   previous spec is started again from the same savepoint, and the task fails
   saying what runs now.
5. [lease ``release``, hook ``after_change``] The run's outcome, success or
   failure, is final: the lease is given up and the outcome logged.
"""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._bluegreen import BlueGreenStrategy, split_handover
from ansible_collections.flinkops.flink.plugins.module_utils._capacity import capacity_verdict, slots_needed
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._deployment_lease import DeploymentLease
from ansible_collections.flinkops.flink.plugins.module_utils._health import health_gate
from ansible_collections.flinkops.flink.plugins.module_utils._hooks import default_hooks
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    checkpoint_stats_ttl,
    default_savepoint_dir,
    high_availability,
    is_active,
    is_healthy,
    matching_jobs,
    restored_from,
    resume_point,
    the_active_run,
    what_runs_now,
)
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    DeadlineReached,
    OperationFailed,
    open_stop_trigger,
    settle_stop,
    stop_savepoint,
    wait_stop,
    wait_until_running,
    wait_until_terminal,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    DeployFailure,
    DeployResult,
    Planned,
    describe_origin,
    is_planned,
)
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cancel_job,
    cluster_overview,
    delete_jar,
    find_job,
    job_checkpoints,
    jobmanager_config,
    list_jars,
    list_jobs,
    plan_jar,
    run_body,
    stop_with_savepoint,
)
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records, malformed_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import (
    StateStore,
    is_migrated,
    migrate,
)
from ansible_collections.flinkops.flink.plugins.module_utils._identity import running_fingerprint
from ansible_collections.flinkops.flink.plugins.module_utils._rescale import runs_desired
from ansible_collections.flinkops.flink.plugins.module_utils._sealed import SecretMismatch
from ansible_collections.flinkops.flink.plugins.module_utils._spec import (
    JobSpec,
    jar_main_class,
    listed_main_class,
    spec_diff,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    content_key,
    find_upload,
    jar_key,
    jar_stem,
    jar_upload_name,
    local_jar,
    new_job_id,
    record_spec,
    spec_records,
    stale_spec_records,
    upload_once,
)
from ansible_collections.flinkops.flink.plugins.module_utils._strategies import select_strategy
from ansible_collections.flinkops.flink.plugins.module_utils._versions import kept_fingerprints


class RecordedSpec:
    """A spec known by its recorded fingerprint only: what a run finishing another run's
    handover tells its lease it deploys (the spec green runs)."""

    def __init__(self, fingerprint):
        self.fingerprint = fingerprint


class Engine:
    """One flink_job run: the desired spec against what the cluster runs."""

    def __init__(self, client, request, changes, hooks=None, state=None, new_lease=None):
        self.client = client
        self.request = request
        self.changes = changes
        # A pending handover is finished by a run with hooks and a lease of its own.
        self._given_hooks, self._new_lease = hooks, new_lease or DeploymentLease
        self.hooks = default_hooks() if hooks is None else list(hooks)
        self.lease = self._new_lease()  # the job name's concurrency guard (_deployment_lease)
        # Where the records live (_records): the JAR store unless a durable store is set.
        self.state = state or StateStore(None, client)
        self.record_store = self.state.job(request.name)
        self._records = None
        self._config = None
        self._overview = None
        self.resume_from = None  # (job id, savepoint) the records say a lost job stopped with
        self.result = DeployResult()
        self.jobs = []
        self.runs = []
        self.current = None
        self.plan = None  # the new program's plan answer, for the pre_check hook
        self._jars = None
        self.stop_trigger_of = None  # the lease's (attempt -> trigger id): runs stopping a job share one stop

    # -- hooks and the lease ---------------------------------------------------------

    def fire(self, point, *args):
        for hook in self.hooks:
            getattr(hook, point)(self, *args)

    def end(self, failure):
        """The run's outcome is final: give the lease up (logging the outcome), then the hooks
        hear of it."""
        self.lease.release(self, failure)
        self.fire("after_change", failure)

    # -- the run ------------------------------------------------------------------

    def run(self):
        """Survey the cluster, then make the request true; returns the DeployResult."""
        self.survey()
        if self.request.state == "running":
            self.result.diff = self.ensure_running()
        else:
            self.result.diff = self.ensure_stopped()
        return self.result

    def survey(self):
        """Read the job list once: this job's runs, and the one active run if any."""
        self.jobs = list_jobs(self.client)
        self.runs = matching_jobs(self.jobs, self.request.name, self.request.name_match)
        runs, self.handover = split_handover(self.runs, self.started_as_this_job)  # _bluegreen
        self.current = the_active_run(runs, self.request.name, self.request.name_match)

    def started_as_this_job(self, job_id):
        """Whether this collection started job ``job_id`` under this run's job name (its spec
        record names it): a job sharing only a prefix is another job's, never a green of ours."""
        record = spec_records(self.records).get(self.fingerprint_of(job_id))
        return bool(record) and record.get("name") == self.request.name

    @property
    def warnings(self):
        """Everything this run warns of: its own result's warnings, then its lease's (the hooks
        warn through the result)."""
        return list(self.result.warnings) + list(self.lease.warnings)

    def fingerprint_of(self, job_id):
        """The spec fingerprint job ``job_id`` runs (``_identity``)."""
        return running_fingerprint(self.records, job_id, self.request.name)

    @property
    def jars(self):
        if self._jars is None:
            self._jars = list_jars(self.client)
        return self._jars

    @property
    def cluster_config(self):
        if self._config is None:
            self._config = jobmanager_config(self.client)
        return self._config

    def stats_ttl(self):
        """How long Flink's REST endpoint may answer a job's checkpoints from its cache."""
        return checkpoint_stats_ttl(self.client, self.cluster_config)

    def overview(self):
        """The cluster's /overview (task slots), read once per run, before any change."""
        if self._overview is None:
            self._overview = cluster_overview(self.client)
        return self._overview

    def check_capacity(self, spec):
        """Refuse, before any change, a job the cluster can never give its task slots."""
        refusal, warning = capacity_verdict(
            self.request.name, slots_needed(self.cluster_config, spec, self.plan), self.overview(),
            self.cluster_config)
        if refusal:
            raise FlinkError(refusal)
        if warning:
            self.result.warnings.append(warning)

    @property
    def records_durable(self):
        """Whether what this run records outlives the JobManager: a durable store, or an upload
        directory the user declared durable and shared."""
        return self.state.durable or self.state.jar_store.declared_shared

    def check_records_durable(self):
        """Before the first change: refuse to act on a high-availability cluster while the
        records would live in one JobManager's upload directory (another JobManager, or this
        one restarted, would not see them: a no-op restarts the job, history and the stop's
        savepoint are forgotten)."""
        if self.records_durable:
            return
        kind = high_availability(self.cluster_config)
        if kind:
            raise DeployFailure("records", FlinkError(
                "the cluster runs with high availability (%s): each JobManager keeps its own "
                "JAR upload directory, where flinkops.flink would keep job %s's records, and a "
                "restarted JobManager starts with an empty one" % (kind, self.request.name)),
                "records-not-durable")

    @property
    def records(self):
        """This job name's record entries (read once): the JAR list itself by default, else the
        durable store's scope, with the JAR store's records imported on its first use."""
        if self._records is None:
            if not self.state.durable:
                self._records = self.jars
            else:
                entries = self.record_store.jars()
                if not is_migrated(entries):
                    entries = migrate(self.record_store, entries,
                                      legacy_records(self.jars, self.request.name),
                                      self.changes.check_mode)
                self._records = entries
            malformed = malformed_records(self._records, self.request.name)
            if malformed:
                self.result.warnings.append(malformed)
        return self._records

    # -- the spec -----------------------------------------------------------------

    def desired_spec(self):
        """The spec asked for; a local JAR is identified by its content hash (no request)."""
        req = self.request
        if req.jar_path:
            self.jar_sha256 = local_jar(req.jar_path)
            key = content_key(self.jar_sha256)
            main_class = jar_main_class(req.jar_path)
        else:
            jar = next((j for j in self.jars if j["id"] == req.jar_id), None)
            if jar is None:
                raise FlinkError("no uploaded JAR with id %s on the cluster" % req.jar_id)
            key = jar_key(jar["name"])
            main_class = listed_main_class(jar)
        # Naming the manifest's Main-Class is running the same program as naming none.
        entry_class = None if req.entry_class == main_class else req.entry_class
        spec = JobSpec(req.name, key, entry_class, req.args, req.parallelism,
                       req.configuration, secret_args=req.secret_args, salt=req.secret_salt)
        return spec if req.secret_salt else spec.salted_like(self.running_record)

    def running_record(self):
        """The active run's spec record (found through fingerprint_of), or None."""
        if not self.current:
            return None
        return spec_records(self.records).get(self.fingerprint_of(self.current["jid"]))

    def resolve_jar_id(self):
        """(jar id, whether this run uploaded it): the upload of this content, made if missing."""
        req = self.request
        if req.jar_id:
            return req.jar_id, False
        existing = find_upload(self.jars, self.jar_sha256)
        if existing:
            return existing, False
        stem = jar_stem(req.jar_name or req.jar_path)
        return self.changes.do(
            "upload %s as %s" % (req.jar_path, jar_upload_name(stem, self.jar_sha256)),
            upload_once, self.client, req.jar_path, self.jar_sha256, stem,
            planned=Planned("the jar id of %s" % req.jar_path)), True

    def forget_upload(self, jar_id, changed_before):
        """Remove a JAR this run uploaded for a program refused before any change (it could not
        be planned, or not given its slots), best effort: a refused run leaves nothing behind
        and, if that upload was all it did, reports no change."""
        try:
            delete_jar(self.client, jar_id)
        except FlinkError as exc:
            self.result.warnings.append("the upload %s of a program refused before any change "
                                        "stays on the cluster: %s" % (jar_id, exc.msg))
            return
        self.changes.note("remove the upload %s again: its program was refused" % jar_id)
        self.changes.changed = changed_before

    def body(self, spec, jar_id, restore, job_id, allow_non_restored=None):
        req = self.request
        return run_body(
            self.client.version, entry_class=spec.entry_class, args=spec.args,
            parallelism=spec.parallelism, configuration=spec.configuration,
            savepoint_path=None if is_planned(restore) else restore,
            allow_non_restored_state=(req.allow_non_restored_state
                                      if allow_non_restored is None else allow_non_restored),
            job_id=job_id, claim_mode=req.restore_mode)

    # -- state: running -------------------------------------------------------------

    def ensure_running(self):
        spec = self.desired_spec()
        if self.handover and self.fingerprint_of(self.handover[1]["jid"]) != spec.fingerprint:
            self.finish_pending_handover()
            spec = self.desired_spec()  # salted like the spec that runs now
        after = dict(spec.to_dict(), fingerprint=spec.fingerprint)
        current = self.current
        if current and runs_desired(self, current, spec):
            return self.already_running(current, after)
        if current and not self.request.replace_running:
            return self.left_running(current, after)

        self.check_records_durable()  # before anything is uploaded
        changed_before = self.changes.changed
        jar_id, uploaded_now = self.resolve_jar_id()
        records = spec_records(self.records)
        previous = records.get(self.fingerprint_of(current["jid"])) if current else None
        # Two jobs, green running this very spec: this run finishes the handover, whatever its mode.
        strategy = BlueGreenStrategy() if self.handover else \
            select_strategy(self.request, current, spec, previous) if current else None
        # Every refusal before the first change: the run leaves nothing behind, not its upload.
        try:
            if not is_planned(jar_id):
                # A program that throws in main() fails here, while the old job still runs.
                self.plan = plan_jar(self.client, jar_id, self.body(spec, jar_id, None, None))
            self.check_capacity(spec)
            self.fire("pre_check", current, spec, jar_id)
            if strategy and strategy.stops_first:
                self.check_rollback_possible(current, previous, spec)
        except FlinkError:
            if uploaded_now:
                self.forget_upload(jar_id, changed_before)
            raise
        before = {}
        if current:
            before = dict(previous or {"note": "job not started by flinkops.flink: spec unknown"},
                          fingerprint=self.fingerprint_of(current["jid"]), job_id=current["jid"])
            before.pop("jar_id", None)
        self.changes.do("record the spec %s" % spec.fingerprint, record_spec, self.record_store,
                        spec, jar_id, self.records)
        try:
            self.lease.acquire(self, current, spec)
            if current:
                strategy.upgrade(self, current, spec, jar_id, previous)
            else:
                self.start_fresh(spec, jar_id)
            self.prune(spec)
        except FlinkError as failure:
            failure = self.after_the_stop(failure)
            self.end(failure)
            raise failure
        self.end(None)
        return spec_diff(before, after)

    def finish_pending_handover(self):
        """Two jobs of the name, the newer one (green) started by a blue/green run of another
        spec that did not promote it (killed, or its stop of blue failed): before this run asks
        for anything else, finish that handover as a run of green's own spec would (gate green,
        then stop blue with a savepoint, or cancel green when it fails its gate), with a lease of
        its own (its claim, its line in the operation log). Then go on from the one job left."""
        blue, green = self.handover
        first = Engine(self.client, self.request, self.changes, hooks=self._given_hooks,
                       state=self.state, new_lease=self._new_lease)
        first.survey()
        if not first.handover:  # another run finished it meanwhile
            first = None
        else:
            first.check_records_durable()
            recorded = RecordedSpec(first.fingerprint_of(first.handover[1]["jid"]))
            try:
                first.lease.acquire(first, first.current, recorded)
                BlueGreenStrategy().finish(first, first.current, first.handover[1]["jid"])
            except FlinkError as failure:
                first.end(failure)
                # This run fails with the handover's outcome and warnings (its lease's among them).
                self.result, self.lease = first.result, first.lease
                raise
            first.end(None)
            self.result.warnings.extend(first.warnings)
        if first and not self.changes.check_mode:
            self.result.warnings.append(
                "jobs %s and %s of %s both ran (a blue/green handover an earlier run left "
                "unfinished): job %s was stopped with the savepoint %s before this run went on" % (
                    blue["jid"], green["jid"], self.request.name, blue["jid"],
                    first.result.savepoint))
        self._records = self._jars = None
        if self.changes.check_mode:
            self.runs, self.current, self.handover = [green], green, None
        else:
            self.survey()

    def check_rollback_possible(self, current, previous, spec):
        """Before the stop: if the new version fails, can the running one start again? Known
        now, not after the stop: a rotated secret, or its JAR gone from a single JobManager,
        refuse the upgrade unless rollback is off. A spec never recorded (a job started by other
        means), or a JAR this JobManager of a high-availability cluster does not hold (each has
        its own upload directory), lets the upgrade go on, said here; a failing new version is
        then cancelled rather than left restarting."""
        if not self.request.rollback:
            return
        cannot = None
        if previous is None:
            cannot = "was not started by flinkops.flink, or its records are lost"
        elif not self.holds_jar(previous) and high_availability(self.cluster_config):
            cannot = "runs a JAR (upload %s) this JobManager does not hold" % previous.get("jar_id")
        if cannot:
            self.result.warnings.append(
                "job %s (%s) %s: if the new version fails, the running spec cannot be started "
                "again; the new job would then be cancelled and the state left in the stop's "
                "savepoint" % (current["jid"], self.request.name, cannot))
            return
        problem = None
        if not self.holds_jar(previous):
            problem = "its JAR (upload %s) is not on the JobManager any more" % previous.get("jar_id")
        else:
            try:
                JobSpec.from_record(previous, given=spec)
            except SecretMismatch as exc:
                problem = exc.msg
        if problem:
            raise FlinkError(
                "job %s (%s) could not be started again if the new version failed: %s. Deploy "
                "with rollback=false to upgrade without that way back; nothing was changed" % (
                    current["jid"], self.request.name, problem))

    def holds_jar(self, record):
        """Whether the JobManager lists the upload a spec record ran."""
        return record.get("jar_id") in set(jar["id"] for jar in self.jars)

    def after_the_stop(self, failure):
        """A failure that is not composed yet (a read or the transport failing, the JobManager
        gone) once this run's stop took a savepoint: say where the state is and what a re-run
        does, never only 'cannot reach Flink'."""
        savepoint = self.result.savepoint
        if isinstance(failure, DeadlineReached):  # the deadline's message says what a re-run does
            return DeployFailure("start" if isinstance(savepoint, str) else "change", failure, "deadline",
                                 previous_job_id=self.result.previous_job_id,
                                 state_at=savepoint if isinstance(savepoint, str) else None,
                                 job_id=self.result.job_id if self.result.action != "none" else None)
        if isinstance(failure, DeployFailure) or not isinstance(savepoint, str):
            return failure
        return DeployFailure("start", failure, "interrupted-after-stop", state_at=savepoint,
                             previous_job_id=self.result.previous_job_id,
                             job_id=self.result.job_id, records_durable=self.records_durable)

    def already_running(self, current, after):
        """The spec asked for runs already: change nothing (wait for it if not healthy yet)."""
        restored = restored_from(job_checkpoints(self.client, current["jid"]))
        self.result.update(job_id=current["jid"], job=current,
                           restored_from=restored["path"] if restored else None)
        self.lease.verify_running(self, current)
        # The overview just read already tells whether it runs; ask again only if not.
        if self.request.wait and not self.changes.check_mode and not is_healthy(current):
            self.result.job = wait_until_running(self.client, current["jid"],
                                                 self.request.wait_timeout, new=False)
        return spec_diff(after, after)

    def left_running(self, current, after):
        """Another spec runs and replace_running is false: change nothing, and say so."""
        self.result.update(job_id=current["jid"], job=current)
        self.result.warnings.append(
            "job %s (%s) runs another spec than this run asks for; replace_running=false, so it "
            "was left as it is" % (current["jid"], self.request.name))
        return spec_diff(after, after)

    def start_fresh(self, spec, jar_id):
        """Nothing runs: start from savepoint_path, or resume the last run's state."""
        req = self.request
        restore = req.savepoint_path
        self.result.action = "started"
        if not restore and req.resume:
            last_run, restore = resume_point(self.client, self.runs, self.stats_ttl())
            if last_run and self.stop_trigger_of:  # the stop of a run that died: its own answer
                restore = stop_savepoint(self.client, last_run["jid"], self.stop_trigger_of) or restore
            if restore:
                self.result.update(action="resumed", previous_job_id=last_run["jid"])
            elif self.resume_from:
                previous_job_id, restore = self.resume_from[0], self.resume_from[1]
                self.result.update(action="resumed", previous_job_id=previous_job_id)
                self.result.warnings.append(
                    "Flink lists no run of job %s (a JobManager lost its finished jobs); "
                    "resuming from %s, the savepoint the records say its last run stopped "
                    "with (job %s)" % (self.request.name, restore, previous_job_id))
        if not restore and not self.changes.check_mode and \
                not self.records_durable:
            # Only the upload directory remembers this job: never silent about empty state.
            self.result.warnings.append(
                "job %s starts from empty state. flinkops.flink keeps what it knows of a job (its "
                "savepoints among it) in the JobManager's upload directory%s, which a restarted "
                "JobManager may not have: if this job ran before and stopped with a savepoint, "
                "stop it and deploy it with savepoint_path set to that savepoint. Set state_store "
                "to a durable store so that this cannot go unnoticed" % (
                    self.request.name, "" if self.cluster_config.get("web.upload.dir") else
                    " (web.upload.dir is not set: a new temporary directory each time the "
                    "JobManager starts)"))
        self.start(spec, jar_id, restore)

    def prune(self, spec=None):
        """Drop the spec records no listed run needs, so the JAR list does not fill up."""
        keep = set(self.fingerprint_of(job["jid"]) for job in self.runs) | set([spec and spec.fingerprint]) \
            | kept_fingerprints(read_operations(self.records, self.request.name))
        stale = stale_spec_records(self.records, self.request.name, keep)
        if stale:
            self.changes.do("remove %d old spec record entries of %s" % (
                len(stale), self.request.name), self.record_store.delete, stale)

    # -- steps the strategies use -------------------------------------------------

    def stop_to_savepoint(self, job_id, drain):
        """Atomic stop-with-savepoint; returns the savepoint (Planned in check mode)."""
        req = self.request
        target = req.savepoint_dir or default_savepoint_dir(self.cluster_config)
        if not target:
            raise FlinkError("no savepoint directory: set savepoint_dir, or configure "
                             "execution.checkpointing.savepoint-dir (state.savepoints.dir "
                             "on 1.x) on the cluster; job %s was left running" % job_id)
        location = self.changes.do(
            "stop job %s with a %s savepoint to %s%s" % (
                job_id, req.savepoint_format, target, " (drain)" if drain else ""),
            self._stop_with_savepoint, job_id, target, drain,
            planned=Planned("the savepoint that stops job %s" % job_id))
        self.result.savepoint = location
        return location

    def _stop_with_savepoint(self, job_id, target, drain):
        trigger = self.stop_trigger_of and open_stop_trigger(self.client, job_id, self.stop_trigger_of)
        requested_ms = int(time.time() * 1000)
        try:
            trigger = stop_with_savepoint(self.client, job_id, target, drain,
                                          self.request.savepoint_format, trigger)
        except FlinkError as exc:
            if exc.status is not None or trigger is None:
                raise  # Flink refused the stop (or we cannot poll it): nothing stopped.
            raise DeployFailure("stop", exc, "stop-unknown", job_id=job_id, trigger_id=trigger)
        try:
            return wait_stop(self.client, job_id, trigger, self.request.savepoint_timeout,
                             self.request.wait_timeout, self.result.warnings.append)
        except OperationFailed:
            raise  # Flink's verdict: the savepoint failed and the job runs on.
        except DeadlineReached as exc:  # no time left to settle it: the stop is left to Flink
            raise DeployFailure("stop", exc, "deadline", previous_job_id=job_id, trigger_id=trigger)
        except FlinkError as exc:  # accepted, outcome unread (no answer, a timeout): ask the job
            settled = settle_stop(self.client, job_id, requested_ms, self.request.wait_timeout, self.stats_ttl())
            if settled is None:
                raise DeployFailure("stop", exc, "stop-unknown", job_id=job_id, trigger_id=trigger)
            self.result.warnings.append(
                "the outcome of the stop of job %s could not be read (%s); the job ended and its "
                "latest savepoint, %s, was completed after the stop was requested: going on "
                "from it" % (job_id, exc.msg, settled))
            return settled

    def cancel(self, job_id):
        """Cancel and wait until the job has ended; returns its final overview entry."""
        cancel_job(self.client, job_id)
        return wait_until_terminal(self.client, job_id, self.request.wait_timeout)

    def start_or_roll_back(self, spec, jar_id, restore, previous):
        """Start the new version after the old one stopped; roll back if it fails."""
        try:
            self.start(spec, jar_id, restore)
        except FlinkError as exc:
            if self.changes.check_mode or isinstance(exc, DeadlineReached):
                raise  # the deadline judged no version: the new one is left as it is
            self.roll_back(exc, previous, restore)

    def start(self, spec, jar_id, restore, allow_non_restored=None):
        """Submit ``spec`` exactly once from ``restore``, then wait until it is healthy."""
        job_id = self.lease.next_job_id(self, spec) or new_job_id(spec)
        self.result.update(job_id=job_id, restored_from=restore)
        what = "start job %s (%s) from %s" % (self.request.name, spec.fingerprint, describe_origin(restore))
        self.changes.do(what, self.submit, spec, jar_id,
                        self.body(spec, jar_id, restore, job_id, allow_non_restored))
        if self.changes.check_mode:
            self.result.job_id = None
            return
        self.await_healthy(job_id, int(time.time() * 1000))

    def submit(self, spec, jar_id, body):
        """One submission of ``body``, fenced by the lease, and its job checked."""
        job_id = self.lease.submit(self, jar_id, body)
        self.lease.check_started(self, job_id, spec)
        return job_id

    def await_healthy(self, job_id, started_ms):
        """Wait until every task runs, then the checkpoint and health gates (_health)."""
        if self.request.wait:
            self.result.update(**health_gate(self.client, self.request, job_id, started_ms, self.result,
                                             on_running=lambda job: self.lease.confirm(self)))

    def roll_back(self, failure, previous, restore):
        """The new version failed after the old one stopped: restore it, fail saying so."""
        failed_id, reason, cannot = self.result.job_id, None, None
        if not self.request.rollback:
            reason = "rollback is off"
        elif previous is None:
            cannot = "the previous job was not started by flinkops.flink, so its spec is unknown"
        elif not self.holds_jar(previous):
            cannot = "the previous version's JAR (upload %s) is not on this JobManager" % previous["jar_id"]
        else:
            try:
                self.lease.allow_rollback(self, failed_id, previous)
            except FlinkError as refused:  # another run replaced our new job, or fenced ours
                reason = refused.msg
        if cannot:
            reason = cannot
            if is_active(find_job(self.client, failed_id)):
                # Left alone it would restart over and over on the state it was given.
                self.changes.note("cancel the failed new job %s" % failed_id)
                self.cancel(failed_id)
                reason += "; the new job %s was cancelled" % failed_id
        if reason:
            raise DeployFailure("start", failure, "not-rolled-back", reason=reason,
                                previous_job_id=self.result.previous_job_id, state_at=restore)
        if is_active(find_job(self.client, failed_id)):
            self.cancel(failed_id)
        old = JobSpec.from_record(previous, given=self.desired_spec())
        try:
            self.start_previous(old, previous["jar_id"], restore)
        except FlinkError as second:
            runs_now = what_runs_now(self.client, self.request.name, self.request.name_match)
            raise DeployFailure("rollback", second, "rollback-failed", failed_job_id=failed_id,
                                state_at=restore, first=str(failure), runs_now=runs_now)
        self.result.update(rolled_back=True, failed_job_id=failed_id)
        raise DeployFailure("start", failure, "rolled-back", failed_job_id=failed_id,
                            job_id=self.result.job_id, state_at=restore)

    def start_previous(self, old, jar_id, restore):
        job_id = self.lease.next_job_id(self, old) or new_job_id(old)
        self.changes.note("roll back: start the previous spec %s from %s" % (
            old.fingerprint, restore))
        self.submit(old, jar_id, self.body(old, jar_id, restore, job_id, False))
        self.result.update(job_id=job_id, restored_from=restore)
        self.result.job = wait_until_running(self.client, job_id, self.request.wait_timeout)
        self.lease.confirm(self)

    # -- state: stopped -----------------------------------------------------------

    def ensure_stopped(self):
        if self.handover:
            self.finish_pending_handover()
        current = self.current
        if current is None:
            return spec_diff({"running": False}, {"running": False})
        job_id = self.result.previous_job_id = current["jid"]
        mode = self.request.stop_mode
        self.check_records_durable()
        try:
            self.lease.acquire(self, current, None)
            if mode == "cancel":
                self.changes.do("cancel job %s" % job_id, self.cancel, job_id)
                self.result.action = "cancelled"
            else:
                self.stop_to_savepoint(job_id, self.request.drain or mode == "drain")
                self.result.action = "stopped"
            self.prune()  # the stopped job's record stays: Flink lists it (FINISHED)
        except FlinkError as failure:
            if isinstance(failure, DeadlineReached):
                failure = self.after_the_stop(failure)
            self.end(failure)
            raise failure
        self.end(None)
        return spec_diff({"running": True, "job_id": job_id}, {"running": False})
