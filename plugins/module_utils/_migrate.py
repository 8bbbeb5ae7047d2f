# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Which of the JAR store's records belong to a job name: what a durable state store
imports on the name's first use (``_records._state.migrate``).

Spec records carry the name in their payload, confirmations and operation-log
entries its hash, rescale marks the id of a job the name confirmed. Claims
(intents) are left behind: they belong to runs of the release that wrote them,
and a claim copied with a new time stamp would look younger than it is.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    confirmation_name,
    read_confirmations,
)
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_entries
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
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
