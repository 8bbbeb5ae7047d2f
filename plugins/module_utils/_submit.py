# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Submitting a job exactly once, whatever happens to the answer.

The job id comes from ``_store.new_job_id`` (or the engine's ``job_id`` hook);
this file only makes sure one id is never submitted into two jobs and never
reported as started when it is not.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError, jar_closed
from ansible_collections.flinkops.flink.plugins.module_utils._rest import find_job, post_run

DUPLICATE_SUBMISSION = ("DuplicateJobSubmission", "DuplicateApplicationSubmission")


def submit_once(client, jar_id, body, timeout=None, before_post=None):
    """Submit a job exactly once.

    The body carries a job id chosen by us. If the answer is lost (timeout,
    reset connection), the job may or may not exist: ask Flink, and only when it
    does not, send the same request again; Flink rejects a job id it has
    already seen, so even that repeat cannot start a second job. A run that
    failed because another request closed the JAR it read (``jar_closed``)
    is sent again the same way. ``before_post()`` runs before each request is sent (the
    head fence, ``_head``: a retry after a long pause must pass it again, since a
    high-availability Flink that changed leaders meanwhile forgets ended ids).
    """
    job_id = body["jobId"]
    before_post = before_post or (lambda: None)
    before_post()
    try:
        return post_run(client, jar_id, body, timeout)
    except FlinkError as exc:
        if exc.status is not None and not jar_closed(exc.status, exc.errors):
            raise
        lost = exc
    if find_job(client, job_id) is not None:
        return job_id
    before_post()
    try:
        return post_run(client, jar_id, body, timeout)
    except FlinkError as exc:
        if any(name in str(exc.errors) for name in DUPLICATE_SUBMISSION):
            return job_id
        first = "was lost" if lost.status is None else "failed"
        raise FlinkError("%s (after a first attempt %s: %s)" % (exc.msg, first, lost.cause),
                         method=exc.method, url=exc.url, status=exc.status, errors=exc.errors,
                         cause=exc.cause)
