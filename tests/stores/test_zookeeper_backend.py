# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ZooKeeper records backend against a real ZooKeeper server (the one in the Flink
distribution, started by flinkops_devkit.zkserver).

Run (from the checkout):
    .venv/bin/python hack/sync_collection.py . build/ansible_collections/flinkops/flink
    PYTHONPATH=build .venv/bin/python -m pytest tests/stores/test_zookeeper_backend.py -q

Every test works under its own chroot, so tests never see each other's entries. The
server's tickTime is 2000 ms, so the shortest session timeout it grants is 4 s: the tests
ask for ``?session_timeout=4``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

kazoo_client = pytest.importorskip("kazoo.client")

from flinkops_devkit.provision import provision  # noqa: E402
from flinkops_devkit.zkserver import ZooKeeperServer  # noqa: E402

from ansible_collections.flinkops.flink.plugins.module_utils._records import _zookeeper  # noqa: E402
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (  # noqa: E402
    ScopedRecords,
    StoreError,
    StoreUnavailable,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._zookeeper import (  # noqa: E402
    ZooKeeperBackend,
    open_backend,
)

SESSION_TIMEOUT = 4  # seconds: 2 x the test server's tickTime, the smallest it grants
TIMEOUT = 5.0
# A wait bounded by its timeout never takes this long, however loaded the machine: the
# tests check that nothing hangs, not how fast (speed is measured in make bench).
HANGS = 120
# A wait bounded by its timeout never takes this long, however loaded the machine: the
# tests check that nothing hangs, not how fast (speed is measured in make bench).
HANGS = 120


@pytest.fixture(scope="module")
def zk(tmp_path_factory):
    server = ZooKeeperServer(provision("2.3"), tmp_path_factory.mktemp("zookeeper"))
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chroot():
    return "/t-" + uuid.uuid4().hex[:12]


@pytest.fixture
def url(zk, chroot):
    return "zookeeper://%s%s?session_timeout=%d" % (zk.address, chroot, SESSION_TIMEOUT)


@pytest.fixture
def opened():
    backends = []

    def _open(url, timeout=TIMEOUT):
        backend = open_backend(url, timeout)
        backends.append(backend)
        return backend

    yield _open
    for backend in backends:
        backend.close()


@pytest.fixture
def backend(opened, url):
    return opened(url)


@pytest.fixture
def raw(zk):
    """A plain kazoo client, to look at the server behind the backend's back."""
    client = kazoo_client.KazooClient(hosts=zk.address, timeout=SESSION_TIMEOUT)
    client.start(timeout=TIMEOUT)
    yield client
    client.stop()
    client.close()


def _names(backend, scope):
    return sorted(e["name"] for e in backend.entries(scope))


def _wait_until(predicate, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# basics


def test_create_list_delete(backend, raw, chroot):
    assert backend.entries("job-a") == []
    assert backend.create("job-a", "rec-1") == "rec-1"
    assert backend.create("job-a", "rec-2.jar") == "rec-2.jar"
    entries = backend.entries("job-a")
    assert sorted(e["id"] for e in entries) == ["rec-1", "rec-2.jar"]
    for entry in entries:
        assert set(entry) == {"id", "name", "uploaded"}
        assert entry["id"] == entry["name"]
        assert isinstance(entry["uploaded"], int)
    # the layout: <chroot>/<scope>/<name>, empty data
    assert sorted(raw.get_children(chroot + "/job-a")) == ["rec-1", "rec-2.jar"]
    data, _stat = raw.get(chroot + "/job-a/rec-1")
    assert data == b""

    backend.delete("job-a", ["rec-1", "never-there"])
    assert _names(backend, "job-a") == ["rec-2.jar"]
    backend.delete("job-a", ["rec-1"])  # already gone: not an error
    backend.delete("job-a", [])
    backend.delete("no-such-scope", ["x"])
    assert _names(backend, "job-a") == ["rec-2.jar"]


def test_scoped_records_view(backend):
    records = ScopedRecords(backend, "store")
    assert records.write("flinkops-store-v1") == "flinkops-store-v1"
    assert [j["name"] for j in records.jars()] == ["flinkops-store-v1"]
    records.delete(["flinkops-store-v1"])
    assert records.jars() == []


def test_long_names_and_all_allowed_characters(backend):
    name = ("flinkops-spec-" + "aZ09._-" * 40)[:230]
    assert len(name) == 230
    assert backend.create("job-long", name) == name
    assert _names(backend, "job-long") == [name]


def test_invalid_scope_or_name_is_refused(backend):
    for scope, name in (("Job-A", "x"), ("job/a", "x"), ("", "x"), ("job-a", "a/b"), ("job-a", ".."),
                        ("job-a", ""), ("job-a", "sp ace")):
        with pytest.raises(ValueError):
            backend.create(scope, name)
    with pytest.raises(ValueError):
        backend.entries("../x")
    with pytest.raises(ValueError):
        backend.delete("job-a", ["../../zookeeper"])


def test_create_is_idempotent(backend):
    first = backend.create("job-a", "rec")
    [entry] = backend.entries("job-a")
    time.sleep(0.05)
    assert backend.create("job-a", "rec") == first
    # an ephemeral create of an existing (persistent) name also just answers its id
    assert backend.create("job-a", "rec", ephemeral=True) == first
    assert backend.entries("job-a") == [entry]  # same id, same uploaded, still one entry


def test_concurrent_creates_of_one_name(opened, url, raw, chroot):
    one, two = opened(url), opened(url)
    names = ["claim-%02d" % i for i in range(20)]
    results = {id(one): [], id(two): []}
    barrier = threading.Barrier(2)
    errors = []

    def run(backend, ephemeral):
        try:
            barrier.wait(timeout=10)
            for name in names:
                results[id(backend)].append(backend.create("job-race", name, ephemeral=ephemeral))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(one, False)), threading.Thread(target=run, args=(two, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results[id(one)] == names
    assert results[id(two)] == names
    assert sorted(raw.get_children(chroot + "/job-race")) == names
    assert _names(one, "job-race") == names
    assert _names(two, "job-race") == names


def test_uploaded_is_the_servers_clock_in_ms(backend):
    before = time.time() * 1000
    backend.create("job-a", "now")
    after = time.time() * 1000
    [entry] = backend.entries("job-a")
    # same machine: the server's clock is ours; ctime is in milliseconds
    assert before - 1000 <= entry["uploaded"] <= after + 1000


def test_scopes_are_isolated(backend):
    backend.create("job-a", "same-name")
    backend.create("job-b", "other")
    assert _names(backend, "job-a") == ["same-name"]
    assert _names(backend, "job-b") == ["other"]
    assert _names(backend, "job-c") == []
    backend.delete("job-b", ["same-name"])  # not in job-b: nothing happens to job-a's
    assert _names(backend, "job-a") == ["same-name"]


def test_chroots_are_isolated(opened, zk):
    a = opened("zookeeper://%s/iso-%s/a" % (zk.address, uuid.uuid4().hex[:8]))
    b = opened("zookeeper://%s/iso-%s/b" % (zk.address, uuid.uuid4().hex[:8]))
    a.create("store", "mark-a")
    assert _names(a, "store") == ["mark-a"]
    assert _names(b, "store") == []


def test_default_chroot(opened, zk, raw):
    backend = opened("zookeeper://%s" % zk.address)
    assert backend.describe() == "zookeeper://%s/flinkops" % zk.address
    name = "default-" + uuid.uuid4().hex
    backend.create("store", name)
    assert raw.exists("/flinkops/store/" + name) is not None
    backend.delete("store", [name])
    assert raw.exists("/flinkops/store/" + name) is None


# ---------------------------------------------------------------------------
# ephemeral entries


def test_ephemeral_entry_goes_with_close(opened, url, raw, chroot):
    watcher, writer = opened(url), opened(url)
    writer.create("job-a", "claim", ephemeral=True)
    writer.create("job-a", "record")
    assert raw.exists(chroot + "/job-a/claim").ephemeralOwner != 0
    assert raw.exists(chroot + "/job-a/record").ephemeralOwner == 0
    assert _names(watcher, "job-a") == ["claim", "record"]
    writer.close()
    writer.close()  # idempotent
    # close() ends the session at once: no session timeout to wait for
    assert _names(watcher, "job-a") == ["record"]
    with pytest.raises(StoreError, match="after close"):
        writer.entries("job-a")


def test_ephemeral_entry_goes_when_its_process_is_killed(opened, url):
    watcher = opened(url)
    script = textwrap.dedent("""
        import sys, time
        from ansible_collections.flinkops.flink.plugins.module_utils._records._zookeeper import open_backend
        backend = open_backend(sys.argv[1], 5)
        backend.create("job-a", "claim-of-dead", ephemeral=True)
        backend.create("job-a", "record-of-dead")
        print("ready %s" % backend.session_timeout, flush=True)
        time.sleep(300)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready"), (line, proc.stderr.read() if proc.poll() is not None else "")
        negotiated = float(line.split()[1])
        assert negotiated == SESSION_TIMEOUT
        assert _names(watcher, "job-a") == ["claim-of-dead", "record-of-dead"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        # the process could not close its session: the entry is still there right after
        assert "claim-of-dead" in _names(watcher, "job-a")
        # ...and ZooKeeper removes it once the session times out (expiry is checked every
        # tickTime, 2 s here)
        assert _wait_until(lambda: _names(watcher, "job-a") == ["record-of-dead"], SESSION_TIMEOUT + HANGS)
        gone_after = time.monotonic() - killed
        assert gone_after >= SESSION_TIMEOUT - 1.5, gone_after
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_lost_session_mid_run_is_unavailable(opened, url, zk):
    backend = opened(url)
    watcher = opened(url)
    backend.create("job-a", "claim", ephemeral=True)
    # Expire the backend's session the way ZooKeeper's own tests do: a second client joins
    # the same session and closes it.
    session_id, session_password = backend._client.client_id
    thief = kazoo_client.KazooClient(hosts=zk.address, client_id=(session_id, session_password))
    thief.start(timeout=TIMEOUT)
    thief.stop()
    thief.close()
    assert _wait_until(lambda: watcher.entries("job-a") == [], HANGS)
    assert _wait_until(lambda: backend._lost, HANGS)
    for call in (lambda: backend.entries("job-a"), lambda: backend.create("job-a", "again"),
                 lambda: backend.delete("job-a", ["claim"])):
        with pytest.raises(StoreUnavailable, match="session was lost"):
            call()
    assert watcher.entries("job-a") == []


# ---------------------------------------------------------------------------
# scale


def test_300_entries_are_listed_in_one_pipelined_pass(backend, raw, chroot, monkeypatch):
    """Pipelined, judged by its structure (no wall-clock number): every stat is sent before
    any answer is waited for, so a scope costs one round trip's worth, not one per entry."""
    names = ["rec-%03d" % i for i in range(300)]
    transaction = raw.transaction()
    raw.ensure_path(chroot + "/job-big")
    for name in names:
        transaction.create(chroot + "/job-big/" + name, b"")
    assert all(r is not None and not isinstance(r, Exception) for r in transaction.commit())
    events = []
    sent, waited = backend._client.exists_async, backend._get
    monkeypatch.setattr(backend._client, "exists_async", lambda path: events.append("send") or sent(path))
    monkeypatch.setattr(backend, "_get", lambda answer, deadline: events.append("wait") or waited(answer, deadline))
    entries = backend.entries("job-big")
    assert sorted(e["name"] for e in entries) == names
    assert all(e["uploaded"] > 0 for e in entries)
    # the listing is waited for, then all 300 stats go out, then their answers are collected
    assert events == ["wait"] + ["send"] * 300 + ["wait"] * 300
    backend.delete("job-big", names[:150])
    assert _names(backend, "job-big") == names[150:]


def test_entries_skip_nodes_deleted_during_listing(backend, raw, chroot, monkeypatch):
    for name in ("keep", "vanish"):
        backend.create("job-a", name)
    client = backend._client
    real_exists_async = client.exists_async

    def exists_async(path, watch=None):
        if path.endswith("/vanish"):
            raw.delete(path)  # deleted between get_children and the stat
        return real_exists_async(path, watch)

    monkeypatch.setattr(client, "exists_async", exists_async)
    assert _names(backend, "job-a") == ["keep"]


# ---------------------------------------------------------------------------
# failures


def test_unreachable_server_is_unavailable_within_the_timeout(opened):
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        opened("zookeeper://carol:hunter2@127.0.0.1:%d/x" % port, 2.0)
    took = time.monotonic() - started
    assert 1.5 <= took < HANGS, took  # it waited for the timeout, and no longer than bounded
    message = str(info.value)
    assert "127.0.0.1:%d" % port in message
    assert "hunter2" not in message


def test_a_silent_server_is_unavailable_within_the_timeout(opened, url, zk):
    backend = opened(url, 2.0)
    backend.create("job-a", "before")
    os.kill(zk.pid, signal.SIGSTOP)  # the server this module started: connected, but mute
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            backend.entries("job-a")
        took = time.monotonic() - started
    finally:
        os.kill(zk.pid, signal.SIGCONT)
    assert 1.5 <= took < HANGS, took
    assert zk.address in str(info.value)


def test_foreign_entries_are_listed_and_deletable(backend, raw, chroot):
    raw.create(chroot + "/job-a/made by hand", b"some data", makepath=True)
    assert _names(backend, "job-a") == ["made by hand"]
    backend.delete("job-a", ["made by hand"])
    assert backend.entries("job-a") == []


@pytest.mark.parametrize("bad, fragment", [
    ("zookeeper://", "no host"),
    ("zookeeper:///flinkops", "no host"),
    ("zookeeper://u:pw-secret@/flinkops", "no host"),
    ("zookeeper://zk1:abc/flinkops", "bad port 'abc'"),
    ("zookeeper://zk1:70000", "bad port '70000'"),
    ("zookeeper://zk1:0", "bad port '0'"),
    ("zookeeper://zk1:2181,,zk2:2181", "empty host"),
    ("zookeeper://zk1:2181/a/../b", "bad chroot path segment '..'"),
    ("zookeeper://zk1:2181/a b", "bad chroot path segment"),
    ("zookeeper://zk1:2181/zookeeper", "reserved"),
    ("zookeeper://zk1:2181/x?session_timeout=soon", "session_timeout"),
    ("zookeeper://zk1:2181/x?session_timeout=0", "session_timeout"),
    ("zookeeper://zk1:2181/x?sessiontimeout=4", "unknown parameter 'sessiontimeout'"),
    ("zookeeper://u-only@zk1:2181", "user:password"),
    ("http://zk1:2181/x", "want zookeeper://"),
    ("zk1:2181", "want zookeeper://"),
])
def test_malformed_urls(bad, fragment):
    with pytest.raises(StoreError) as info:
        open_backend(bad, 1.0)
    assert not isinstance(info.value, StoreUnavailable)
    message = str(info.value)
    assert "invalid ZooKeeper state store URL" in message
    assert fragment in message
    assert "pw-secret" not in message


def test_parse_url_parts():
    parts = _zookeeper.parse_url("zookeeper://al%40ice:p%3Aw@zk1,zk2:2182,[::1]:2183/a/b/?session_timeout=2.5")
    assert parts == {
        "hosts": ["zk1:2181", "zk2:2182", "[::1]:2183"],
        "user": "al@ice",
        "password": "p:w",
        "chroot": "/a/b",
        "session_timeout": 2.5,
    }
    assert _zookeeper.parse_url("ZooKeeper://zk1/")["chroot"] == "/flinkops"


def test_describe_has_no_password(opened, zk):
    backend = opened("zookeeper://alice:s3cr%%40t@%s/described?session_timeout=4" % zk.address)
    assert backend.describe() == "zookeeper://alice@%s/described" % zk.address
    assert "s3cr" not in backend.describe()


def test_digest_auth_protects_the_entries(opened, zk, chroot):
    base = "%s%s?session_timeout=%d" % (zk.address, chroot, SESSION_TIMEOUT)
    owner = opened("zookeeper://alice:right-pw@" + base)
    owner.create("job-a", "rec")
    assert _names(owner, "job-a") == ["rec"]
    # the same user with the wrong password, and an anonymous client: refused, not "unavailable"
    for url in ("zookeeper://alice:wrong-pw@" + base, "zookeeper://" + base):
        other = opened(url)
        with pytest.raises(StoreError) as info:
            other.entries("job-a")
        assert not isinstance(info.value, StoreUnavailable)
        assert "not authorized" in str(info.value)
        assert "pw" not in str(info.value).replace(base, "")
        with pytest.raises(StoreError, match="not authorized"):
            other.create("job-b", "intruder")
    assert _names(owner, "job-a") == ["rec"]


def test_without_kazoo_open_backend_says_what_is_missing(monkeypatch):
    monkeypatch.setattr(_zookeeper, "HAS_KAZOO", False)
    monkeypatch.setattr(_zookeeper, "KAZOO_IMPORT_ERROR", ImportError("No module named 'kazoo'"))
    with pytest.raises(StoreError, match="needs the Python library kazoo on the host that runs the module"):
        open_backend("zookeeper://127.0.0.1:2181/x", 1.0)
    with pytest.raises(StoreError, match="kazoo"):
        ZooKeeperBackend(["127.0.0.1:2181"])


def test_nothing_is_printed_by_kazoo(url):
    """A module prints JSON on stdout: the backend must not add anything to stdout or stderr,
    neither while working nor when the server is unreachable (kazoo warns about both)."""
    script = textwrap.dedent("""
        import sys
        from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import StoreUnavailable
        from ansible_collections.flinkops.flink.plugins.module_utils._records._zookeeper import open_backend
        backend = open_backend(sys.argv[1], 5)
        backend.create("job-a", "x", ephemeral=True)
        backend.entries("job-a")
        backend.close()
        try:
            open_backend("zookeeper://127.0.0.1:%s/x" % sys.argv[2], 1.5)
        except StoreUnavailable:
            pass
        else:
            raise SystemExit("no StoreUnavailable")
    """)
    proc = subprocess.run([sys.executable, "-c", script, url, str(_free_port())], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ), check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == ""
