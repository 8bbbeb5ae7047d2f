# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real state stores of the tests, started on first use and shared by a test session:

    StoreServers(base_dir)   .url(kind, tag) -> a state_store URL of its own for one test
                             (a fresh S3 prefix, ZooKeeper chroot; PostgreSQL scopes by job name)
                             .env -> what a module process needs (the S3 credentials)
                             .server(kind), .stop_all()
                             .halt(kind) / .resume(kind) / .serving(kind): the store unreachable
                             and back with its data, same address (fault tests)
    KINDS                    ("s3", "zookeeper", "postgresql")

SeaweedFS (s3server), ZooKeeper from the Flink distribution (zkserver) and PostgreSQL
(pgserver) each run as processes of their own, stopped by ``stop_all`` (by pid).
"""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path

from flinkops_devkit.pgserver import PostgreSQL
from flinkops_devkit.provision import provision
from flinkops_devkit.s3server import SeaweedFS
from flinkops_devkit.zkserver import ZooKeeperServer

KINDS = ("s3", "zookeeper", "postgresql")
# The ZooKeeper the stores use comes from this distribution (any version ships one).
ZOOKEEPER_FLINK = "2.3"


class StoreServers:
    def __init__(self, base_dir):
        self.base_dir = Path(base_dir)
        self._servers = {}
        self._lock = threading.Lock()

    def server(self, kind):
        with self._lock:
            if kind not in self._servers:
                self._servers[kind] = self._start(kind)
            return self._servers[kind]

    def _start(self, kind):
        directory = self.base_dir / kind
        directory.mkdir(parents=True, exist_ok=True)
        if kind == "s3":
            return SeaweedFS(directory).start()
        if kind == "zookeeper":
            return ZooKeeperServer(provision(ZOOKEEPER_FLINK), directory).start()
        if kind == "postgresql":
            return PostgreSQL(directory).start()
        raise ValueError("unknown store kind %r" % kind)

    def url(self, kind, tag=None):
        """A state_store URL for one test: its own prefix or chroot where the store has one."""
        tag = re.sub(r"[^a-z0-9-]+", "-", (tag or uuid.uuid4().hex[:8]).lower()).strip("-")[:40]
        server = self.server(kind)
        if kind == "s3":
            return server.url("t-" + tag)
        if kind == "zookeeper":
            return "zookeeper://%s/flinkops-%s?session_timeout=4" % (server.address, tag)
        return server.url

    @property
    def env(self):
        """The environment a module process needs to reach the stores started so far."""
        server = self._servers.get("s3")
        return dict(server.env) if server else {}

    def halt(self, kind):
        """Stop one store's server in place (a fault test): its port refuses connections; its
        data directory, port and credentials are kept for ``resume``. Ends the server's own
        processes by pid (ZooKeeper: its daemon's pid; SeaweedFS: its process group;
        PostgreSQL: ``pg_ctl stop``, then the postmaster's pid)."""
        self.server(kind).stop()

    def resume(self, kind):
        """Start a halted store again on the same port with its data (no-op when it serves)."""
        server = self.server(kind)
        if not self.serving(kind):
            server.start()
        return server

    def serving(self, kind):
        """Whether the store's server runs (ZooKeeper: answers ``srvr``)."""
        server = self.server(kind)
        if kind == "zookeeper":
            return server.serving()
        return server.running

    def stop(self, kind):
        """Stop one store and forget it: ``server(kind)`` then starts a new, empty one."""
        with self._lock:
            server = self._servers.pop(kind, None)
        if server is not None:
            # PostgreSQL keeps its data directory on stop() (for a restart); destroy() removes it.
            getattr(server, "destroy", server.stop)()

    def stop_all(self):
        for kind in list(self._servers):
            try:
                self.stop(kind)
            except Exception:  # pragma: no cover - best effort at teardown
                pass
