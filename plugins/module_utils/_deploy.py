# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Bring a named job to the desired spec, carrying its state over.

The order of steps is the safety argument, so it is spelled out once, here:

1. Everything that can fail without downtime happens first: the JAR is
   uploaded, the new program's job graph is planned, the spec is recorded.
2. The old job is stopped with a savepoint (atomic, never savepoint-then-cancel);
   a savepoint that reports a failure cause leaves the old job running.
3. The new job is submitted exactly once (client-chosen job id), from exactly
   that savepoint, and waited for until every task runs (and, if asked,
   stays healthy).
4. If the new job cannot start or is unhealthy, the previous spec is started
   again from the same savepoint, and the task fails saying so.
"""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._ops import (
    ACTIVE_STATES,
    all_tasks_running,
    cancel_job,
    check_health,
    checkpoints_survive_cancel,
    delete_jars,
    default_savepoint_dir,
    ensure_jar,
    find_job,
    find_jobs,
    jar_sha_prefix,
    job_checkpoints,
    jobmanager_config,
    list_jars,
    list_jobs,
    local_jar,
    plan_jar,
    record_spec,
    resume_point,
    retained_checkpoint,
    run_body,
    settled_checkpoints,
    run_jar,
    spec_records,
    stop_with_savepoint,
    wait_savepoint,
    wait_until_running,
    wait_until_terminal,
)
from ansible_collections.flinkops.flink.plugins.module_utils._health import (
    describe_failure,
    prove_checkpoint,
    read_failure,
)
from ansible_collections.flinkops.flink.plugins.module_utils._precheck import (
    StateCheckRefused,
    check_upgrade,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import (
    JobSpec,
    fingerprint_of,
    jar_stem,
    spec_diff,
    stale_spec_records,
)


class JobDeployment:
    """One flink_job run: the desired spec against what the cluster runs."""

    def __init__(self, module):
        self.module = module
        self.client = module.client
        self.params = module.params
        self.jobs = list_jobs(self.client)
        self._jars = None
        matching = find_jobs(self.client, self.params["name"], self.params["name_match"],
                             jobs=self.jobs)
        self.runs = matching
        active = [job for job in matching if job.get("state") in ACTIVE_STATES]
        if len(active) > 1:
            raise FlinkError("%d jobs match name %r (%s): %s; refusing to guess which one to "
                             "manage" % (len(active), self.params["name"],
                                         self.params["name_match"],
                                         ", ".join("%s (%s)" % (j["jid"], j["state"])
                                                   for j in active)))
        self.current = active[0] if active else None
        self.result = {"job_id": None, "previous_job_id": None, "action": "none",
                       "savepoint": None, "restored_from": None, "rolled_back": False}

    # -- the spec -----------------------------------------------------------

    @property
    def jars(self):
        if self._jars is None:
            self._jars = list_jars(self.client)
        return self._jars

    def desired_spec(self):
        """The spec asked for. A local JAR is identified by its content hash, read
        from disk without any request, so a no-op run costs one REST call."""
        params = self.params
        if params["jar"]:
            self.jar_sha256 = local_jar(params["jar"])
            jar_key = "sha256:" + self.jar_sha256[:16]
        else:
            jar = next((j for j in self.jars if j["id"] == params["jar_id"]), None)
            if jar is None:
                raise FlinkError("no uploaded JAR with id %s on the cluster" % params["jar_id"])
            sha = jar_sha_prefix(jar["name"])
            jar_key = "sha256:" + sha if sha else "jar:" + jar["name"]
        return JobSpec(params["name"], jar_key, params["entry_class"], params["args"],
                       params["parallelism"], params["configuration"])

    def resolve_jar_id(self):
        if self.params["jar_id"]:
            return self.params["jar_id"]
        jar_id, _uploaded = ensure_jar(self.client, self.params["jar"], self.jar_sha256,
                                       jar_stem(self.params["jar_name"] or self.params["jar"]),
                                       self.jars, self.module.change)
        return jar_id

    def body(self, spec, jar_id, restore_path, job_id, allow_non_restored=None):
        return run_body(
            self.client.version, entry_class=spec.entry_class, args=spec.args,
            parallelism=spec.parallelism, configuration=spec.configuration,
            savepoint_path=restore_path,
            allow_non_restored_state=(self.params["allow_non_restored_state"]
                                      if allow_non_restored is None else allow_non_restored),
            job_id=job_id, claim_mode=self.params["restore_mode"])

    # -- state: running -------------------------------------------------------

    def ensure_running(self):
        spec = self.desired_spec()
        after = dict(spec.to_dict(), fingerprint=spec.fingerprint)
        current = self.current
        if current and spec.describes(current["jid"]):
            self.result.update(job_id=current["jid"], job=current)
            # The overview just read already tells whether it runs; ask again only if not.
            if self.params["wait"] and not self.module.check_mode and \
                    not all_tasks_running(current):
                self.result["job"] = wait_until_running(self.client, current["jid"],
                                                        self.params["wait_timeout"])
            return spec_diff(after, after)

        jar_id = self.resolve_jar_id()
        plan = None
        if jar_id:
            # A program that throws in main() fails here, while the old job still runs.
            plan = plan_jar(self.client, jar_id, self.body(spec, jar_id, None, None))
        if current and self.params["upgrade_mode"] != "stateless":
            self.check_state(current["jid"], plan)
        records = spec_records(self.jars)
        previous = None
        before = {}
        if current:
            previous = records.get(fingerprint_of(current["jid"]))
            before = dict(previous or {"note": "job not started by flinkops.flink: spec unknown"},
                          fingerprint=fingerprint_of(current["jid"]), job_id=current["jid"])
            before.pop("jar_id", None)
        self.module.change("record the spec %s" % spec.fingerprint, record_spec, self.client,
                           spec, jar_id, self.jars)

        if current:
            restore_path = self.take_down(current)
            self.result.update(previous_job_id=current["jid"], action="upgraded")
        else:
            restore_path = self.params["savepoint_path"]
            self.result["action"] = "started"
            if not restore_path and self.params["resume"]:
                last_run, restore_path = resume_point(self.client, self.runs)
                if restore_path:
                    self.result.update(action="resumed", previous_job_id=last_run["jid"])
        self.start_or_roll_back(spec, jar_id, restore_path, previous)
        self.prune_spec_records(spec)
        return spec_diff(before, after)

    def check_state(self, job_id, plan):
        """The state-compatibility pre-check (_precheck): refuse before anything stops."""
        try:
            found, warning = check_upgrade(self.client, job_id, plan, self.params["state_check"],
                                           self.params["allow_non_restored_state"])
        except StateCheckRefused as refused:
            self.result["state_check"] = refused.result
            raise
        if found is not None:
            self.result["state_check"] = found
        if warning:
            self.module.ansible.warn(warning)

    def prune_spec_records(self, spec):
        """Drop this job's spec records that no run Flink still lists needs (rollback
        needs only the running job's), so the JAR list does not fill up."""
        keep = set(fingerprint_of(job["jid"]) for job in self.runs) | set([spec.fingerprint])
        stale = stale_spec_records(self.jars, self.params["name"], keep)
        if stale:
            self.module.change("remove %d old spec record entries of %s" % (
                len(stale), self.params["name"]), delete_jars, self.client, stale)

    def take_down(self, current):
        """Stop the running job the way upgrade_mode says; return the state to restore."""
        params = self.params
        mode = params["upgrade_mode"]
        job_id = current["jid"]
        if mode == "savepoint":
            return self.stop_to_savepoint(job_id, params["drain"])
        if mode == "last-state":
            self.check_checkpoints_retained(job_id)
            checkpoint = self.module.change(
                "cancel job %s and start from its last retained checkpoint" % job_id,
                self.cancel_keeping_checkpoint, job_id)
            return checkpoint or "<last checkpoint of %s>" % job_id
        self.module.change("cancel job %s without saving its state" % job_id, self.cancel, job_id)
        return params["savepoint_path"]

    def stop_to_savepoint(self, job_id, drain):
        """Atomic stop-with-savepoint; returns the savepoint (a placeholder in check mode)."""
        params = self.params
        target = params["savepoint_dir"] or default_savepoint_dir(jobmanager_config(self.client))
        if not target:
            raise FlinkError("no savepoint directory: set savepoint_dir, or configure "
                             "execution.checkpointing.savepoint-dir (state.savepoints.dir "
                             "on 1.x) on the cluster; job %s was left running" % job_id)
        location = self.module.change(
            "stop job %s with a %s savepoint to %s%s" % (
                job_id, params["savepoint_format"], target, " (drain)" if drain else ""),
            self.stop_with_savepoint, job_id, target, drain)
        self.result["savepoint"] = location
        return location or "<savepoint of %s>" % job_id

    def stop_with_savepoint(self, job_id, target, drain):
        trigger = stop_with_savepoint(self.client, job_id, target, drain,
                                      self.params["savepoint_format"])
        try:
            return wait_savepoint(self.client, job_id, trigger, self.params["savepoint_timeout"])
        except FlinkError as exc:
            if exc.status != 200:
                # Not Flink's verdict on the savepoint (that comes with HTTP 200 and a
                # failure cause, and then the job does run on): the stop was accepted and
                # its outcome is unknown. Say so instead of "left as it is".
                exc.msg = ("%s. The stop of job %s with a savepoint was requested (trigger %s) "
                           "and its outcome is unknown: Flink may still stop the job. Run the "
                           "task again: if the job stopped, it resumes from that savepoint" % (
                               exc.msg.replace("; the job was left as it is", ""), job_id,
                               trigger))
            raise

    def cancel(self, job_id):
        """Cancel and wait until the job has ended; returns its final overview entry."""
        cancel_job(self.client, job_id)
        return wait_until_terminal(self.client, job_id, self.params["wait_timeout"])

    def check_checkpoints_retained(self, job_id):
        """Refuse last-state before anything stops unless a checkpoint will survive the cancel."""
        completed = (job_checkpoints(self.client, job_id).get("latest") or {}).get("completed")
        if not completed:
            raise FlinkError("upgrade_mode=last-state needs a completed checkpoint of job %s, "
                             "and it has none; job left running" % job_id)
        if not checkpoints_survive_cancel(self.client, job_id):
            raise FlinkError("upgrade_mode=last-state needs checkpoints retained on "
                             "cancellation (execution.checkpointing.externalized-checkpoint-"
                             "retention: RETAIN_ON_CANCELLATION); job %s left running" % job_id)

    def cancel_keeping_checkpoint(self, job_id):
        ended = self.cancel(job_id)
        retained = retained_checkpoint(self.client, job_id,
                                       settled_checkpoints(self.client, ended))
        if not retained:
            raise FlinkError("job %s was cancelled but Flink reports no retained checkpoint; "
                             "nothing was started. Its checkpoint directory may still hold the "
                             "state: start the job with savepoint_path set to it" % job_id)
        return retained["path"]

    def start_or_roll_back(self, spec, jar_id, restore_path, previous):
        try:
            self.start(spec, jar_id, restore_path)
        except FlinkError as exc:
            if self.module.check_mode or self.result["action"] != "upgraded":
                raise
            self.roll_back(exc, previous, restore_path)

    def start(self, spec, jar_id, restore_path, allow_non_restored=None):
        job_id = spec.new_job_id()
        self.result.update(job_id=job_id, restored_from=restore_path)
        origin = "savepoint %s" % restore_path if restore_path else "empty state"
        self.module.change("start job %s (%s) from %s" % (self.params["name"], spec.fingerprint,
                                                          origin),
                           run_jar, self.client, jar_id,
                           self.body(spec, jar_id, restore_path, job_id, allow_non_restored))
        if self.module.check_mode:
            self.result["job_id"] = None
            return
        started_ms = int(time.time() * 1000)
        if self.params["wait"]:
            try:
                self.await_healthy(job_id, started_ms)
            except FlinkError as exc:
                # What failed, with the labels a FailureEnricher attached (_health).
                found = describe_failure(read_failure(self.client, job_id))
                if found and found not in exc.msg:
                    exc.cause = found
                raise

    def await_healthy(self, job_id, started_ms):
        params = self.params
        self.result["job"] = wait_until_running(self.client, job_id, params["wait_timeout"])
        proof = None
        if params["health_require_checkpoint"]:
            # A triggered checkpoint proves it in seconds, whatever the job's interval.
            proof = prove_checkpoint(self.client, job_id, params["savepoint_timeout"])
            self.result["health"] = {"window": params["health_window"], "checkpoint": proof}
        if params["health_window"]:
            health = check_health(self.client, job_id, params["health_window"], False,
                                  started_ms)
            self.result["job"] = health["job"]
            self.result["health"] = {"window": params["health_window"], "checkpoint": proof}

    def roll_back(self, failure, previous, restore_path):
        """The new version failed after the old one stopped: bring the old one back."""
        failed_id = self.result["job_id"]
        where = ("its state is in %s" % restore_path) if restore_path else \
            "it had no saved state"
        if not self.params["rollback"] or previous is None:
            reason = "rollback is off" if not self.params["rollback"] else \
                "the previous job was not started by flinkops.flink, so its spec is unknown"
            failure.msg = ("the new version failed and the previous job %s is stopped (%s); "
                           "not rolled back: %s. %s" % (
                               self.result["previous_job_id"], where, reason, failure.msg))
            raise failure
        failed = find_job(self.client, failed_id)
        if failed and failed.get("state") in ACTIVE_STATES:
            self.cancel(failed_id)
        old = JobSpec(previous.get("name"), previous["jar"], previous.get("entry_class"),
                      previous.get("args"), previous.get("parallelism"),
                      previous.get("configuration"))
        try:
            self.start_previous(old, previous["jar_id"], restore_path)
        except FlinkError as second:
            second.msg = ("the new version (job %s) failed, and starting the previous version "
                          "again from %s failed too, so nothing runs now; %s. Fix the cause "
                          "and run the task again. The new version's failure: %s. The "
                          "rollback's failure: %s" % (failed_id, restore_path or "empty state",
                                                      where, failure, second.msg))
            raise second
        self.result["rolled_back"] = True
        self.result["failed_job_id"] = failed_id
        failure.msg = ("the new version (job %s) failed and was rolled back: the previous "
                       "version runs again as job %s, restored from %s. The failure: %s" % (
                           failed_id, self.result["job_id"], restore_path or "empty state",
                           failure.msg))
        raise failure

    def start_previous(self, old, jar_id, restore_path):
        job_id = old.new_job_id()
        self.module.actions.append("roll back: start the previous spec %s from %s" % (
            old.fingerprint, restore_path))
        run_jar(self.client, jar_id, self.body(old, jar_id, restore_path, job_id, False))
        self.result.update(job_id=job_id, restored_from=restore_path)
        self.result["job"] = wait_until_running(self.client, job_id, self.params["wait_timeout"])

    # -- state: stopped ---------------------------------------------------------

    def ensure_stopped(self):
        current = self.current
        if current is None:
            return spec_diff({"running": False}, {"running": False})
        job_id = current["jid"]
        self.result["previous_job_id"] = job_id
        mode = self.params["stop_mode"]
        if mode == "cancel":
            self.module.change("cancel job %s" % job_id, self.cancel, job_id)
            self.result["action"] = "cancelled"
        else:
            self.stop_to_savepoint(job_id, self.params["drain"] or mode == "drain")
            self.result["action"] = "stopped"
        return spec_diff({"running": True, "job_id": job_id}, {"running": False})
