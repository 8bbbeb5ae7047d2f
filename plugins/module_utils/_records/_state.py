# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Where the collection's records live: the ``state_store`` option, opened once per run.

- unset: the answering JobManager's JAR upload directory (``_jarstore``), the
  zero-set-up default for a single JobManager;
- ``jobmanager``: the same, with the user's word that the upload directory is
  durable and shared by every JobManager (the engine then does not refuse HA);
- ``s3://bucket/prefix?endpoint=...``, ``zookeeper://host:port[,...]/chroot``,
  ``postgresql://user:password@host:port/database``: a durable store
  (``_s3``, ``_zookeeper``, ``_postgresql``), each with its own atomic primitives.

A durable store holds one scope per job name (``job-<name hash>``), one for
disposal marks (``savepoints``) and one for its format marker (``store``). The
first run of a job name against a durable store imports that name's records from
the JAR store (``migrate``), then marks the scope migrated; a crash in between
is finished by the next run (every copy is an idempotent create).
"""

from __future__ import annotations

import hashlib
import re

# Imported by name, not through importlib: Ansible ships a module only the module_utils its
# code imports by name (a backend loaded dynamically is missing from the module's payload).
from ansible_collections.flinkops.flink.plugins.module_utils._records import _postgresql, _s3, _zookeeper
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    ScopedRecords,
    StoreError,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._jarstore import JarStoreRecords
from ansible_collections.flinkops.flink.plugins.module_utils._redact import redact_url

FORMAT = 1
_FORMAT_ENTRY = re.compile(r"^flinkops-format-(\d+)$")
MIGRATED = "flinkops-migrated"
DECLARED_SHARED = "jobmanager"
BACKENDS = {
    "s3": _s3,
    "zookeeper": _zookeeper,
    "postgresql": _postgresql,
    "postgres": _postgresql,
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def job_scope(name):
    """The scope of job ``name``'s records (a hash: any job name is a valid scope)."""
    return "job-" + hashlib.sha256(("flinkops-name:" + name).encode("utf-8")).hexdigest()[:12]


SAVEPOINTS_SCOPE = "savepoints"
FORMAT_SCOPE = "store"


def open_state_store(url, client, timeout):
    """The StateStore the option ``state_store`` names (None or ``jobmanager``: the JAR store)."""
    if url is None or url.strip() in ("", DECLARED_SHARED):
        return StateStore(None, client, declared_shared=bool(url and url.strip()))
    scheme = _SCHEME.match(url.strip())
    if not scheme:
        raise StoreError("state_store %r is not a URL: use s3://bucket/prefix, "
                         "zookeeper://host:port/chroot, postgresql://user@host:port/database "
                         "or 'jobmanager'" % redact_url(url))
    name = scheme.group(1).lower()
    if name not in BACKENDS:
        raise StoreError("state_store %s: unknown scheme %r (supported: s3, zookeeper, "
                         "postgresql, or 'jobmanager')" % (redact_url(url), name))
    store = StateStore(BACKENDS[name].open_backend(url.strip(), timeout), client)
    try:
        store.check_format()
    except Exception:
        store.close()
        raise
    return store


class StateStore:
    """The records' storage of one run: a durable backend, or the JAR store."""

    def __init__(self, backend, client, declared_shared=False):
        self.backend = backend
        self.client = client
        self.jar_store = JarStoreRecords(client, declared_shared=declared_shared)

    @property
    def durable(self):
        return self.backend is not None

    def describe(self):
        return self.backend.describe() if self.durable else self.jar_store.describe()

    def check_format(self):
        """Refuse a store written by a newer release; mark a new store with our format."""
        scope = ScopedRecords(self.backend, FORMAT_SCOPE)
        found = [int(m.group(1)) for entry in scope.jars()
                 for m in [_FORMAT_ENTRY.match(entry.get("name") or "")] if m]
        newer = [number for number in found if number > FORMAT]
        if newer:
            raise StoreError(
                "state_store %s was written by a newer release of flinkops.flink (record format "
                "%d; this release reads format %d): upgrade the collection; nothing was "
                "changed" % (self.describe(), max(newer), FORMAT))
        if FORMAT not in found:
            scope.write("flinkops-format-%d" % FORMAT)

    def job(self, name):
        """The storage of job ``name``'s records."""
        if not self.durable:
            return self.jar_store
        return ScopedRecords(self.backend, job_scope(name))

    def read_job(self, name, jar_list, legacy_of):
        """Job ``name``'s record entries for a reader (writes nothing): the JAR list
        (``jar_list()``) by default; else the store's scope, with the JAR store's records
        of the name (``legacy_of(jars, name)``) merged in until the scope is migrated."""
        if not self.durable:
            return jar_list()
        entries = self.job(name).jars()
        if is_migrated(entries):
            return entries
        return migrate(None, entries, legacy_of(jar_list(), name), check_mode=True)

    def savepoints(self):
        """The storage of disposal marks."""
        if not self.durable:
            return self.jar_store
        return ScopedRecords(self.backend, SAVEPOINTS_SCOPE)

    def read_savepoints(self, jar_list, legacy_of, check_mode=True):
        """The disposal marks' entries: like ``read_job``; with ``check_mode`` false a
        durable scope not migrated yet imports the JAR store's marks first."""
        if not self.durable:
            return jar_list()
        entries = self.savepoints().jars()
        if is_migrated(entries):
            return entries
        return migrate(self.savepoints(), entries, legacy_of(jar_list()), check_mode=check_mode)

    def close(self):
        if self.durable:
            self.backend.close()


def is_migrated(entries):
    return any(entry.get("name") == MIGRATED for entry in entries)


def migrate(records, entries, legacy, check_mode=False):
    """The scope's entries, with ``legacy`` (the JAR store's records of that name)
    imported first unless the scope was migrated already; returns the entries to use.

    In check mode nothing is written: the JAR store's records are merged into the view.
    """
    if is_migrated(entries):
        return entries
    present = set(entry.get("name") for entry in entries)
    missing = [entry for entry in legacy if entry.get("name") not in present]
    if check_mode:
        return entries + missing
    for entry in missing:
        records.write(entry["name"])
    records.write(MIGRATED)
    return records.jars()
