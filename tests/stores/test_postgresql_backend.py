# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL state store backend against a real server (flinkops_devkit.pgserver)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from urllib.parse import quote

import psycopg
import pytest

from flinkops_devkit.flinkctl import free_port
from flinkops_devkit.pgserver import PostgreSQL, PostgresError, server_bin_dir

from ansible_collections.flinkops.flink.plugins.module_utils._records import _postgresql
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    ScopedRecords,
    StoreError,
    StoreUnavailable,
)

TIMEOUT = 5
# A wait bounded by its timeout never takes this long, however loaded the machine: the
# tests check that nothing hangs, not how fast (speed is measured in make bench).
HANGS = 120


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    with PostgreSQL(tmp_path_factory.mktemp("postgresql")) as server:
        yield server


@pytest.fixture
def scope():
    """A scope of its own for each test (the table is shared by the module's tests)."""
    return "job-" + uuid.uuid4().hex[:12]


@pytest.fixture
def backend(pg):
    store = _postgresql.open_backend(pg.url, TIMEOUT)
    yield store
    store.close()


def names(entries):
    return sorted(entry["name"] for entry in entries)


def admin_rows(pg, query, params=()):
    with psycopg.connect(pg.admin_url.rsplit("/", 1)[0] + "/" + pg.database, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def test_create_list_delete(backend, scope):
    assert backend.entries(scope) == []
    assert backend.create(scope, "flinkops-spec-1.json") == "flinkops-spec-1.json"
    assert backend.create(scope, "flinkops-claim-x") == "flinkops-claim-x"
    entries = backend.entries(scope)
    assert names(entries) == ["flinkops-claim-x", "flinkops-spec-1.json"]
    for entry in entries:
        assert set(entry) == {"id", "name", "uploaded"}
        assert entry["id"] == entry["name"]
        assert isinstance(entry["uploaded"], int)
    backend.delete(scope, ["flinkops-claim-x"])
    assert names(backend.entries(scope)) == ["flinkops-spec-1.json"]
    backend.delete(scope, ["flinkops-claim-x", "never-existed"])
    backend.delete(scope, [])
    assert names(backend.entries(scope)) == ["flinkops-spec-1.json"]


def test_the_table_is_created_with_its_definition(backend, pg):
    columns = admin_rows(pg, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'flinkops_records' ORDER BY ordinal_position")
    assert columns == [("scope", "text"), ("name", "text"), ("created", "timestamp with time zone"),
                       ("owner_pid", "integer"), ("owner_started", "timestamp with time zone")]
    (key,) = admin_rows(pg, "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conrelid = 'flinkops_records'::regclass AND contype = 'p'")
    assert key == ("PRIMARY KEY (scope, name)",)
    # Opening again (the table exists) changes nothing.
    _postgresql.open_backend(pg.url, TIMEOUT).close()


def test_create_is_idempotent(backend, scope):
    assert backend._create(scope, "entry") == ("entry", True)
    first = backend.entries(scope)
    time.sleep(0.05)
    assert backend._create(scope, "entry") == ("entry", False)
    assert backend.create(scope, "entry") == "entry"
    assert backend.entries(scope) == first


def test_concurrent_creates_make_one_entry(pg, scope):
    one = _postgresql.open_backend(pg.url, TIMEOUT)
    two = _postgresql.open_backend(pg.url, TIMEOUT)
    rounds = 30
    barrier = threading.Barrier(2)
    results = {0: [], 1: []}

    def racer(index, store):
        for i in range(rounds):
            barrier.wait()
            results[index].append(store._create(scope, "claim-%d" % i, ephemeral=bool(i % 2)))

    threads = [threading.Thread(target=racer, args=(i, s)) for i, s in enumerate((one, two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert len(results[0]) == len(results[1]) == rounds
        for i in range(rounds):
            (id_a, new_a), (id_b, new_b) = results[0][i], results[1][i]
            assert id_a == id_b == "claim-%d" % i
            assert [new_a, new_b].count(True) == 1, (i, new_a, new_b)
        assert names(one.entries(scope)) == sorted("claim-%d" % i for i in range(rounds))
    finally:
        one.close()
        two.close()


def test_uploaded_is_the_servers_clock(backend, scope, pg):
    backend.create(scope, "entry")
    (entry,) = backend.entries(scope)
    assert abs(entry["uploaded"] - time.time() * 1000) < 5000
    ((server_ms,),) = admin_rows(pg, "SELECT floor(extract(epoch FROM created) * 1000)::bigint "
                                     "FROM flinkops_records WHERE scope = %s", (scope,))
    assert entry["uploaded"] == server_ms
    backend.create(scope, "later")
    later = {e["name"]: e["uploaded"] for e in backend.entries(scope)}
    assert later["later"] >= later["entry"]


def test_scopes_are_isolated(backend, scope):
    other = scope + "-b"
    backend.create(scope, "same")
    backend.create(other, "other")
    assert names(backend.entries(scope)) == ["same"]
    assert names(backend.entries(other)) == ["other"]
    backend.delete(other, ["same"])
    assert names(backend.entries(scope)) == ["same"]


def test_scoped_records_interface(backend, scope):
    records = ScopedRecords(backend, scope)
    assert records.write("mark-1") == "mark-1"
    assert names(records.jars()) == ["mark-1"]
    records.delete(["mark-1"])
    assert records.jars() == []


def test_invalid_scope_and_name_are_refused(backend, scope):
    with pytest.raises(ValueError):
        backend.create("Job_A", "entry")
    with pytest.raises(ValueError):
        backend.create(scope, "a'; DROP TABLE flinkops_records; --")
    assert backend.entries(scope) == []


def test_many_entries(backend, scope):
    wanted = ["e-%04d-%s" % (i, "x" * 200) for i in range(1100)]
    for name in wanted:
        backend.create(scope, name)
    entries = backend.entries(scope)
    assert names(entries) == wanted
    backend.delete(scope, [entry["id"] for entry in entries])
    assert backend.entries(scope) == []


def _wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_ephemeral_entries_live_with_their_session(pg, scope):
    writer = _postgresql.open_backend(pg.url, TIMEOUT)
    reader = _postgresql.open_backend(pg.url, TIMEOUT)
    try:
        assert writer._create(scope, "claim", ephemeral=True) == ("claim", True)
        writer.create(scope, "durable")
        assert names(reader.entries(scope)) == ["claim", "durable"]
        # Alive: nobody else can take the name.
        assert reader._create(scope, "claim") == ("claim", False)
        writer.close()
        assert _wait_for(lambda: names(reader.entries(scope)) == ["durable"])
        # The dead claim's name can be claimed again, by another session.
        assert reader._create(scope, "claim", ephemeral=True) == ("claim", True)
        assert names(reader.entries(scope)) == ["claim", "durable"]
    finally:
        writer.close()
        reader.close()


def test_ephemeral_entry_of_a_killed_session_disappears(pg, scope):
    writer = _postgresql.open_backend(pg.url, TIMEOUT)
    reader = _postgresql.open_backend(pg.url, TIMEOUT)
    try:
        writer.create(scope, "claim", ephemeral=True)
        ((pid,),) = admin_rows(pg, "SELECT owner_pid FROM flinkops_records WHERE scope = %s", (scope,))
        assert admin_rows(pg, "SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        assert _wait_for(lambda: reader.entries(scope) == [])
        # The writer notices its connection is gone, reconnects: a new session, a new claim.
        with pytest.raises(StoreUnavailable):
            writer.entries(scope)
        assert writer._create(scope, "claim", ephemeral=True) == ("claim", True)
        assert names(reader.entries(scope)) == ["claim"]
    finally:
        writer.close()
        reader.close()


def test_wrong_password_is_refused_without_showing_it(pg):
    wrong = "WrongPassword" + uuid.uuid4().hex
    url = pg.url.replace(":%s@" % pg.password, ":%s@" % wrong)
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend(url, TIMEOUT)
    text = str(caught.value)
    assert not isinstance(caught.value, StoreUnavailable)
    assert "refused the user or password" in text
    assert "password authentication failed" in text
    assert wrong not in text and pg.password not in text
    assert "postgresql://flinkops@127.0.0.1:%d/flinkops" % pg.port in text


def test_unknown_user_and_database_are_reported(pg):
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend("postgresql://nobody:Secret12345@127.0.0.1:%d/flinkops" % pg.port, TIMEOUT)
    assert "refused the user or password" in str(caught.value)
    assert "Secret12345" not in str(caught.value)
    url = pg.url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend(url, TIMEOUT)
    assert "the database does not exist" in str(caught.value)
    assert 'database "no_such_db" does not exist' in str(caught.value)
    assert pg.password not in str(caught.value)


def test_stopped_server_is_unavailable_quickly(pg, scope):
    store = _postgresql.open_backend(pg.url, TIMEOUT)
    try:
        store.create(scope, "before")
        pg.stop()
        try:
            for operation in (lambda b: b.entries(scope), lambda b: b.create(scope, "after"),
                              lambda b: b.delete(scope, ["before"])):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable) as caught:
                    operation(store)
                assert time.monotonic() - started < HANGS
                assert store.describe() in str(caught.value)
                assert pg.password not in str(caught.value)
            with pytest.raises(StoreUnavailable) as caught:
                _postgresql.open_backend(pg.url, TIMEOUT)
            assert "Connection refused" in str(caught.value)
            assert pg.password not in str(caught.value)
        finally:
            pg.start()
        # Back: the same backend reconnects, the entry is there.
        assert names(store.entries(scope)) == ["before"]
    finally:
        store.close()


def test_silent_server_times_out():
    """A server that accepts the connection and never answers: StoreUnavailable after connect_timeout."""
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            _postgresql.open_backend("postgresql://u:Secret12345@127.0.0.1:%d/db" % port, 2)
        elapsed = time.monotonic() - started
    assert elapsed < HANGS, elapsed
    assert "Secret12345" not in str(caught.value)
    assert "postgresql://u@127.0.0.1:%d/db" % port in str(caught.value)


@pytest.mark.parametrize("url, expected", [
    ("postgresql://u:Secret12345@127.0.0.1:notaport/db", "the port is not a number"),
    ("postgresql://u:Secret12345@127.0.0.1:5432", "the database is missing"),
    ("postgresql://u:Secret12345@127.0.0.1:5432/", "the database is missing"),
    ("postgresql://u:Secret12345@/db", "the host is missing"),
    ("mysql://u:Secret12345@127.0.0.1:5432/db", "not a postgresql:// URL"),
    ("postgresql://u:Secret12345@127.0.0.1:1/db?bogus=1", "invalid URI query parameter"),
])
def test_malformed_urls_are_refused(url, expected):
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend(url, TIMEOUT)
    text = str(caught.value)
    assert expected in text
    assert "Secret12345" not in text
    assert text.startswith("state_store postgresql://u@") or text.startswith("state_store mysql://u@")


def test_describe_has_no_password(backend, pg):
    assert backend.describe() == "postgresql://flinkops@127.0.0.1:%d/flinkops" % pg.port
    assert pg.password not in backend.describe()
    shown, secrets = _postgresql.split_password(
        "postgresql://u:p%40ss%3Aword@h:5432/db?sslmode=require&password=other-secret")
    assert shown == "postgresql://u@h:5432/db?sslmode=require&password=********"
    assert "p@ss:word" in secrets and "p%40ss%3Aword" in secrets and "other-secret" in secrets
    # A password with '/', '@' and ':' unescaped is still cut out whole.
    shown, secrets = _postgresql.split_password("postgresql://u:a/b@c:d@h:5432/db")
    assert shown == "postgresql://u@h:5432/db"
    assert "a/b@c:d" in secrets
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend("postgresql://u:a/b@c:d@127.0.0.1:1/db", 2)
    assert "a/b@c:d" not in str(caught.value) and "b@c" not in str(caught.value)


def test_password_in_the_query_and_special_characters(pg):
    url = "postgresql://%s@127.0.0.1:%d/%s?password=%s&sslmode=disable" % (
        pg.user, pg.port, pg.database, quote(pg.password, safe=""))
    store = _postgresql.open_backend(url, TIMEOUT)
    try:
        assert pg.password not in store.describe()
        assert store.describe().endswith("?password=********&sslmode=disable")
        assert store.entries("job-none") == []
    finally:
        store.close()


def test_without_psycopg_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(_postgresql, "HAS_PSYCOPG", False)
    with pytest.raises(StoreError) as caught:
        _postgresql.open_backend("postgresql://u:Secret12345@127.0.0.1:5432/db", TIMEOUT)
    assert str(caught.value) == ("state_store postgresql://u@127.0.0.1:5432/db needs the Python library "
                                 "psycopg (version 3) on the host that runs the module")


def test_close_is_idempotent_and_reconnects(backend, scope):
    backend.create(scope, "entry")
    backend.close()
    backend.close()
    assert names(backend.entries(scope)) == ["entry"]


def test_devkit_says_how_to_install_the_server(monkeypatch):
    monkeypatch.setenv("FLINKOPS_PG_BIN", "/nonexistent/postgresql/bin")
    with pytest.raises(PostgresError) as caught:
        server_bin_dir()
    assert "make system-deps" in str(caught.value)
