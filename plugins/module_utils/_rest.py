# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Every REST path and request body of Flink's JobManager API, one thin function each.

The differences between Flink versions live here and nowhere else. Nothing in
this file decides or waits: reading answers is ``_jobstate``, waiting is
``_poll``, deciding is the engine.
"""

from __future__ import annotations

import os
import uuid

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError

# ---------------------------------------------------------------------------
# Cluster


def cluster_overview(client):
    return client.get("/overview")


def jobmanager_config(client):
    """The JobManager configuration as a dict (Flink answers a list of key/value pairs)."""
    return dict((item["key"], item["value"]) for item in client.get("/jobmanager/config") or [])


# ---------------------------------------------------------------------------
# Jobs

def list_jobs(client):
    """Every job the cluster knows, newest first. Not cached by Flink: safe to poll."""
    jobs = client.get("/jobs/overview").get("jobs", [])
    return sorted(jobs, key=lambda job: job.get("start-time", 0), reverse=True)


def find_job(client, job_id, jobs=None):
    """The /jobs/overview entry of ``job_id``, or None."""
    jobs = list_jobs(client) if jobs is None else jobs
    for job in jobs:
        if job.get("jid") == job_id:
            return job
    return None


def job_details(client, job_id):
    return client.get("/jobs/%s" % job_id)


def job_checkpoints(client, job_id):
    return client.get("/jobs/%s/checkpoints" % job_id)


def job_checkpoint_config(client, job_id):
    return client.get("/jobs/%s/checkpoints/config" % job_id)


def checkpoint_config_or_none(client, job_id):
    """The job's checkpoint configuration; not a dict when Flink has none (1.x answers 404 for
    a job without checkpointing on some versions)."""
    return client.get("/jobs/%s/checkpoints/config" % job_id, expect=(200,), allow_status=(404,))


def checkpoint_details(client, job_id, checkpoint_id):
    """One checkpoint's statistics; not a dict when Flink no longer keeps them (404)."""
    return client.get("/jobs/%s/checkpoints/details/%s" % (job_id, checkpoint_id),
                      expect=(200,), allow_status=(404,))


def checkpoint_status_path(job_id, trigger_id):
    return "/jobs/%s/checkpoints/%s" % (job_id, trigger_id)


def trigger_checkpoint(client, job_id, trigger_id):
    """``POST /jobs/:id/checkpoints`` (1.17+); returns the path to poll. The same trigger id
    answers with the same request, so a repeat is harmless. No ``checkpointType``: the job's
    configured kind. An explicit INCREMENTAL is rejected on 2.x (FLINK-33723), and FULL would
    copy large incremental RocksDB state in full."""
    client.post("/jobs/%s/checkpoints" % job_id, json={"triggerId": trigger_id}, idempotent=True)
    return checkpoint_status_path(job_id, trigger_id)


def operation_status(client, path, missing_ok=False):
    """One read of an asynchronous operation's status (savepoint, checkpoint, disposal);
    with ``missing_ok`` not a dict when Flink knows no such operation (404)."""
    return client.get(path, allow_status=(404,) if missing_ok else ())


def diagnostic(client, path):
    """A read for diagnostics only: {} when it fails or Flink has nothing (404)."""
    try:
        answer = client.get(path, expect=(200,), allow_status=(404,))
    except FlinkError:
        return {}
    return answer if isinstance(answer, dict) else {}


def job_execution_result(client, job_id):
    return diagnostic(client, "/jobs/%s/execution-result" % job_id)


def vertex_metrics(client, job_id, vertex_id, names=None):
    """The metrics of a vertex's subtasks: the list of names, or with ``names`` their sums."""
    params = {"get": ",".join(names), "agg": "sum"} if names else None
    return client.get("/jobs/%s/vertices/%s/subtasks/metrics" % (job_id, vertex_id),
                      params=params) or []


def job_metrics(client, job_id, names):
    """The job-level metrics ``names`` (for example ``numRestarts``) as {id: value text}; {} when
    Flink has none for this job (404)."""
    answer = client.get("/jobs/%s/metrics" % job_id, params={"get": ",".join(names)},
                        expect=(200,), allow_status=(404,))
    return dict((m.get("id"), m.get("value")) for m in answer if isinstance(m, dict)) \
        if isinstance(answer, list) else {}


def resource_requirements(client, job_id):
    """The job's per-vertex parallelism bounds; not a dict when the scheduler is not adaptive
    (Flink answers 500 for the default scheduler, 404 before 1.18)."""
    return client.get("/jobs/%s/resource-requirements" % job_id, allow_status=(404, 500, 503))


def put_resource_requirements(client, job_id, requirements):
    client.request("PUT", "/jobs/%s/resource-requirements" % job_id, json=requirements,
                   idempotent=True)


def job_exceptions(client, job_id):
    """The job's failure record, or {} when Flink cannot give it (it is only diagnostics)."""
    return diagnostic(client, "/jobs/%s/exceptions" % job_id)


def cancel_job(client, job_id):
    client.patch("/jobs/%s" % job_id, params={"mode": "cancel"})


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
    """Delete an upload; one already gone is not an error (2.x answers 404, 1.x 400 with
    ``File <id> does not exist``: two runs removing the same record at once)."""
    answer = client.delete("/jars/%s" % jar_id, allow_status=(400, 404))
    if getattr(answer, "status_code", None) == 400 and "does not exist" not in answer.text:
        raise client.error("deleting the upload %s failed" % jar_id, method="DELETE",
                           url=client.public_url("/jars/%s" % jar_id), status=400,
                           errors=_errors_of(answer))


def _errors_of(response):
    try:
        return (response.json() or {}).get("errors")
    except ValueError:
        return response.text


def delete_jars(client, jar_ids):
    for jar_id in jar_ids:
        delete_jar(client, jar_id)


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
SAVEPOINT_FORMATS = {"canonical": "CANONICAL", "native": "NATIVE"}


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

    ``configuration`` holds Flink's flat string forms already (``_spec``
    normalises it); 1.18 and 1.19 reject unknown fields, and 2.x ignores the old
    ``programArgs`` string: only fields this version understands are sent.
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


def post_run(client, jar_id, body, timeout=None):
    """One POST /jars/:id/run; returns the job id Flink answers. Never repeated here:
    ``_submit.submit_once`` makes the submission exactly-once."""
    return client.post("/jars/%s/run" % jar_id, json=body, timeout=timeout)["jobid"]


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


def stop_with_savepoint(client, job_id, target_directory, drain=False, fmt="canonical",
                        trigger_id=None):
    """Atomic stop-with-savepoint; returns the trigger id to poll.

    With a client-chosen ``trigger_id`` (1.18+) a repeat is the same stop, so a
    lost answer is retried like a read.
    """
    body = stop_body(_version_for(client, fmt), target_directory, drain, fmt)
    if trigger_id:
        body["triggerId"] = trigger_id
    return client.post("/jobs/%s/stop" % job_id, json=body,
                       idempotent=bool(trigger_id))["request-id"]


def trigger_savepoint(client, job_id, target_directory, fmt="canonical", cancel_job=False,
                      trigger_id=None):
    """Trigger a savepoint with a client-chosen trigger id (a repeat is harmless)."""
    trigger_id = trigger_id or uuid.uuid4().hex
    body = savepoint_body(_version_for(client, fmt), target_directory, fmt, cancel_job,
                          trigger_id)
    return client.post("/jobs/%s/savepoints" % job_id, json=body,
                       idempotent=True)["request-id"]


def savepoint_status_path(job_id, trigger_id):
    return "/jobs/%s/savepoints/%s" % (job_id, trigger_id)


def trigger_disposal(client, path):
    """Ask Flink to dispose of a savepoint; returns the status path to poll."""
    trigger = client.post("/savepoint-disposal", json={"savepoint-path": path})["request-id"]
    return "/savepoint-disposal/%s" % trigger
