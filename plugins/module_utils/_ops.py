# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The Flink domain: jobs, JARs, savepoints, and waiting for them.

Every REST path and request body lives here, including the differences
between Flink versions. Modules call these functions and never build HTTP.
"""

from __future__ import annotations

import os
import time
import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    FlinkTimeout,
    root_cause,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import (
    EMPTY_ZIP,
    fingerprint_of,
    jar_sha_prefix,
    read_spec_records,
    sha256_file,
    spec_record_names,
)

ACTIVE_STATES = frozenset(("INITIALIZING", "CREATED", "RUNNING", "FAILING", "CANCELLING",
                           "RESTARTING", "RECONCILING", "SUSPENDED"))
TERMINAL_STATES = frozenset(("FINISHED", "CANCELED", "FAILED"))
UNHEALTHY_STATES = frozenset(("FAILING", "RESTARTING", "FAILED", "CANCELED", "CANCELLING",
                              "FINISHED", "SUSPENDED"))
SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")
POLL_INTERVAL = 0.05
# The savepoint that stops a job is polled tighter: every poll interval there is downtime.
SAVEPOINT_POLL_INTERVAL = 0.02


# ---------------------------------------------------------------------------
# Cluster

def cluster_overview(client):
    return client.get("/overview")


def jobmanager_config(client):
    """The JobManager configuration as a dict (Flink answers a list of key/value pairs)."""
    return dict((item["key"], item["value"]) for item in client.get("/jobmanager/config") or [])


def cluster_info(client):
    """Version, capacity and the deployment-relevant configuration of a cluster."""
    dashboard = client.dashboard_config
    overview = cluster_overview(client)
    config = jobmanager_config(client)

    def first(*keys):
        for key in keys:
            if config.get(key) not in (None, ""):
                return config[key]
        return None

    return {
        "flink_version": dashboard.get("flink-version"),
        "flink_revision": dashboard.get("flink-revision"),
        "overview": {
            "taskmanagers": overview.get("taskmanagers"),
            "slots_total": overview.get("slots-total"),
            "slots_available": overview.get("slots-available"),
            "jobs_running": overview.get("jobs-running"),
            "jobs_finished": overview.get("jobs-finished"),
            "jobs_cancelled": overview.get("jobs-cancelled"),
            "jobs_failed": overview.get("jobs-failed"),
        },
        "configuration": {
            "savepoint_dir": default_savepoint_dir(config),
            "checkpoint_dir": first("execution.checkpointing.dir", "state.checkpoints.dir"),
            "checkpoint_interval": first("execution.checkpointing.interval"),
            "externalized_checkpoint_retention": first(
                "execution.checkpointing.externalized-checkpoint-retention"),
            "restart_strategy": first("restart-strategy.type", "restart-strategy"),
            "default_parallelism": first("parallelism.default"),
            "refresh_interval_ms": dashboard.get("refresh-interval"),
        },
    }


def default_savepoint_dir(config):
    for key in SAVEPOINT_DIR_KEYS:
        if config.get(key):
            return config[key]
    return None


# ---------------------------------------------------------------------------
# Jobs

def list_jobs(client):
    """Every job the cluster knows, newest first. Not cached by Flink: safe to poll."""
    jobs = client.get("/jobs/overview").get("jobs", [])
    return sorted(jobs, key=lambda job: job.get("start-time", 0), reverse=True)


def name_matches(job, name, match):
    if match == "prefix":
        return job.get("name", "").startswith(name)
    return job.get("name") == name


def find_jobs(client, name, match="exact", states=None, jobs=None):
    jobs = list_jobs(client) if jobs is None else jobs
    return [job for job in jobs
            if name_matches(job, name, match) and (states is None or job.get("state") in states)]


def find_job(client, job_id, jobs=None):
    jobs = list_jobs(client) if jobs is None else jobs
    for job in jobs:
        if job.get("jid") == job_id:
            return job
    return None


def job_details(client, job_id):
    return client.get("/jobs/%s" % job_id)


def job_checkpoints(client, job_id):
    return client.get("/jobs/%s/checkpoints" % job_id)


def job_exceptions(client, job_id):
    """The job's failure record, or {} when Flink cannot give it (it is only diagnostics)."""
    try:
        return client.get("/jobs/%s/exceptions" % job_id) or {}
    except FlinkError:
        return {}


def job_root_exception(client, job_id):
    """The first lines of the job's most recent failure, on 1.x and 2.x alike."""
    data = job_exceptions(client, job_id)
    history = (data.get("exceptionHistory") or {}).get("entries") or []
    if history:
        text = history[0].get("stacktrace") or history[0].get("exceptionName")
    else:
        text = data.get("root-exception")
    if not text:
        return None
    return root_cause([text]) if "Caused by:" in text else text.strip().splitlines()[0]


def cancel_job(client, job_id):
    client.patch("/jobs/%s" % job_id, params={"mode": "cancel"})


def wait_until_terminal(client, job_id, timeout):
    def check():
        job = find_job(client, job_id)
        if job is None or job.get("state") in TERMINAL_STATES:
            return job or {"jid": job_id}
        return None
    return client.wait_for(check, timeout, POLL_INTERVAL * 4, "job %s to end" % job_id)


def all_tasks_running(job):
    tasks = job.get("tasks", {})
    return job.get("state") == "RUNNING" and tasks.get("total", 0) > 0 and \
        tasks.get("running") == tasks.get("total")


def wait_until_running(client, job_id, timeout, interval=POLL_INTERVAL):
    """Wait until every task of the job is RUNNING (job state alone is not enough).

    A job that fails, restarts or ends while we wait raises FlinkError with
    Flink's root cause.
    """
    def check():
        job = find_job(client, job_id)
        if job is None:
            return None
        state = job.get("state")
        if state in UNHEALTHY_STATES:
            raise FlinkError("job %s (%s) went %s instead of running" % (
                job_id, job.get("name"), state), cause=job_root_exception(client, job_id))
        return job if all_tasks_running(job) else None
    try:
        return client.wait_for(check, timeout, interval, "every task of job %s to run" % job_id)
    except FlinkTimeout as exc:
        job = find_job(client, job_id) or {}
        exc.cause = "state %s, tasks %s; last failure: %s" % (
            job.get("state"), job.get("tasks"), job_root_exception(client, job_id))
        raise


def check_health(client, job_id, window, require_checkpoint, started_at_ms,
                 interval=0.2):
    """Watch a running job for ``window`` seconds: no restart, every task RUNNING,
    and (optionally) a checkpoint completed after it started.

    Returns a dict describing what was seen; raises FlinkError on the first
    sign of trouble.
    """
    deadline = time.monotonic() + window
    checkpoint = None
    while True:
        job = find_job(client, job_id) or {}
        if not all_tasks_running(job):
            raise FlinkError("job %s is not healthy: state %s, tasks %s" % (
                job_id, job.get("state"), job.get("tasks")),
                cause=job_root_exception(client, job_id))
        if require_checkpoint and checkpoint is None:
            checkpoint = completed_checkpoint_after(client, job_id, started_at_ms)
        if time.monotonic() >= deadline:
            break
        client.sleep(interval)
    if require_checkpoint and checkpoint is None:
        raise FlinkError("job %s completed no checkpoint within the health window of %ss" % (
            job_id, window))
    restarts = job_restarts(client, job_id)
    if restarts:
        raise FlinkError("job %s restarted during the health window" % job_id,
                         cause=job_root_exception(client, job_id))
    return {"job": job, "checkpoint": checkpoint}


def completed_checkpoint_after(client, job_id, started_at_ms):
    latest = (job_checkpoints(client, job_id).get("latest") or {}).get("completed")
    if latest and latest.get("latest_ack_timestamp", 0) >= started_at_ms:
        return latest
    return None


def job_restarts(client, job_id):
    """How many failures the job recorded (its exception history)."""
    data = job_exceptions(client, job_id)
    history = (data.get("exceptionHistory") or {}).get("entries")
    if history is not None:
        return len(history)
    return len(data.get("all-exceptions") or []) + (1 if data.get("root-exception") else 0)


# ---------------------------------------------------------------------------
# JARs

def list_jars(client):
    return client.get("/jars").get("files", [])


class _MultipartFile:
    """A multipart/form-data body read from disk piece by piece.

    requests would load a ``files=`` upload into memory whole; a fat JAR of
    several hundred MB must not be.
    """

    def __init__(self, source, filename, field="jarfile"):
        """``source`` is a file path, or the bytes to send."""
        boundary = uuid.uuid4().hex
        self.content_type = "multipart/form-data; boundary=%s" % boundary
        self._parts = [
            ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
             "Content-Type: application/java-archive\r\n\r\n" % (boundary, field, filename)
             ).encode("utf-8"),
            source,
            ("\r\n--%s--\r\n" % boundary).encode("utf-8"),
        ]
        size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
        self._size = len(self._parts[0]) + size + len(self._parts[2])
        self._index = 0
        self._handle = None
        self._offset = 0

    def __len__(self):
        return self._size

    def read(self, size=-1):
        if size is None or size < 0:
            size = 1024 * 1024
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                chunk = part[self._offset:self._offset + size]
                self._offset += len(chunk)
            else:
                if self._handle is None:
                    self._handle = open(part, "rb")
                chunk = self._handle.read(size)
                if not chunk:
                    self._handle.close()
            if chunk:
                return chunk
            self._index += 1
            self._offset = 0
        return b""


def upload_jar(client, source, filename, timeout=None):
    """Upload a JAR (a path, streamed; or bytes); returns its jar id."""
    body = _MultipartFile(source, filename)
    answer = client.post("/jars/upload", data=body,
                         headers={"Content-Type": body.content_type},
                         timeout=timeout or max(client.timeout, 600))
    return os.path.basename(answer["filename"])


def delete_jar(client, jar_id):
    client.delete("/jars/%s" % jar_id, allow_status=(404,))


def delete_jars(client, jar_ids):
    for jar_id in jar_ids:
        delete_jar(client, jar_id)


def jars_with_sha(jars, sha256):
    """Uploads of exactly this content (by the name it was uploaded under), newest first."""
    prefix = sha256[:16]
    found = [jar for jar in jars if jar_sha_prefix(jar.get("name")) == prefix]
    return sorted(found, key=lambda jar: jar.get("uploaded", 0), reverse=True)


def jars_named(jars, stem):
    """Uploads made under this name (any content), newest first."""
    found = [jar for jar in jars
             if jar_sha_prefix(jar.get("name")) and jar["name"].rsplit("-sha256-", 1)[0] == stem]
    return sorted(found, key=lambda jar: jar.get("uploaded", 0), reverse=True)


def record_spec(client, spec, jar_id, jars):
    """Store the spec's record in the JAR store unless it is there already."""
    names = spec_record_names(spec, jar_id)
    present = set(jar.get("name") for jar in jars)
    for name in names:
        if name not in present:
            upload_jar(client, EMPTY_ZIP, name)


def spec_records(jars):
    return read_spec_records(jar.get("name") for jar in jars)


# ---------------------------------------------------------------------------
# Request shapes per Flink version (each verified on a real cluster of 1.18.1,
# 1.19.3, 1.20.5, 2.0.2, 2.1.3, 2.2.1 and 2.3.0; see docs/compatibility.md).
#
# - 1.18 and 1.19 answer HTTP 400 to any unknown field in the run, plan, stop
#   and savepoint bodies; 1.20+ ignore unknown fields silently. Either way,
#   only fields the version understands AND honours are sent.
# - programArgsList everywhere; the old programArgs string is ignored by 2.x.
# - The restore mode is ``claimMode`` from 1.20 and ``restoreMode`` before
#   (1.20+ still honour restoreMode, 1.18/1.19 reject claimMode).
# - flinkConfiguration is honoured by run and plan on every version.
# Options that appeared in a version older than the oldest one tested are
# still checked, so an unsupported cluster fails with a clear message instead
# of a 400 (or, worse, a silently ignored field).

CLAIM_MODE_SINCE = (1, 20)
MINIMUM_VERSIONS = {
    # option (as the user spells it) -> first Flink version that honours it
    "restore_mode": (1, 15),
    "savepoint_format=native": (1, 15),
}
PLAN_FIELDS = ("entryClass", "programArgsList", "parallelism", "flinkConfiguration")


def version_text(version):
    return ".".join(str(part) for part in version)


def require_version(version, option):
    """Raise FlinkError if this Flink ``version`` cannot honour ``option``.

    An unknown version (``(0,)``: /config without flink-version) is not held
    against the user.
    """
    minimum = MINIMUM_VERSIONS[option]
    if version and tuple(version) > (0,) and tuple(version) < minimum:
        raise FlinkError("%s needs Flink %s or newer; this cluster runs Flink %s" % (
            option, version_text(minimum), version_text(version)))


def run_body(version, entry_class=None, args=None, parallelism=None, configuration=None,
             savepoint_path=None, allow_non_restored_state=False, job_id=None,
             claim_mode=None):
    """The body of /jars/:id/run (and, through plan_body, /jars/:id/plan) for this
    cluster's version.

    1.18 and 1.19 reject unknown fields, and 2.x ignores the old ``programArgs``
    string: only fields this version understands are sent.
    """
    if claim_mode:
        require_version(version, "restore_mode")
    body = {"programArgsList": list(args or [])}
    if entry_class:
        body["entryClass"] = entry_class
    if parallelism:
        body["parallelism"] = parallelism
    if configuration:
        body["flinkConfiguration"] = dict((str(k), str(v)) for k, v in configuration.items())
    if job_id:
        body["jobId"] = job_id
    if savepoint_path:
        body["savepointPath"] = savepoint_path
        body["allowNonRestoredState"] = bool(allow_non_restored_state)
        if claim_mode:
            # claimMode exists from 1.20; restoreMode is its older name (1.18/1.19
            # reject claimMode with HTTP 400).
            body["claimMode" if tuple(version or (0,)) >= CLAIM_MODE_SINCE else "restoreMode"] = \
                claim_mode.upper()
    return body


def plan_body(body):
    """The /jars/:id/plan body from a run body: the fields that shape the job graph.

    The plan endpoint takes no savepoint fields (1.18/1.19 answer 400 to them);
    flinkConfiguration is honoured by plan on every version (e.g.
    parallelism.default), so the plan sees the configuration the run will use.
    """
    return dict((k, v) for k, v in body.items() if k in PLAN_FIELDS)


def plan_jar(client, jar_id, body):
    """Build the job graph without running it: a failing main() shows up here."""
    return client.post("/jars/%s/plan" % jar_id, json=plan_body(body), idempotent=True)


def run_jar(client, jar_id, body, timeout=None):
    """Submit a job exactly once.

    The body carries a job id chosen by us. If the answer is lost (timeout,
    reset connection), the job may or may not exist: ask Flink, and only when it
    does not, send the same request again; Flink rejects a job id it has
    already seen, so even that repeat cannot start a second job.
    """
    job_id = body["jobId"]
    path = "/jars/%s/run" % jar_id
    try:
        return client.post(path, json=body, timeout=timeout)["jobid"]
    except FlinkError as exc:
        if exc.status is not None:
            raise
        lost = exc
    if find_job(client, job_id) is not None:
        return job_id
    try:
        return client.post(path, json=body, timeout=timeout)["jobid"]
    except FlinkError as exc:
        if "DuplicateJobSubmission" in str(exc.errors) or \
                "DuplicateApplicationSubmission" in str(exc.errors):
            return job_id
        exc.msg = "%s (after a first attempt was lost: %s)" % (exc.msg, lost.cause)
        raise


# ---------------------------------------------------------------------------
# Savepoints

SAVEPOINT_FORMATS = {"canonical": "CANONICAL", "native": "NATIVE"}


def savepoint_format(version, fmt):
    """Flink's formatType for ``fmt``; NATIVE needs a version that has it."""
    if fmt != "canonical":
        require_version(version, "savepoint_format=%s" % fmt)
    return SAVEPOINT_FORMATS[fmt]


def stop_body(version, target_directory, drain=False, fmt="canonical"):
    """The body of /jobs/:id/stop: drain, formatType, targetDirectory (every version)."""
    body = {"drain": bool(drain), "formatType": savepoint_format(version, fmt)}
    if target_directory:
        body["targetDirectory"] = target_directory
    return body


def savepoint_body(version, target_directory, fmt="canonical", cancel_job=False,
                   trigger_id=None):
    """The body of /jobs/:id/savepoints. Every version honours a client-chosen
    triggerId (it becomes the request id), formatType and cancel-job."""
    body = {"cancel-job": bool(cancel_job), "formatType": savepoint_format(version, fmt),
            "triggerId": trigger_id}
    if target_directory:
        body["target-directory"] = target_directory
    return body


def _version_for(client, fmt):
    # The version is needed only for a format other than the default: no extra
    # /config request in the common case.
    return client.version if fmt != "canonical" else None


def stop_with_savepoint(client, job_id, target_directory, drain=False, fmt="canonical"):
    """Atomic stop-with-savepoint; returns the trigger id to poll."""
    body = stop_body(_version_for(client, fmt), target_directory, drain, fmt)
    return client.post("/jobs/%s/stop" % job_id, json=body)["request-id"]


def trigger_savepoint(client, job_id, target_directory, fmt="canonical", cancel_job=False,
                      trigger_id=None):
    """Trigger a savepoint with a client-chosen trigger id (a repeat is harmless)."""
    trigger_id = trigger_id or uuid.uuid4().hex
    body = savepoint_body(_version_for(client, fmt), target_directory, fmt, cancel_job,
                          trigger_id)
    return client.post("/jobs/%s/savepoints" % job_id, json=body,
                       idempotent=True)["request-id"]


def wait_savepoint(client, job_id, trigger_id, timeout, interval=SAVEPOINT_POLL_INTERVAL):
    """Wait for a savepoint; return its location.

    COMPLETED is not success: Flink reports a failed savepoint as COMPLETED
    with a ``failure-cause``. That raises, so no caller can go on to cancel or
    replace a job whose state was not saved.
    """
    path = "/jobs/%s/savepoints/%s" % (job_id, trigger_id)

    def check():
        answer = client.get(path)
        if (answer.get("status") or {}).get("id") != "COMPLETED":
            return None
        return answer.get("operation") or {}

    try:
        operation = client.wait_for(check, timeout, interval,
                                    "the savepoint of job %s" % job_id)
    except FlinkTimeout as exc:
        exc.msg = ("the savepoint of job %s did not complete within %ss (trigger %s); "
                   "the job was left as it is" % (job_id, timeout, trigger_id))
        raise
    if operation.get("failure-cause"):
        cause = operation["failure-cause"]
        raise FlinkError("the savepoint of job %s failed; the job was left as it is" % job_id,
                         method="GET", url=client.public_url(path), status=200,
                         errors=[cause.get("stack-trace") or cause.get("class") or str(cause)])
    return operation["location"]


def dispose_savepoint(client, path, timeout):
    """Dispose of a savepoint; returns True if removed, False if it was already gone."""
    trigger = client.post("/savepoint-disposal", json={"savepoint-path": path})["request-id"]
    status_path = "/savepoint-disposal/%s" % trigger

    def check():
        answer = client.get(status_path)
        if (answer.get("status") or {}).get("id") != "COMPLETED":
            return None
        return answer.get("operation") or {}

    operation = client.wait_for(check, timeout, POLL_INTERVAL * 4,
                                "the disposal of savepoint %s" % path)
    failure = operation.get("failure-cause")
    if not failure:
        return True
    text = failure.get("stack-trace") or ""
    if "FileNotFoundException" in text or "Cannot find" in text or "does not exist" in text:
        return False
    raise FlinkError("the disposal of savepoint %s failed" % path, method="GET",
                     url=client.public_url(status_path), status=200, errors=[text])


def savepoint_info(checkpoints):
    """The latest completed savepoint of a job from its /checkpoints answer, or None."""
    latest = (checkpoints or {}).get("latest") or {}
    savepoint = latest.get("savepoint")
    if savepoint and savepoint.get("external_path"):
        return {
            "path": savepoint["external_path"],
            "timestamp": savepoint.get("latest_ack_timestamp") or savepoint.get(
                "trigger_timestamp"),
            "type": savepoint.get("checkpoint_type"),
            "id": savepoint.get("id"),
        }
    return None


def restored_from(checkpoints):
    restored = ((checkpoints or {}).get("latest") or {}).get("restored")
    if restored and restored.get("external_path"):
        return {"path": restored["external_path"],
                "is_savepoint": restored.get("is_savepoint"),
                "restore_timestamp": restored.get("restore_timestamp")}
    return None


def settled_checkpoints(client, job):
    """/checkpoints of an ended job, read only once Flink's cache holds its final state.

    Flink serves /jobs/:id/checkpoints from a cache refreshed every
    ``refresh-interval`` ms: read earlier, a checkpoint that was already
    subsumed (and deleted) can still be listed as the latest.
    """
    refresh_ms = client.dashboard_config.get("refresh-interval") or 3000
    ended_ms = job.get("end-time") or 0
    wait_s = (ended_ms + refresh_ms + 500) / 1000.0 - time.time()
    if wait_s > 0:
        client.sleep(min(wait_s, refresh_ms / 1000.0 + 1))
    return job_checkpoints(client, job["jid"])


def checkpoints_survive_cancel(client, job_id):
    """Whether the job's checkpoints are kept when it is cancelled (RETAIN_ON_CANCELLATION)."""
    externalization = client.get("/jobs/%s/checkpoints/config" % job_id).get(
        "externalization") or {}
    return bool(externalization.get("enabled")) and not externalization.get(
        "delete_on_cancellation")


def retained_checkpoint(client, job_id, checkpoints):
    """The latest completed checkpoint of an ended job, if Flink kept it, else None."""
    completed = ((checkpoints or {}).get("latest") or {}).get("completed") or {}
    path = completed.get("external_path")
    if not path or path.startswith("<"):
        return None
    if not checkpoints_survive_cancel(client, job_id):
        return None
    return {"path": path, "timestamp": completed.get("latest_ack_timestamp") or 0}


def resume_point(client, jobs):
    """The state to resume a job from after it stopped: the newest run's last state.

    Only the newest run that really ran counts (a submission that failed
    leaves a FAILED job with no tasks): an older savepoint would silently
    roll the state back. Its last state is the newer of its last savepoint and
    its retained checkpoint; failing both, what it was restored from.
    Returns (job, path or None).
    """
    for job in jobs:
        if job.get("state") not in TERMINAL_STATES or not job.get("tasks", {}).get("total"):
            continue
        checkpoints = settled_checkpoints(client, job)
        candidates = [c for c in (savepoint_info(checkpoints),
                                  retained_checkpoint(client, job["jid"], checkpoints)) if c]
        if candidates:
            return job, max(candidates, key=lambda c: c.get("timestamp") or 0)["path"]
        restored = restored_from(checkpoints)
        return job, (restored["path"] if restored else None)
    return None, None


def local_jar(path):
    """Check that ``path`` is a readable JAR before anything is sent; return its sha256."""
    if not os.path.isfile(path):
        raise FlinkError("JAR file %s does not exist (or is not a file)" % path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except (IOError, OSError) as exc:
        raise FlinkError("cannot read JAR file %s: %s" % (path, exc))
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise FlinkError("%s is not a JAR file (a JAR is a ZIP archive; this file does not "
                         "start with a ZIP header)" % path)
    return sha256_file(path)


def ensure_jar(client, path, sha256, stem, jars, change):
    """The jar id of this content on the cluster, uploading it once if needed.

    ``change`` is the module's change recorder, so check mode uploads nothing.
    Returns (jar_id or None in check mode, uploaded: bool).
    """
    existing = jars_with_sha(jars, sha256)
    if existing:
        return existing[0]["id"], False
    name = "%s-sha256-%s.jar" % (stem, sha256[:16])
    jar_id = change("upload %s as %s" % (path, name), upload_jar, client, path, name)
    return jar_id, True


def describe_job(client, job, records=None):
    """Everything flink_job_info reports about one job (a /jobs/overview entry)."""
    job_id = job["jid"]
    details = job_details(client, job_id)
    checkpoints = job_checkpoints(client, job_id)
    latest = (checkpoints or {}).get("latest") or {}
    completed = latest.get("completed") or {}
    vertices = details.get("vertices") or []
    described = {
        "job_id": job_id,
        "name": job.get("name"),
        "state": job.get("state"),
        "start_time": job.get("start-time"),
        "end_time": job.get("end-time") if (job.get("end-time") or -1) > 0 else None,
        "duration_ms": job.get("duration"),
        "tasks": job.get("tasks"),
        "parallelism": max([v.get("parallelism", 0) for v in vertices] or [0]) or None,
        "latest_checkpoint": {
            "path": completed.get("external_path"),
            "timestamp": completed.get("latest_ack_timestamp"),
            "id": completed.get("id"),
        } if completed else None,
        "latest_savepoint": savepoint_info(checkpoints),
        "restored_from": restored_from(checkpoints),
        "failure": None,
        "managed": fingerprint_of(job_id) in (records or {}),
        "spec": None,
    }
    if records and fingerprint_of(job_id) in records:
        described["spec"] = dict((k, v) for k, v in records[fingerprint_of(job_id)].items())
    if job.get("state") in ("FAILED", "FAILING", "RESTARTING"):
        described["failure"] = job_root_exception(client, job_id)
    return described
