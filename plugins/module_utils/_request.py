# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The values that cross the engine's boundary: request in, result or failure out,
and the check-mode recorder with its ``Planned`` values.

Plain data: nothing here talks to Flink or to Ansible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError


@dataclass
class DeployRequest:
    """Everything flink_job asks for, built once from the module's options."""

    name: str
    state: str = "running"
    name_match: str = "exact"
    # The program: a local JAR (uploaded once per content) or an uploaded jar id.
    jar_path: Optional[str] = None
    jar_name: Optional[str] = None
    jar_id: Optional[str] = None
    entry_class: Optional[str] = None
    args: List[str] = field(default_factory=list)
    parallelism: Optional[int] = None
    configuration: Dict[str, Any] = field(default_factory=dict)
    # Argument flags or positions whose values are secret (sealed in spec records).
    secret_args: List[Any] = field(default_factory=list)
    # The salt of a recorded spec asked for again (a version by number): its secrets sealed
    # as recorded, so it keeps its fingerprint. None: the running job's salt, else a new one.
    secret_salt: Optional[str] = None
    # How to start: restore choices.
    savepoint_path: Optional[str] = None
    resume: bool = True
    allow_non_restored_state: bool = False
    restore_mode: Optional[str] = None
    # How to replace or stop a running job.
    upgrade_mode: str = "savepoint"
    rescale_mode: str = "upgrade"
    stop_mode: str = "savepoint"
    savepoint_dir: Optional[str] = None
    savepoint_format: str = "canonical"
    drain: bool = False
    savepoint_timeout: float = 1800
    # Waiting and the health gate.
    wait: bool = True
    wait_timeout: float = 300
    health_window: float = 0
    health_require_checkpoint: bool = False
    rollback: bool = True
    # The state pre-check before the stop (_precheck): strict, warn or off.
    state_check: str = "strict"
    # The concurrency guard (issue 13).
    allow_start_empty: bool = False
    concurrent_deployment: str = "fail"
    concurrent_wait_timeout: float = 600
    # False: a job of the name that runs another spec is left as it is (a heal must never
    # replace a version that a deployment started since it looked).
    replace_running: bool = True


class Planned:
    """A value that would exist if check mode were off (a savepoint, a jar id, a job id).

    Check mode returns these instead of placeholder strings, so nothing that is
    only planned can pass for a real path or id.
    """

    def __init__(self, what):
        self.what = what

    def __repr__(self):
        return "Planned(%r)" % self.what

    def __str__(self):
        return self.what

    def __eq__(self, other):
        return isinstance(other, Planned) and other.what == self.what

    def __hash__(self):
        return hash(self.what)


def describe_origin(restore):
    """Where a start takes its state from, said for an action or a message."""
    if is_planned(restore):
        return str(restore)
    return "savepoint %s" % restore if restore else "empty state"


def is_planned(value):
    return isinstance(value, Planned)


def real(value):
    """``value``, or None if it is only planned: what results report."""
    return None if is_planned(value) else value


class Changes:
    """The record of what a run changes, and check mode's gate.

    Every change goes through ``do()``: in check mode it is only recorded, and
    ``do()`` returns a ``Planned`` value, so check mode cannot send a request
    that changes the cluster.
    """

    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.actions = []
        self.changed = False

    def do(self, description, operation=None, *args, planned=None, **kwargs):
        """Record a change and, outside check mode, carry it out and return its value."""
        self.actions.append(description)
        self.changed = True
        if self.check_mode or operation is None:
            return planned if planned is not None else Planned(description)
        return operation(*args, **kwargs)

    def note(self, description):
        """Record something done that is not gated by check mode (a rollback)."""
        self.actions.append(description)


class DeployResult:
    """What a run did; ``to_dict()`` is flink_job's result."""

    ALWAYS = ("job_id", "previous_job_id", "action", "savepoint", "restored_from",
              "rolled_back")
    WHEN_SET = ("job", "health", "failed_job_id", "state_check", "strategy", "overlap_seconds",
                "catch_up", "rescaled", "rescale_fallback", "healthy", "winner_job_id")

    def __init__(self):
        self.job_id = None
        self.previous_job_id = None
        self.action = "none"
        self.savepoint = None
        self.restored_from = None
        self.rolled_back = False
        self.job = None
        self.health = None
        self.failed_job_id = None
        # Another run's job that won where this run started nothing (the job-id fence).
        self.winner_job_id = None
        self.state_check = None
        # Warnings for the user (flink_job passes them to Ansible); not part of to_dict().
        self.warnings = []
        # blue-green and in-place rescale (``_bluegreen``, ``_rescale``)
        self.strategy = None
        self.overlap_seconds = None
        self.catch_up = None
        self.rescaled = None
        self.rescale_fallback = None
        self.healthy = None
        self.diff = None

    def update(self, **values):
        for key, value in values.items():
            if not hasattr(self, key):
                raise AttributeError(key)
            setattr(self, key, value)

    def to_dict(self):
        result = dict((key, real(getattr(self, key))) for key in self.ALWAYS)
        for key in self.WHEN_SET:
            if getattr(self, key) is not None:
                result[key] = real(getattr(self, key))
        return result


def _origin(path):
    return path if path and not is_planned(path) else "empty state"


def _compose_deadline(error, facts):
    """The run's deadline ran out in a wait: what this run changed, what it left as it is
    (nothing is cancelled or rolled back for a deadline) and what a re-run does."""
    savepoint, new_job = facts.get("state_at"), facts.get("job_id")
    if facts.get("trigger_id"):
        return ("%s. The stop of job %s with a savepoint was requested (trigger %s) and is left "
                "to Flink: it may still complete; nothing was cancelled or started. Run the task "
                "again: if the job stopped, it resumes from that savepoint; if it runs, it is "
                "stopped again" % (error.msg, facts["previous_job_id"], facts["trigger_id"]))
    if not savepoint:
        return ("%s. No job was stopped by this run; %s. Run the task again to finish" % (
            error.msg, "job %s was started and is left as it is" % new_job if new_job
            else "nothing was started"))
    if new_job:
        return ("%s. This run stopped job %s with the savepoint %s and started job %s from it, "
                "which is left as it is (neither cancelled nor rolled back). Run the task again "
                "to finish: it waits for job %s and gates it, starting nothing twice; to resume "
                "from the savepoint instead, start from %s" % (
                    error.msg, facts.get("previous_job_id"), savepoint, new_job, new_job,
                    savepoint))
    return ("%s. This run stopped job %s with the savepoint %s and started nothing. Run the "
            "task again: when no job of the name runs, it resumes from that savepoint" % (
                error.msg, facts.get("previous_job_id"), savepoint))


class DeployFailure(FlinkError):
    """A deployment that failed part-way, as data: what failed, at which stage, what
    runs now, where the state is, whether it was rolled back.

    The message is composed once, here, from those facts; the transport details
    (method, URL, status, Flink's errors) are those of ``error``, the failure
    that decided the outcome.
    """

    def __init__(self, stage, error, outcome, **facts):
        self.stage = stage
        self.error = error
        self.outcome = outcome
        self.facts = facts
        super().__init__(self._compose(error, outcome, facts), method=error.method,
                         url=error.url, status=error.status, errors=error.errors,
                         cause=error.cause)

    @staticmethod
    def _compose(error, outcome, facts):
        if outcome == "stop-unknown":
            return ("%s. The stop of job %s with a savepoint was requested (trigger %s) and its "
                    "outcome is unknown: Flink may still stop the job. Run the task again: if "
                    "the job stopped, it resumes from that savepoint" % (
                        error.msg, facts["job_id"], facts["trigger_id"]))
        if outcome == "interrupted-after-stop":
            started = (" Whether its new job %s started is not known: a re-run finds out." %
                       facts["job_id"]) if facts.get("job_id") else ""
            # Only the upload directory remembers that savepoint: a JobManager that restarts
            # empty before the re-run forgets it, and only this message still names it.
            forgettable = "" if facts.get("records_durable", True) else (
                ". No state_store is set, so if the JobManager restarts with an empty upload "
                "directory before that re-run, the re-run cannot know this savepoint: then deploy "
                "with savepoint_path set to %s" % facts["state_at"])
            return ("%s. This run had stopped job %s with the savepoint %s, and nothing was "
                    "rolled back.%s Run the task again: when no job of the name runs, it goes on "
                    "from that savepoint; when one does, it names it%s" % (
                        error.msg, facts.get("previous_job_id"), facts["state_at"], started,
                        forgettable))
        if outcome == "handover-pending":
            return ("blue-green handover not finished: the new version (job %s) passed its gate "
                    "and runs, but stopping the previous version (job %s) with a savepoint "
                    "failed: %s. Both jobs run now and process the stream (a sink that is not "
                    "idempotent receives records twice). The next run of this job (flink_job "
                    "with any spec or state) stops job %s with a savepoint before anything else; "
                    "or stop it by hand" % (facts["job_id"], facts["previous_job_id"],
                                            error.msg, facts["previous_job_id"]))
        if outcome == "deadline":
            return _compose_deadline(error, facts)
        if outcome == "records-not-durable":
            return ("%s. Set state_store to a durable store (s3://bucket/prefix, "
                    "zookeeper://host:port/chroot or postgresql://user@host:port/database), or to "
                    "'jobmanager' if that upload directory is durable and shared by every "
                    "JobManager. Nothing was changed: every job runs on as it was" % error.msg)
        where = ("its state is in %s" % facts["state_at"]) if facts.get("state_at") else \
            "it had no saved state"
        if outcome == "not-rolled-back":
            return ("the new version failed and the previous job %s is stopped (%s); not rolled "
                    "back: %s. %s" % (facts["previous_job_id"], where, facts["reason"],
                                      error.msg))
        if outcome == "rollback-failed":
            return ("the new version (job %s) failed, and starting the previous version again "
                    "from %s failed too, so %s; %s. Fix the cause and run the task again. The "
                    "new version's failure: %s. The rollback's failure: %s" % (
                        facts["failed_job_id"], _origin(facts.get("state_at")),
                        facts.get("runs_now") or "nothing runs now", where, facts["first"],
                        error.msg))
        if outcome == "rolled-back":
            return ("the new version (job %s) failed and was rolled back: the previous version "
                    "runs again as job %s, restored from %s. The failure: %s" % (
                        facts["failed_job_id"], facts["job_id"], _origin(facts.get("state_at")),
                        error.msg))
        raise ValueError("unknown outcome %r" % outcome)

    def to_dict(self):
        data = super().to_dict()
        data.update(stage=self.stage, outcome=self.outcome)
        return data


# A savepoint directory is resolved by the JobManager, not by Ansible: a relative one would land
# relative to the JobManager process's working directory, which nobody can predict.
_ABSOLUTE_LOCATION = re.compile(r"^(/|[A-Za-z][A-Za-z0-9+.-]*:/)")


def is_absolute_location(location):
    return bool(_ABSOLUTE_LOCATION.match(location or ""))


def relative_location_error(option, location):
    return ("%s %r is relative: Flink would resolve it against the JobManager's working "
            "directory; give an absolute path or a URI such as file:///flink/savepoints or "
            "s3://bucket/savepoints" % (option, location))
