# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A durable state store in memory for unit tests: the Backend contract of ``_records``,
reachable as ``state_store: memory://...`` once ``install``ed."""

from __future__ import annotations

import itertools

from ansible_collections.flinkops.flink.plugins.module_utils._records import _state
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import Backend, StoreUnavailable


class MemoryBackend(Backend):
    """The Backend contract in memory; the clock moves one ms per write."""

    scheme = "memory"

    def __init__(self):
        self.scopes = {}
        self.heads = {}  # scope -> (value, version)
        self.head_reads = []  # scopes whose head was read, in order
        self.unreachable = False  # the head step fails as an unreachable store would
        self.clock = itertools.count(1000)
        self.writes = []
        self.closed = False

    def describe(self):
        return "memory://test"

    def entries(self, scope):
        return [dict(entry) for entry in self.scopes.get(scope, {}).values()]

    def create(self, scope, name, ephemeral=False):
        self.writes.append((scope, name))
        entries = self.scopes.setdefault(scope, {})
        if name not in entries:
            entries[name] = {"id": name, "name": name, "uploaded": next(self.clock)}
        return name

    def delete(self, scope, ids):
        for name in ids:
            self.scopes.get(scope, {}).pop(name, None)

    def read_head(self, scope):
        self.head_reads.append(scope)
        if self.unreachable:
            raise StoreUnavailable("memory://test: reading the head of scope %s failed: the store "
                                   "could not be reached" % scope)
        return self.heads.get(scope, (None, None))

    def swap_head(self, scope, expected, value):
        current = self.heads.get(scope, (None, None))[1]
        if current != expected:
            return False
        self.heads[scope] = (value, (current or 0) + 1)
        return True

    def close(self):
        self.closed = True


def install(monkeypatch):
    """A MemoryBackend every ``memory://`` state_store opens, for the test's duration."""
    backend = MemoryBackend()

    class FakeModule:
        @staticmethod
        def open_backend(url, timeout):
            return backend

    monkeypatch.setitem(_state.BACKENDS, "memory", FakeModule)
    return backend
