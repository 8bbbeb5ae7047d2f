# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The head's compare-and-set (``read_head``/``swap_head``, issue 25) on each durable store,
against the real servers (SeaweedFS, ZooKeeper, PostgreSQL) the devkit starts: of concurrent
writers from one expected version exactly one wins, a stale version is refused, and so is a
second create of an absent head."""

from __future__ import annotations

import threading
import uuid

import pytest

from flinkops_devkit.pgserver import PostgreSQL
from flinkops_devkit.provision import provision
from flinkops_devkit.s3server import SeaweedFS, use_only_credentials
from flinkops_devkit.zkserver import ZooKeeperServer

from ansible_collections.flinkops.flink.plugins.module_utils._records import _postgresql, _s3, _zookeeper
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords

TIMEOUT = 5
RACERS = 6
ROUNDS = 5


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Each store's server, started on first use, stopped at the module's end."""
    started = {}

    def server(kind):
        if kind not in started:
            base = tmp_path_factory.mktemp(kind)
            if kind == "s3":
                started[kind] = SeaweedFS(base).__enter__()
            elif kind == "postgresql":
                started[kind] = PostgreSQL(base).__enter__()
            else:
                started[kind] = ZooKeeperServer(provision("2.3"), base)
                started[kind].start(timeout=60)
        return started[kind]

    yield server
    for kind, running in started.items():
        if kind == "zookeeper":
            running.stop()
        else:
            running.__exit__(None, None, None)


@pytest.fixture(params=["s3", "zookeeper", "postgresql"])
def opener(request, servers, monkeypatch, tmp_path):
    """A function opening a new backend (a connection of its own) on one shared store."""
    kind = request.param
    server = servers(kind)
    tag = "t-" + uuid.uuid4().hex[:10]
    if kind == "s3":
        use_only_credentials(monkeypatch, tmp_path, server.env)
        url, module = server.url(tag), _s3
    elif kind == "zookeeper":
        url, module = "zookeeper://%s/%s" % (server.address, tag), _zookeeper
    else:
        url, module = server.url, _postgresql
    opened = []

    def open_one():
        opened.append(module.open_backend(url, TIMEOUT))
        return opened[-1]

    yield open_one
    for backend in opened:
        backend.close()


@pytest.fixture
def scope():
    return "job-" + uuid.uuid4().hex[:12]


def test_absent_created_read_moved(opener, scope):
    backend = opener()
    assert backend.read_head(scope) == (None, None)
    assert backend.swap_head(scope, None, "first")
    value, token = backend.read_head(scope)
    assert value == "first" and token is not None
    assert not backend.swap_head(scope, None, "again")  # create-if-absent: it exists
    assert backend.swap_head(scope, token, "second")
    value, newer = backend.read_head(scope)
    assert value == "second" and newer != token
    assert not backend.swap_head(scope, token, "stale")  # the version read before the move
    assert backend.read_head(scope)[0] == "second"


def test_the_head_is_not_an_entry_and_scopes_are_apart(opener, scope):
    backend = opener()
    backend.create(scope, "entry-1")
    assert backend.swap_head(scope, None, "mine")
    assert [entry["name"] for entry in backend.entries(scope)] == ["entry-1"]
    other = scope + "x"
    assert backend.read_head(other) == (None, None)
    records = ScopedRecords(backend, scope)
    assert records.read_head()[0] == "mine"


def race(opener, scope, expected):
    """RACERS writers, each on its own connection, swap from ``expected`` at once."""
    backends = [opener() for _racer in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    won = [None] * RACERS

    def racer(index):
        barrier.wait()
        won[index] = backends[index].swap_head(scope, expected, "racer-%d" % index)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return won


def seaweedfs_may_let_two_win(request):
    """SeaweedFS re-checks a PUT's condition under a short-lived lock (seaweedfs/seaweedfs#8800
    and #8801): under `make test`'s load two of six concurrent ``If-Match`` writes were seen to
    succeed (7 Dec). A server's fault, not the backend's (AWS S3 makes conditional writes atomic;
    the production guide says to choose a store that does): the S3 race still runs and reports
    each time (XPASS or XFAIL) without failing the build; ZooKeeper and PostgreSQL must pass."""
    if request.node.callspec.params.get("opener") == "s3":
        request.applymarker(pytest.mark.xfail(
            strict=False, reason="SeaweedFS's conditional writes are not atomic under load"))


def test_concurrent_creates_one_wins(opener, scope, request):
    seaweedfs_may_let_two_win(request)
    for round_ in range(ROUNDS):
        round_scope = "%s-%d" % (scope, round_)
        won = race(opener, round_scope, None)
        assert won.count(True) == 1 and won.count(False) == RACERS - 1, won
        assert opener().read_head(round_scope)[0] == "racer-%d" % won.index(True)


def test_concurrent_swaps_from_one_version_one_wins(opener, scope, request):
    seaweedfs_may_let_two_win(request)
    backend = opener()
    assert backend.swap_head(scope, None, "start")
    for _round in range(ROUNDS):
        token = backend.read_head(scope)[1]
        won = race(opener, scope, token)
        assert won.count(True) == 1 and won.count(False) == RACERS - 1, won
        assert backend.read_head(scope)[0] == "racer-%d" % won.index(True)
