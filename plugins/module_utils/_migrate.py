# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The record kinds seen together: which of the JAR store's records belong to a job name
(what a durable state store imports on the name's first use, ``_records._state.migrate``),
and which records are malformed (skipped by their readers, named in a warning).

Spec records carry the name in their payload, confirmations and operation-log
entries its hash, rescale marks the id of a job the name confirmed. Claims
(intents) are left behind: they belong to runs of the release that wrote them,
and a claim copied with a new time stamp would look younger than it is.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    confirmation_name,
    malformed_intents,
    read_confirmations,
)
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    malformed_operations,
    operation_entries,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    malformed_spec_records,
    read_spec_records,
    rescale_marks_of,
    spec_record_fingerprint,
)


def legacy_records(jars, name):
    """The entries among ``jars`` (a /jars listing) that hold job ``name``'s records."""
    specs = dict((fingerprint, record) for fingerprint, record in
                 read_spec_records(jar.get("name") for jar in jars).items()
                 if record.get("name") == name)
    confirmed = read_confirmations(jars, name)
    wanted = set(confirmation_name(name, job_id, fingerprint)
                 for job_id, fingerprint in confirmed.items())
    found = [jar for jar in jars if jar.get("name") in wanted]
    found += [jar for jar in jars if spec_record_fingerprint(jar.get("name")) in specs]
    found += operation_entries(jars, name)
    found += rescale_marks_of(jars, set(confirmed))
    return found


def malformed_records(entries, name):
    """A warning naming the records among ``entries`` that decode but have the wrong shape
    (their readers skip them), or None. Anyone who can write to the store can make one."""
    names = [entry.get("name") for entry in entries]
    bad = malformed_intents(entries) + malformed_operations(entries, name) + \
        ["flinkops-spec-%s-*" % fingerprint for fingerprint in malformed_spec_records(names)]
    if not bad:
        return None
    return ("%d record(s) of job %s are malformed and were ignored (written by something other "
            "than flinkops.flink?): %s. Remove them from the state store to silence this" % (
                len(bad), name, ", ".join(sorted(bad)[:5]) + (" ..." if len(bad) > 5 else "")))
