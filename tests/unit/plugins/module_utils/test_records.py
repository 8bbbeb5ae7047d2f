# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The records' storage (_records): opening a state store, its format marker, the migration
from the JAR store, and the engine's rules that depend on where records live (the
high-availability refusal, resuming a stopped job Flink forgot). Real stores are tested
in tests/stores; here an in-memory backend with the same contract."""

from __future__ import annotations


import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._engine import Engine
from ansible_collections.flinkops.flink.plugins.module_utils._guard import (
    confirmation_name,
    encode_payload,
    intent_names,
    read_intents,
)
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records, malformed_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    operation_names,
    read_operations,
    resumable_state,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    StoreError,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import (
    MIGRATED,
    StateStore,
    job_scope,
    open_state_store,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import Changes, DeployRequest
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_record_names

from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.unleased import Unleased
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils import memorystore
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import overview, job


@pytest.fixture
def memory(monkeypatch):
    return memorystore.install(monkeypatch)


# --- opening --------------------------------------------------------------------------

@pytest.mark.parametrize("url, message", [
    ("ftp://host/x", "unknown scheme 'ftp' (supported: s3, zookeeper, postgresql"),
    ("just-a-word", "is not a URL"),
    ("mysql://user:hunter2-secret@db/x", "unknown scheme 'mysql'"),
])
def test_a_store_url_that_names_no_store_is_refused_clearly(url, message):
    with pytest.raises(StoreError) as failure:
        open_state_store(url, None, 5)
    assert message in str(failure.value)
    assert "hunter2-secret" not in str(failure.value)


@pytest.mark.parametrize("value, shared", [(None, False), ("", False), ("jobmanager", True)])
def test_without_a_durable_store_the_records_stay_in_the_jar_store(value, shared):
    store = open_state_store(value, "client", 5)
    assert not store.durable and store.jar_store.declared_shared is shared
    assert store.job("orders") is store.jar_store and store.savepoints() is store.jar_store


def test_a_new_store_is_marked_with_the_format_and_an_old_one_is_read(memory):
    open_state_store("memory://x", None, 5)
    assert [name for _scope, name in memory.writes] == ["flinkops-format-1"]
    open_state_store("memory://x", None, 5)
    assert len(memory.writes) == 1  # marked once


def test_a_store_written_by_a_newer_release_is_refused_and_closed(memory):
    memory.create("store", "flinkops-format-2")
    with pytest.raises(StoreError, match="written by a newer release .*format 2.*reads format 1.*"
                                         "nothing was changed"):
        open_state_store("memory://x", None, 5)
    assert memory.closed


def test_each_job_name_has_its_own_scope():
    assert job_scope("orders") != job_scope("orders2")
    assert job_scope("a name with spaces/and slashes").startswith("job-")


# --- migration ------------------------------------------------------------------------

SPEC = JobSpec("orders", "sha256:" + "0" * 16, "org.example.Job", ["--v1"])
OTHER = JobSpec("payments", "sha256:" + "1" * 16, "org.example.Job", ["--v1"])
JOB = "a" * 32


def _jar_store():
    names = spec_record_names(SPEC, "u0.jar") + spec_record_names(OTHER, "u1.jar")
    names += [confirmation_name("orders", JOB, SPEC.fingerprint),
              confirmation_name("payments", "b" * 32, OTHER.fingerprint),
              "orders-sha256-%s.jar" % ("c" * 16)]
    names += operation_names("orders", {"action": "started", "job_id": JOB}, now_ms=5)
    names += operation_names("payments", {"action": "started", "job_id": "b" * 32}, now_ms=6)
    return [{"id": "u%d_%s" % (i, n), "name": n, "uploaded": i} for i, n in enumerate(names)]


JAR_STORE = _jar_store()


def jar_store():
    return [dict(entry) for entry in JAR_STORE]


def test_the_jar_store_records_of_one_name_are_found():
    found = set(entry["name"] for entry in legacy_records(jar_store(), "orders"))
    assert set(spec_record_names(SPEC, "u0.jar")) <= found
    assert confirmation_name("orders", JOB, SPEC.fingerprint) in found
    assert not any("payments" in name or name.startswith("orders-sha256") for name in found)
    assert not set(spec_record_names(OTHER, "u1.jar")) & found
    assert [op["action"] for op in read_operations(
        [{"id": n, "name": n, "uploaded": 0} for n in found], "orders")] == ["started"]


def test_the_first_run_with_a_store_imports_the_names_records_once(memory):
    state = StateStore(memory, None)
    records = state.job("orders")
    engine = Engine(None, DeployRequest(name="orders"), Changes(False), hooks=[], new_lease=Unleased, state=state)
    engine._jars = jar_store()
    imported = engine.records
    assert MIGRATED in [e["name"] for e in imported]
    assert read_operations(imported, "orders")[0]["job_id"] == JOB
    writes = len(memory.writes)
    again = Engine(None, DeployRequest(name="orders"), Changes(False), hooks=[], new_lease=Unleased, state=state)
    again._jars = []  # the JAR store is not read again: the scope is migrated
    assert read_operations(again.records, "orders")[0]["job_id"] == JOB
    assert len(memory.writes) == writes
    assert records.jars() == again.records


def test_check_mode_merges_the_jar_store_records_without_writing(memory):
    state = StateStore(memory, None)
    engine = Engine(None, DeployRequest(name="orders"), Changes(True), hooks=[], new_lease=Unleased, state=state)
    engine._jars = jar_store()
    assert read_operations(engine.records, "orders")[0]["job_id"] == JOB
    assert memory.writes == []


def test_a_migration_cut_short_is_finished_by_the_next_run(memory):
    state = StateStore(memory, None)
    legacy = legacy_records(jar_store(), "orders")
    state.job("orders").write(legacy[0]["name"])  # the crashed run got this far
    engine = Engine(None, DeployRequest(name="orders"), Changes(False), hooks=[], new_lease=Unleased, state=state)
    engine._jars = jar_store()
    names = set(e["name"] for e in engine.records)
    assert set(e["name"] for e in legacy) | {MIGRATED} == names


# --- resuming a job Flink forgot --------------------------------------------------------

@pytest.mark.parametrize("operations, confirmed, expected", [
    ([{"action": "stopped", "previous_job_id": "j1", "savepoint": "file:/sp/1"},
      {"action": "started", "job_id": "j1"}], set(), ("j1", "file:/sp/1")),
    ([{"action": "refused"}, {"action": "stopped", "previous_job_id": "j1", "savepoint": "file:/sp/1"}],
     set(), ("j1", "file:/sp/1")),
    # the upgrade's new job j2 never ran every task: nothing newer than the stop's savepoint
    ([{"action": "failed", "job_id": "j2", "previous_job_id": "j1", "savepoint": "file:/sp/1"}],
     set(), ("j1", "file:/sp/1")),
    # ... but once confirmed it ran and may have checkpointed newer state
    ([{"action": "failed", "job_id": "j2", "previous_job_id": "j1", "savepoint": "file:/sp/1"}],
     {"j2"}, None),
    ([{"action": "upgraded", "job_id": "j2", "savepoint": "file:/sp/1"}], {"j2"}, None),
    ([{"action": "cancelled", "previous_job_id": "j1"}], set(), None),
    ([{"action": "started", "job_id": "j1"}], set(), None),
    ([], set(), None),
])
def test_only_a_state_nothing_ran_after_is_resumed_by_the_log(operations, confirmed, expected):
    assert resumable_state(operations, confirmed) == expected


# --- high availability ------------------------------------------------------------------

HA_CONFIG = [{"key": "high-availability.type", "value": "zookeeper"},
             {"key": "execution.checkpointing.savepoint-dir", "value": "file:/sp"}]


def test_a_ha_cluster_without_a_durable_store_changes_nothing(client, script):
    running = job(SPEC.fingerprint + "2" * 16)
    script.on("GET", "/jobs/overview", overview(running))
    script.on("GET", "/jobmanager/config", HA_CONFIG)
    engine = Engine(client, DeployRequest(name="orders", state="stopped"), Changes(False), hooks=[], new_lease=Unleased)
    with pytest.raises(FlinkError) as failure:
        engine.run()
    message = str(failure.value)
    assert "high availability (high-availability.type: zookeeper)" in message
    assert "Set state_store" in message and "Nothing was changed" in message
    assert not any(call.startswith(("POST", "PATCH")) for call in script.calls())


def test_a_declared_shared_upload_directory_is_trusted_on_ha(client, script):
    running = job(SPEC.fingerprint + "2" * 16)
    script.on("GET", "/jobs/overview", overview(running))
    script.on("GET", "/jobmanager/config", HA_CONFIG)
    script.on("POST", "/jobs/%s/stop" % running["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % running["jid"],
              {"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/s1"}})
    script.on("GET", "/jars", {"files": []})
    state = open_state_store("jobmanager", client, 5)
    engine = Engine(client, DeployRequest(name="orders", state="stopped"), Changes(False), hooks=[], new_lease=Unleased,
                    state=state)
    engine.run()
    assert engine.result.action == "stopped" and engine.result.savepoint == "file:/sp/s1"


# --- malformed records ---------------------------------------------------------------------

def test_a_malformed_record_is_skipped_and_named_never_a_crash():
    good = intent_names("orders", "5" * 32, "f" * 16, "p" * 32, "ci", 600, "aaaa0001")
    # A well-formed name whose payload has a ttl of the wrong type (anyone can upload one).
    chunks = encode_payload({"n": "orders", "f": "f" * 16, "p": "p" * 32, "a": "x", "t": 1,
                             "x": "600", "r": "bbbb0002", "w": 0, "h": 0})
    bad = ["flinkops-intent-%s-bbbb0002-%d-%d-%s.jar" % ("5" * 32, i, len(chunks), c)
           for i, c in enumerate(chunks)]
    bad_op = operation_names("orders", {"action": ["not", "text"], "job_id": JOB}, now_ms=9)
    entries = [{"id": n, "name": n, "uploaded": 5} for n in good + bad + bad_op] + JAR_STORE
    intents = read_intents(entries)["5" * 32]
    assert [i.nonce for i in intents] == ["aaaa0001"]
    assert [op["action"] for op in read_operations(entries, "orders")] == ["started"]
    warning = malformed_records(entries, "orders")
    assert "2 record(s) of job orders are malformed" in warning and bad[0] in warning
    assert malformed_records(JAR_STORE, "orders") is None


# --- savepoint history ---------------------------------------------------------------------

def test_the_savepoint_history_merges_the_log_and_flinks_list_newest_first():
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import savepoint_history, savepoints_named
    log = [{"action": "upgraded", "time": 300, "job_id": "j3", "previous_job_id": "j2", "savepoint": "file:/sp/2"},
           {"action": "stopped", "time": 200, "previous_job_id": "j1", "savepoint": "file:/sp/1"},
           {"action": "resumed", "time": 250, "job_id": "j2", "savepoint": "file:/sp/1"},
           {"action": "started", "time": 100, "job_id": "j1"}]
    named = savepoints_named(log)
    assert [(sp["path"], sp["job_id"]) for sp in named] == [("file:/sp/2", "j2"), ("file:/sp/1", "j1")]
    # A manual savepoint Flink lists, newer than the log's: first, never after the log's ones.
    listed = [{"path": "file:/sp/manual", "timestamp": 350000, "action": None, "job_id": "j3"},
              {"path": "file:/sp/2", "timestamp": 299500, "action": None, "job_id": "j2"}]
    merged = savepoint_history(log, listed)
    assert [sp["path"] for sp in merged] == ["file:/sp/manual", "file:/sp/2", "file:/sp/1"]
    assert merged[1]["action"] == "upgraded"
    # Disposed savepoints are not history any more.
    assert [sp["path"] for sp in savepoint_history(log, listed, lambda path: path == "file:/sp/2")] == \
        ["file:/sp/manual", "file:/sp/1"]


@pytest.mark.parametrize("text", ["short", "word " * 100, "x" * 400, "a, b; " * 80])
def test_a_logged_message_is_cut_at_a_word_boundary(text):
    """Issue 30: operation-log messages were cut mid-word."""
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import MESSAGE_CHARS, shortened
    cut = shortened(text, MESSAGE_CHARS)
    assert len(cut) <= MESSAGE_CHARS
    if len(text) <= MESSAGE_CHARS:
        assert cut == text
    else:
        assert cut.endswith(" ...")
        kept = cut[:-4]
        assert text.startswith(kept)
        # The cut falls between words (or, for one long word, inside it only as a last resort).
        assert text[len(kept)] in " ,;:" or " " not in text[:MESSAGE_CHARS]
