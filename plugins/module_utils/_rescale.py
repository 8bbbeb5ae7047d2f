# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""In-place rescale through the adaptive scheduler: the job keeps its id, no savepoint.

Chosen (``rescale_mode: in-place``) only when the running job's recorded spec differs from the
desired one in the parallelism alone. The order of steps:

1. ``GET /jobs/:id/resource-requirements``: it answers only when the cluster runs the adaptive
   scheduler (``jobmanager.scheduler: adaptive`` in the cluster configuration; a per-job setting
   is ignored by Flink). Otherwise, or before Flink 1.18, fall back to a savepoint upgrade.
2. A checkpoint is taken just before: the job restarts from its latest checkpoint, so the records
   since then are processed again; a fresh one keeps that window small.
3. ``PUT`` the requirements: the upper bound raised (or lowered) to the target, the lower bound
   lowered only when it is above the target.
4. Wait until every vertex runs at the target (Flink 2.x waits out a cooldown, 30 s by default
   after the job's start or last rescale). On timeout the old requirements are put back and the
   savepoint upgrade takes over, saying so.
5. The job now runs the new spec under its old id: a rescale record in the spec store says so,
   so a re-run with the same parallelism changes nothing.
"""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._health import force_checkpoint
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError, FlinkTimeout
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import is_healthy
from ansible_collections.flinkops.flink.plugins.module_utils._poll import wait_for
from ansible_collections.flinkops.flink.plugins.module_utils._request import Planned, real
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    find_job,
    job_details,
    put_resource_requirements,
    resource_requirements,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import record_rescale

POLL = 0.25


def only_parallelism_differs(previous, spec):
    """True when the recorded spec ``previous`` (a dict) and ``spec`` differ in parallelism only."""
    if not previous:
        return False
    wanted = spec.to_dict()
    return all(previous.get(key) == wanted[key] for key in wanted if key != "parallelism") and \
        previous.get("parallelism") != wanted["parallelism"] and bool(wanted["parallelism"])


def runs_desired(run, job, spec):
    """Whether ``job`` runs ``spec``: the spec it runs after an in-place rescale too, whatever
    ``rescale_mode`` this run asks for (the same spec asked for again is a no-op, not a stop and
    restart). A blue/green handover left half done is never "already running"."""
    if run.handover:
        return False
    return run.fingerprint_of(job["jid"]) == spec.fingerprint


def adaptive_requirements(client, job_id):
    """The job's per-vertex parallelism bounds, or None when the scheduler is not adaptive."""
    response = resource_requirements(client, job_id)
    if not isinstance(response, dict):
        return None
    return response


def target_requirements(requirements, target):
    """Every vertex to ``target``: the upper bound set to it, the lower bound lowered only if needed."""
    wanted = {}
    for vertex, value in requirements.items():
        bounds = dict(value.get("parallelism") or {})
        bounds["upperBound"] = target
        bounds["lowerBound"] = min(bounds.get("lowerBound", 1), target)
        wanted[vertex] = dict(value, parallelism=bounds)
    return wanted


def wait_rescaled(client, job_id, target, vertices, timeout):
    """Until the job runs every one of its ``vertices`` at ``target`` and every task is healthy."""
    def check():
        job = job_details(client, job_id)
        parallelism = [v.get("parallelism") for v in job.get("vertices", [])]
        if len(parallelism) != vertices or any(p != target for p in parallelism):
            return None
        overview = find_job(client, job_id)
        # Every task of the new parallelism, healthy by the collection's one rule (_jobstate).
        if overview and is_healthy(overview) and \
                (overview.get("tasks") or {}).get("total") == target * vertices:
            return overview
        return None
    return wait_for(client, check, timeout, POLL, "job %s to run at parallelism %d" % (job_id, target))


class RescaleStrategy:
    """Change the parallelism of the running job in place; fall back to ``fallback`` (the
    savepoint strategy, given by ``_strategies``, which registers this one)."""

    name = "in-place"
    stops_first = True  # its fallback stops the job with a savepoint

    def __init__(self, fallback):
        self.fallback = fallback

    def upgrade(self, run, current, spec, jar_id, previous):
        job_id = current["jid"]
        client = run.client
        target = spec.parallelism
        if client.version < (1, 18):
            return self.fall_back(run, current, spec, jar_id, previous,
                                  "Flink %s has no resource-requirements endpoint (1.18+)" %
                                  ".".join(str(n) for n in client.version))
        requirements = adaptive_requirements(client, job_id)
        if requirements is None:
            return self.fall_back(run, current, spec, jar_id, previous,
                                  "the cluster does not run the adaptive scheduler "
                                  "(jobmanager.scheduler: adaptive in its configuration)")
        run.result.update(previous_job_id=job_id, job_id=job_id, action="rescaled",
                          strategy="in-place rescale")
        checkpoint = run.changes.do("take a checkpoint of job %s" % job_id, self.checkpoint,
                                    client, job_id, planned=Planned("a checkpoint of job %s" % job_id))
        started_ms = int(time.time() * 1000)
        try:
            job = run.changes.do(
                "rescale job %s in place to parallelism %d" % (job_id, target), self.rescale,
                client, job_id, requirements, target, run.request.wait_timeout)
        except FlinkError as exc:
            return self.fall_back(run, current, spec, jar_id, previous,
                                  "the in-place rescale did not finish: %s" % exc)
        run.changes.do("record that job %s now runs spec %s" % (job_id, spec.fingerprint),
                       record_rescale, run.record_store, job_id, spec, run.records)
        run.result.update(rescaled={"parallelism": target, "checkpoint_before": real(checkpoint)})
        if run.changes.check_mode:
            return None
        run.result.job = job
        if not (run.request.health_window or run.request.health_require_checkpoint):
            return None  # wait_rescaled saw every task run
        try:
            # The same gate as a new version's (health_require_checkpoint, health_window).
            run.await_healthy(job_id, started_ms)
        except FlinkError as exc:
            raise FlinkError(self.after_failed_gate(run, job_id, spec, previous, requirements, exc),
                             method=exc.method, url=exc.url, status=exc.status, errors=exc.errors,
                             cause=exc.cause)
        return None

    def after_failed_gate(self, run, job_id, spec, previous, requirements, failure):
        """The rescaled job failed its health gate: rescale it back (``rollback``), and say
        what runs now."""
        what = "job %s was rescaled in place to parallelism %d and failed its health gate (%s)" % (
            job_id, spec.parallelism, failure.msg)
        back = (previous or {}).get("parallelism")
        if not run.request.rollback or previous is None or not back:
            return "%s; it runs on at parallelism %d (%s)" % (
                what, spec.parallelism, "rollback is off" if not run.request.rollback else
                "its previous parallelism is not recorded")
        run.changes.note("roll back: rescale job %s in place to parallelism %d again" % (job_id, back))
        try:
            put_resource_requirements(run.client, job_id, requirements)
            wait_rescaled(run.client, job_id, back, len(requirements), run.request.wait_timeout)
        except FlinkError as exc:
            return "%s; rescaling it back to parallelism %d failed too: %s" % (what, back, exc.msg)
        from_record = JobSpec.from_record(previous, given=spec)
        record_rescale(run.record_store, job_id, from_record, run.records)
        run.result.update(rolled_back=True)
        return "%s; it was rescaled back and runs at parallelism %d again" % (what, back)

    @staticmethod
    def checkpoint(client, job_id):
        """A fresh checkpoint keeps the records processed twice few; a failure only costs more."""
        try:
            return force_checkpoint(client, job_id)["checkpoint_id"]
        except FlinkError:
            return None

    @staticmethod
    def rescale(client, job_id, requirements, target, timeout):
        put_resource_requirements(client, job_id, target_requirements(requirements, target))
        try:
            return wait_rescaled(client, job_id, target, len(requirements), timeout)
        except FlinkTimeout:
            # Put the old bounds back, so Flink does not rescale later behind the upgrade's back.
            put_resource_requirements(client, job_id, requirements)
            raise

    def fall_back(self, run, current, spec, jar_id, previous, why):
        run.changes.note("in-place rescale not possible (%s): upgrade with a savepoint" % why)
        run.result.update(rescale_fallback=why)
        return self.fallback.upgrade(run, current, spec, jar_id, previous)
