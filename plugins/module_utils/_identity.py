# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Job identity: which spec a Flink job runs, answered once for the engine, flink_job_info and
the converge planner alike.

In order: the newest in-place rescale mark of the job (it keeps its id but runs a newer spec);
else what the guard's records say of the id (its confirmation, or the one spec its claims and
planned submissions name); else the fingerprint a job id of this collection starts with.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    read_confirmations,
    read_intents,
    read_planned,
    spec_of,
)
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    fingerprint_of,
    rescaled_fingerprint,
    spec_records,
)


def running_fingerprint(entries, job_id, name=None):
    """The fingerprint of the spec job ``job_id`` runs, by the records ``entries`` of job
    ``name``; None when nothing tells (a job this collection did not start)."""
    return rescaled_fingerprint(entries, job_id) or spec_of(
        job_id, read_confirmations(entries), read_intents(entries), spec_records(entries).keys(),
        read_planned(entries, name)) or fingerprint_of(job_id)


def running_spec(entries, job_id, name=None):
    """The spec record (a dict) of the spec job ``job_id`` runs, or None when unknown."""
    return spec_records(entries).get(running_fingerprint(entries, job_id, name))


def deployed_by_collection(entries, name, job_id):
    """Whether the records of job ``name`` (``entries``) say the collection deployed job
    ``job_id``: a confirmation or planned submission of it, an operation-log entry naming it,
    or (job ids of older releases) a spec record of the name whose fingerprint starts its id."""
    if job_id in read_confirmations(entries, name) or job_id in read_planned(entries, name):
        return True
    if any(entry.get("job_id") == job_id for entry in read_operations(entries, name)):
        return True
    record = spec_records(entries).get(fingerprint_of(job_id))
    return bool(record and record.get("name") == name)
