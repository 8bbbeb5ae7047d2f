# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""What a durable state store must offer: named, empty entries in scopes.

Every record the collection keeps (spec records, claims, confirmations, the
operation log, rescale and disposal marks) is the *name* of an empty entry
(see ``_store``, ``_guard``, ``_oplog``). A backend stores such entries on a
system users already run, using that system's own atomic primitives:

- ``create(scope, name, ephemeral=False)``: atomic create-if-absent; the store
  stamps the entry with its own clock (``uploaded``, milliseconds). Creating a
  name that exists is not an error and returns the existing entry's id.
  ``ephemeral`` entries (the guard's claims) live only as long as the store sees
  their writer alive where the store can tell (a ZooKeeper session); elsewhere
  they expire by the ttl in their payload, judged on the store's clock.
- ``entries(scope)``: every entry of the scope as ``{"id", "name", "uploaded"}``,
  the same shape as Flink's ``GET /jars`` answer, so the record readers work on
  either.
- ``delete(scope, ids)``: remove entries; an id already gone is not an error.
- ``read_head(scope)`` / ``swap_head(scope, expected, value)``: one compare-and-set
  value per scope, apart from its entries (the job name's *head*, ``_head``).
  ``read_head`` returns ``(value, token)``: the text stored (None when absent) and an
  opaque token of that version (None when absent). ``swap_head`` stores ``value`` only
  if the head is still at ``expected`` (None: only if absent), atomically, and returns
  whether it did; a lost race is False, never an error. Each backend uses its
  system's own conditional write (S3 ``If-Match``/``If-None-Match``, a znode's
  version, a row's version column); the JAR store has none and does not offer it.
- ``describe()``: the store's URL with credentials removed, for messages.
- ``close()``: release connections (and with them ephemeral entries).

A scope is a short ``[0-9a-z-]`` string: ``job-<name hash>`` for a job name,
``savepoints`` for disposal marks, ``store`` for the store's own format marker.
Backends raise ``StoreError`` for every failure, naming the operation and the
store (never its credentials) and the underlying cause.
"""

from __future__ import annotations

import re

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError

SCOPE = re.compile(r"^[0-9a-z][0-9a-z-]{0,62}$")
# What a record's name may hold: safe as a file name, an object key part and a znode name.
NAME = re.compile(r"^[A-Za-z0-9._-]{1,250}$")


class StoreError(FlinkError):
    """The durable state store failed or refused an operation."""


class StoreUnavailable(StoreError):
    """The store could not be reached (or answered too late): nothing is known of the write."""


def check_name(name):
    if not isinstance(name, str) or not NAME.match(name) or name in (".", ".."):
        raise ValueError("invalid record name %r" % (name,))
    return name


def check_scope(scope):
    if not SCOPE.match(scope or ""):
        raise ValueError("invalid record scope %r" % (scope,))
    return scope


class Backend:
    """The interface every backend implements (see the module docstring)."""

    scheme = None

    def describe(self):
        raise NotImplementedError

    def entries(self, scope):
        raise NotImplementedError

    def create(self, scope, name, ephemeral=False):
        raise NotImplementedError

    def delete(self, scope, ids):
        raise NotImplementedError

    def read_head(self, scope):
        """``(value text or None, version token or None)`` of the scope's head."""
        raise NotImplementedError

    def swap_head(self, scope, expected, value):
        """Store ``value`` as the scope's head if it is still at version ``expected`` (None:
        absent); True if this call stored it, False if another writer got there first."""
        raise NotImplementedError

    def close(self):
        """Release connections; idempotent."""


class ScopedRecords:
    """One scope of a backend, seen through the interface the record code uses:
    ``jars()`` (the entries), ``write(name)`` (returns the id), ``delete(ids)``, and the
    scope's head (``read_head()``, ``swap_head(expected, value)``)."""

    durable = True

    def __init__(self, backend, scope):
        self.backend = backend
        self.scope = check_scope(scope)

    def jars(self):
        return self.backend.entries(self.scope)

    def write(self, name, ephemeral=False):
        return self.backend.create(self.scope, name, ephemeral=ephemeral)

    def delete(self, ids):
        if ids:
            self.backend.delete(self.scope, list(ids))

    def read_head(self):
        return self.backend.read_head(self.scope)

    def swap_head(self, expected, value):
        return self.backend.swap_head(self.scope, expected, value)
