# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The default record storage: names of empty entries in the answering JobManager's
JAR upload directory (``web.upload.dir``).

Zero set-up, and right for one JobManager whose upload directory outlives it. It
is not durable: a JobManager that restarts with a fresh directory forgets every
record, and under high availability each JobManager keeps its own directory
(``GET /jars`` differs by who answers). The engine therefore refuses to change
anything on a cluster whose configuration shows high availability unless a
durable ``state_store`` is configured or the user declares the directory
durable and shared (``state_store: jobmanager``).
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    delete_jars,
    list_jars,
    upload_jar,
)

# The smallest valid ZIP (an empty end-of-central-directory record): Flink accepts
# it as a JAR, and its name carries the record.
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18


class JarStoreRecords:
    """The JAR store as the record code's storage (``jars``, ``write``, ``delete``)."""

    durable = False

    def __init__(self, client, declared_shared=False):
        self.client = client
        # The user said the upload directory is durable and shared by every JobManager.
        self.declared_shared = declared_shared

    def describe(self):
        return "the JobManager's JAR upload directory"

    def twin(self):
        """The same store through a connection of its own (``FlinkClient.twin``)."""
        twin = getattr(self.client, "twin", None)
        return JarStoreRecords(twin(), self.declared_shared) if twin is not None else self

    def jars(self):
        return list_jars(self.client)

    def write(self, name, ephemeral=False):
        return upload_jar(self.client, EMPTY_ZIP, name)

    def delete(self, ids):
        if ids:
            delete_jars(self.client, list(ids))
