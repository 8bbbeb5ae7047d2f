# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The event source flinkops.flink.flink_jobs (issue 27): snapshots read from a scripted Flink,
events decided by the Watcher, the source's main() with a fake queue. No sleeps: main()'s
sleep is replaced, polls are counted."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re

import pytest
import requests

from ansible_collections.flinkops.flink.plugins import module_utils
from ansible_collections.flinkops.flink.plugins.module_utils import _watch
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import MIGRATED, StateStore, job_scope
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_record_names
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils import memorystore


URL = "http://flink.test:8081"  # the scripted Flink of conftest.py
SOURCE = os.path.join(os.path.dirname(list(module_utils.__path__)[0]), "..", "extensions", "eda",
                      "plugins", "event_source", "flink_jobs.py")
SPEC = JobSpec("orders", "sha256:" + "a" * 16, "com.example.Orders", ["--topic", "orders"], 1)
JOB_ID = SPEC.fingerprint + "0" * 16
OTHER_ID = "f" * 32


def load_source():
    spec = importlib.util.spec_from_file_location("flink_jobs_source", os.path.normpath(SOURCE))
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    return source


def overview(*jobs):
    listed = []
    for jid, name, state, start in jobs:
        job = {"jid": jid, "name": name, "state": state, "start-time": start, "end-time": -1,
               "tasks": {"total": 1, "running": 1}}
        listed.append(job)
    return {"jobs": listed}


def jars(*names):
    return {"files": [{"id": "x_%s" % name, "name": name, "uploaded": 1} for name in names]}


def records(actions):
    """Spec records of SPEC and an operation log (oldest first) of job orders."""
    names = list(spec_record_names(SPEC, "abc_orders-sha256-%s.jar" % ("a" * 16)))
    for index, (action, job_id) in enumerate(actions):
        names += operation_names("orders", {"time": 1000 + index, "action": action, "job_id": job_id,
                                            "actor": "tester@host", "fingerprint": SPEC.fingerprint},
                                 now_ms=1_000_000 + index)
    return names


def metrics(restarts):
    return [{"id": "numRestarts", "value": str(restarts)}]


def checkpoints(failed=0, ack=None, failure=None):
    latest = {"completed": {"id": 3, "latest_ack_timestamp": ack, "external_path": "file:/c/chk-3"}
              if ack else None, "failed": {"failure_message": failure} if failure else None}
    return {"counts": {"failed": failed, "completed": 3}, "latest": latest}


def exceptions(timestamp=9_995_500, labels=None):
    """Flink's /exceptions answer with one failure (2.x's shape; 1.18+ has it too)."""
    return {"exceptionHistory": {"entries": [{
        "exceptionName": "java.lang.IllegalStateException: boom",
        "stacktrace": "java.lang.RuntimeException: wrapped\n\tat A.b(A.java:1)\n"
                      "Caused by: java.lang.IllegalStateException: boom\n\tat C.d(C.java:2)",
        "timestamp": timestamp, "taskName": "Counter (1/1)", "failureLabels": labels or {}}]}}


def script_poll(script, jobs, restarts=0, failed=0, ack=None, failure=None, entries=None,
                failing=(), slots=None):
    """The requests one poll sends: the overview, per active job its metrics and checkpoints,
    per job in ``failing`` (a {job id: /exceptions answer}: those whose failure changed) its
    exceptions, ``/overview`` when ``slots`` is given, then the JAR list the records live in."""
    script.on("GET", "/jobs/overview", jobs)
    for job in jobs["jobs"]:
        if job["state"] in ("RUNNING", "RESTARTING"):
            script.on("GET", "/jobs/%s/metrics" % job["jid"], metrics(restarts))
            script.on("GET", "/jobs/%s/checkpoints" % job["jid"], checkpoints(failed, ack, failure))
        if job["jid"] in failing:
            script.on("GET", "/jobs/%s/exceptions" % job["jid"], dict(failing)[job["jid"]])
    if slots is not None:
        script.on("GET", "/overview", {"slots-available": slots[0], "slots-total": slots[1], "taskmanagers": slots[2]})
    if entries is not None:
        script.on("GET", "/jars", jars(*entries))


def watch(client, watcher, now_ms=10_000_000, names=("orders",), use_records=True, slots=False):
    state = StateStore(None, client) if use_records else None
    return watcher.step(_watch.observe(client, names, state, previous=watcher.jobs, slots=slots), now_ms)


def kinds(events):
    return [event["flink"]["kind"] for event in events]


@pytest.fixture
def watcher():
    return _watch.Watcher(URL, stale_after_s=60)


RUNNING = overview((JOB_ID, "orders", "RUNNING", 9_990_000))


def test_no_event_without_a_change(script, client, watcher):
    entries = records([("started", JOB_ID)])
    for _poll in range(3):
        script_poll(script, RUNNING, ack=9_999_000, entries=entries)
        assert watch(client, watcher) == []


def test_job_state_changed_names_the_job_and_its_recorded_spec(script, client, watcher):
    entries = records([("started", JOB_ID)])
    script_poll(script, RUNNING, ack=9_999_000, entries=entries)
    assert watch(client, watcher) == []
    script_poll(script, overview((JOB_ID, "orders", "RESTARTING", 9_990_000)), ack=9_999_000,
                entries=entries, failing={JOB_ID: exceptions()})
    events = watch(client, watcher)
    assert kinds(events) == ["job_state_changed", "root_exception"]
    flink = events[0]["flink"]
    assert (flink["name"], flink["job_id"], flink["previous_state"], flink["state"]) == (
        "orders", JOB_ID, "RUNNING", "RESTARTING")
    assert flink["fingerprint"] == SPEC.fingerprint and flink["managed"] is True
    assert flink["jar"] == SPEC.jar and flink["cluster"] == URL


def test_restart_and_failed_checkpoint_counts_that_rise(script, client, watcher):
    script_poll(script, RUNNING, restarts=1, failed=0, ack=9_999_000)
    assert watch(client, watcher, use_records=False) == []
    script_poll(script, RUNNING, restarts=2, failed=1, ack=9_999_000, failure="Checkpoint expired",
                failing={JOB_ID: exceptions()})
    events = watch(client, watcher, use_records=False)
    assert kinds(events) == ["job_restarted", "checkpoint_failed", "root_exception"]
    assert (events[0]["flink"]["restarts"], events[0]["flink"]["previous_restarts"]) == (2, 1)
    assert events[1]["flink"]["checkpoints_failed"] == 1
    assert events[1]["flink"]["checkpoint_failure"] == "Checkpoint expired"
    # The same counts again: nothing new.
    script_poll(script, RUNNING, restarts=2, failed=1, ack=9_999_000)
    assert watch(client, watcher, use_records=False) == []


def test_checkpoint_stale_once_per_last_checkpoint(script, client, watcher):
    script_poll(script, RUNNING, ack=9_999_000)
    assert watch(client, watcher, now_ms=10_000_000, use_records=False) == []
    script_poll(script, RUNNING, ack=9_999_000)
    events = watch(client, watcher, now_ms=10_070_000, use_records=False)
    assert kinds(events) == ["checkpoint_stale"]
    assert events[0]["flink"]["age_s"] == 71 and events[0]["flink"]["threshold_s"] == 60
    script_poll(script, RUNNING, ack=9_999_000)
    assert watch(client, watcher, now_ms=10_080_000, use_records=False) == []
    # A new checkpoint ends it; going stale again is a new event.
    script_poll(script, RUNNING, ack=10_085_000)
    assert watch(client, watcher, now_ms=10_090_000, use_records=False) == []
    script_poll(script, RUNNING, ack=10_085_000)
    assert kinds(watch(client, watcher, now_ms=10_200_000, use_records=False)) == ["checkpoint_stale"]


def test_a_managed_job_failed_is_missing(script, client, watcher):
    entries = records([("started", JOB_ID)])
    script_poll(script, RUNNING, ack=9_999_000, entries=entries)
    assert watch(client, watcher) == []
    failed = overview((JOB_ID, "orders", "FAILED", 9_990_000))
    script_poll(script, failed, entries=entries, failing={JOB_ID: exceptions()})
    events = watch(client, watcher)
    assert kinds(events) == ["job_state_changed", "root_exception", "managed_job_missing"]
    missing = events[2]["flink"]
    assert missing["name"] == "orders" and missing["expected_job_id"] == JOB_ID
    assert (missing["listed_job_id"], missing["listed_state"]) == (JOB_ID, "FAILED")
    assert missing["last_action"] == "started"
    script_poll(script, failed, entries=entries)
    assert watch(client, watcher) == []


def test_a_managed_job_flink_no_longer_lists_is_missing_at_the_first_poll(script, client, watcher):
    entries = records([("started", JOB_ID), ("upgraded", OTHER_ID)])
    script_poll(script, overview(), entries=entries)
    events = watch(client, watcher)
    assert kinds(events) == ["managed_job_missing"]
    assert events[0]["flink"]["expected_job_id"] == OTHER_ID
    assert events[0]["flink"]["listed_job_id"] is None


def test_a_stopped_job_is_not_missing(script, client, watcher):
    entries = records([("started", JOB_ID), ("stopped", None), ("refused", None)])
    script_poll(script, overview(), entries=entries)
    assert watch(client, watcher) == []


def test_ids_are_deterministic_across_activations(script, client):
    entries = records([("started", JOB_ID)])
    seen = []
    for _activation in range(2):
        fresh = _watch.Watcher(URL)
        script_poll(script, overview((JOB_ID, "orders", "FAILED", 9_990_000)), entries=entries,
                    failing={JOB_ID: exceptions()})
        seen.append([event["meta"]["uuid"] for event in watch(client, fresh)])
    # The failure and the missing job: the same two ids from both activations.
    assert seen[0] == seen[1] and len(set(seen[0])) == 2
    # Another job's failure is another id.
    assert _watch.event_id(URL, "managed_job_missing", "orders", OTHER_ID, 1000) not in seen[0]


def test_unreachable_then_reachable_once_each_and_jobs_compared_across_the_outage(script, client, watcher):
    script_poll(script, RUNNING, ack=9_999_000)
    assert watch(client, watcher, use_records=False) == []
    for _poll in range(2):
        script.on("GET", "/jobs/overview", requests.exceptions.ConnectionError("refused"))
        script.on("GET", "/jobs/overview", requests.exceptions.ConnectionError("refused"))
    down = watch(client, watcher, now_ms=10_010_000, use_records=False)
    assert kinds(down) == ["cluster_unreachable"]
    assert "cannot reach Flink" in down[0]["flink"]["error"]
    assert watch(client, watcher, now_ms=10_020_000, use_records=False) == []
    script_poll(script, overview((JOB_ID, "orders", "FAILED", 9_990_000)), failing={JOB_ID: exceptions()})
    back = watch(client, watcher, now_ms=10_030_000, use_records=False)
    assert kinds(back) == ["cluster_reachable", "job_state_changed", "root_exception"]
    assert back[0]["meta"]["uuid"] == _watch.event_id(URL, "cluster_reachable", 10_000_000)
    assert back[1]["flink"]["previous_state"] == "RUNNING"


def test_kinds_filter(script, client):
    only = _watch.Watcher(URL, kinds=["job_restarted"])
    script_poll(script, RUNNING, restarts=0)
    assert watch(client, only, use_records=False) == []
    script_poll(script, overview((JOB_ID, "orders", "RESTARTING", 9_990_000)), restarts=1,
                failing={JOB_ID: exceptions()})
    assert kinds(watch(client, only, use_records=False)) == ["job_restarted"]


def test_names_filter_reads_only_the_named_jobs(script, client, watcher):
    script.on("GET", "/jobs/overview", overview((JOB_ID, "orders", "RUNNING", 1), (OTHER_ID, "other", "RUNNING", 2)))
    script.on("GET", "/jobs/%s/metrics" % JOB_ID, metrics(0))
    script.on("GET", "/jobs/%s/checkpoints" % JOB_ID, checkpoints())
    snapshot = _watch.observe(client, ["orders"], None)
    assert list(snapshot["jobs"]) == [JOB_ID]


def test_should_run_reads_the_newest_decisive_entry():
    assert _watch.should_run([{"action": "refused"}, {"action": "failed"}, {"action": "resumed"}])
    assert not _watch.should_run([{"action": "started"}][:0])
    assert not _watch.should_run([{"action": "failed"}, {"action": "cancelled"}, {"action": "started"}])


# --------------------------------------------------------------------------- the source itself

def test_settings_from_args_and_the_flink_environment():
    source = load_source()
    env = {"FLINK_URL": "https://flink:8081", "FLINK_TOKEN": "s3cret", "FLINK_VALIDATE_CERTS": "false",
           "FLINK_STATE_STORE": "jobmanager", "FLINK_CA_PATH": "/ca.pem"}
    found = source.settings({"jobs": "orders, billing", "poll_interval": "2"}, env)
    assert found["url"] == "https://flink:8081" and found["bearer_token"] == "s3cret"
    assert found["validate_certs"] is False and found["ca_path"] == "/ca.pem"
    assert found["state_store"] == "jobmanager" and found["jobs"] == ["orders", "billing"]
    assert found["poll_interval"] == 2.0
    assert source.settings({"url": "http://other:8081"}, env)["url"] == "http://other:8081"
    with pytest.raises(ValueError, match="unknown option"):
        source.settings({"url": "http://x:1", "pol_interval": 1}, {})
    with pytest.raises(ValueError, match="mutually exclusive"):
        source.settings({"url": "http://x:1", "url_username": "u"}, {"FLINK_TOKEN": "t"})
    with pytest.raises(ValueError, match="url"):
        source.settings({}, {})


# DOCUMENTATION's types as JSON schema types (a path is text).
DOC_TYPES = {"str": "string", "path": "string", "bool": "boolean", "float": "number", "int": "integer",
             "list": "array", "dict": "object"}


def test_the_args_schema_and_documentation_name_the_same_options_of_the_same_types():
    import yaml

    source = load_source()
    documented = yaml.safe_load(source.DOCUMENTATION)["options"]
    schema = source.ARGS_SCHEMA["properties"]
    assert set(documented) == set(schema)
    for name, option in documented.items():
        types = schema[name]["type"]
        assert DOC_TYPES[option["type"]] in ([types] if isinstance(types, str) else types), name
        if "default" in option:
            assert source.DEFAULTS[name] == option["default"], name
        assert bool(option.get("required")) == (name in source.ARGS_SCHEMA["required"]), name
    assert set(source.DEFAULTS) | set(source.ENV) <= set(schema)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator.check_schema(source.ARGS_SCHEMA)


@pytest.mark.parametrize("args, message", [
    ({"poll_interval": "abc"}, "poll_interval must be a number$"),
    ({"poll_interval": "0"}, "poll_interval must be above 0$"),
    ({"poll_interval": -1}, "poll_interval must be above 0$"),
    ({"request_timeout": 0}, "request_timeout must be above 0$"),
    ({"checkpoint_stale_after": "-5"}, "checkpoint_stale_after must be a number$"),
    ({"slots_low_below": 1.5}, "slots_low_below must be a whole number$"),
    ({"slots_low_below": -1}, "slots_low_below must be 0 or more$"),
    ({"validate_certs": "ture"}, "validate_certs must be a boolean"),
    ({"records": ["yes"]}, "records must be a boolean"),
    ({"jobs": {"orders": 1}}, "jobs must be a list of names"),
    ({"kinds": ["job_restarted", 3]}, r"kinds must hold only text \(item 1 is not\)$"),
    ({"headers": ["X-Api-Key"]}, "headers must be a mapping"),
    ({"headers": {"X-Api-Key": 12345678}}, r"headers must hold only text \(item X-Api-Key is not\)$"),
    ({"url_password": 12345678}, "url_password must be text$"),
    ({"url": ""}, "set url \\(it is empty\\)$"),
    ({"pol_interval": 1, "jobs": "orders"}, r"unknown option\(s\) pol_interval \(known: bearer_token, "),
])
def test_bad_args_stop_the_source_naming_the_option_never_its_value(args, message):
    source = load_source()
    with pytest.raises(ValueError) as failure:
        source.settings(dict({"url": "http://x:1"}, **args), {})
    assert str(failure.value).startswith("flinkops.flink.flink_jobs: ")
    assert re.search(message, str(failure.value)), str(failure.value)
    assert "12345678" not in str(failure.value) and "ture" not in str(failure.value)


def test_every_wrong_option_is_named_at_once_and_text_forms_are_their_values():
    source = load_source()
    with pytest.raises(ValueError, match="poll_interval must be a number; records must be a boolean"):
        source.settings({"url": "http://x:1", "records": "maybe", "poll_interval": "soon"}, {})
    with pytest.raises(ValueError, match="validate_certs must be a boolean"):
        source.settings({"url": "http://x:1"}, {"FLINK_VALIDATE_CERTS": "perhaps"})
    found = source.settings({"url": "http://x:1", "records": "no", "report_initial": "True", "slots_low_below": "2",
                             "checkpoint_stale_after": "600", "request_timeout": 2.5}, {})
    assert (found["records"], found["report_initial"], found["slots_low_below"]) == (False, True, 2)
    assert (found["checkpoint_stale_after"], found["request_timeout"]) == (600.0, 2.5)


def test_the_source_uses_the_collections_client_with_tls_and_auth_options(tmp_path):
    source = load_source()
    options = source.settings({"url": "https://flink:8081", "url_username": "ops", "url_password": "pw",
                               "ca_path": str(tmp_path / "ca.pem"), "client_cert": "/c.pem",
                               "client_key": "/k.pem", "headers": {"X-Tenant": "t1"}}, {})
    client = source.make_client(options, source._import_collection()[0])
    assert isinstance(client, FlinkClient)
    assert client.session.auth == (b"ops", b"pw")
    assert client.session.verify == str(tmp_path / "ca.pem")
    assert client.session.cert == ("/c.pem", "/k.pem")
    assert client.session.headers["X-Tenant"] == "t1"
    insecure = source.make_client(source.settings({"url": "https://flink:8081", "validate_certs": False,
                                                   "bearer_token": "tok"}, {}), source._import_collection()[0])
    assert insecure.session.verify is False
    assert insecure.session.headers["Authorization"] == "Bearer tok"


def test_main_puts_only_new_events_on_the_queue_and_never_a_secret(script, clock, monkeypatch):
    source = load_source()
    options = source.settings({"url": "http://ops:pw-secret@flink.test:8081", "poll_interval": 1,
                               "records": False, "headers": {"X-Api-Key": "key-secret"}}, {})
    client = source.make_client(options, source._import_collection()[0])
    client.session.mount("http://", script)
    client.retries = 0
    script_poll(script, RUNNING, ack=9_999_000)
    script_poll(script, RUNNING, ack=9_999_000)
    script.on("GET", "/jobs/overview", requests.exceptions.ConnectionError("refused pw-secret key-secret"))
    script_poll(script, overview((JOB_ID, "orders", "CANCELED", 9_990_000)))

    class Stop(Exception):
        pass

    polls = []

    async def no_sleep(_seconds):
        polls.append(1)
        if len(polls) == 4:
            raise Stop()

    class Queue:
        def __init__(self):
            self.events = []

        async def put(self, event):
            self.events.append(event)

    poller = source.Poller(options, client=client)
    monkeypatch.setattr(source, "Poller", lambda _options: poller)
    monkeypatch.setattr(source.asyncio, "sleep", no_sleep)
    queue = Queue()
    with pytest.raises(Stop):
        asyncio.run(source.main(queue, {"url": "http://ops:pw-secret@flink.test:8081"}))
    assert kinds(queue.events) == ["cluster_unreachable", "cluster_reachable", "job_state_changed"]
    text = repr(queue.events)
    assert "pw-secret" not in text and "key-secret" not in text
    assert all(event["meta"]["uuid"] for event in queue.events)
    assert queue.events[0]["flink"]["cluster"] == "http://flink.test:8081"


def test_a_missing_episode_is_reported_once_even_if_a_run_came_and_went(script, client, watcher):
    """A heal's job that ran briefly and failed before its outcome was logged is the same episode
    (the same last logged operation): no second event with the same id."""
    entries = records([("started", JOB_ID)])
    script_poll(script, overview((JOB_ID, "orders", "FAILED", 1)), entries=entries,
                failing={JOB_ID: exceptions(timestamp=500)})
    assert kinds(watch(client, watcher)) == ["root_exception", "managed_job_missing"]
    script_poll(script, overview((OTHER_ID, "orders", "RUNNING", 9_995_000), (JOB_ID, "orders", "FAILED", 1)),
                entries=entries)
    assert kinds(watch(client, watcher)) == ["job_state_changed"]
    script_poll(script, overview((OTHER_ID, "orders", "FAILED", 9_995_000), (JOB_ID, "orders", "FAILED", 1)),
                entries=entries, failing={OTHER_ID: exceptions()})
    assert kinds(watch(client, watcher)) == ["job_state_changed", "root_exception"]
    # Once the failed heal is logged, it is a new episode.
    logged = records([("started", JOB_ID), ("failed", OTHER_ID)])
    script_poll(script, overview((OTHER_ID, "orders", "FAILED", 9_995_000), (JOB_ID, "orders", "FAILED", 1)),
                entries=logged)
    events = watch(client, watcher)
    assert kinds(events) == ["managed_job_missing"]
    assert events[0]["flink"]["last_action"] == "failed"


def test_root_exception_once_per_failure_with_its_root_cause_task_and_labels(script, client, watcher):
    script_poll(script, RUNNING, restarts=0, ack=9_999_000)
    assert watch(client, watcher, use_records=False) == []
    script_poll(script, RUNNING, restarts=1, ack=9_999_000,
                failing={JOB_ID: exceptions(timestamp=9_995_500, labels={"type": "user"})})
    events = watch(client, watcher, use_records=False)
    assert kinds(events) == ["job_restarted", "root_exception"]
    failure = events[1]["flink"]
    assert failure["root_cause"] == "java.lang.IllegalStateException: boom"
    assert failure["task"] == "Counter (1/1)" and failure["failure_labels"] == {"type": "user"}
    assert (failure["timestamp"], failure["restarts"], failure["name"]) == (9_995_500, 1, "orders")
    # Nothing changed: /exceptions is not read again (the script holds no such answer).
    script_poll(script, RUNNING, restarts=1, ack=9_999_000)
    assert watch(client, watcher, use_records=False) == []
    # A restart whose failure Flink has not recorded yet (the same newest one): no event.
    script_poll(script, RUNNING, restarts=2, ack=9_999_000, failing={JOB_ID: exceptions(timestamp=9_995_500)})
    assert kinds(watch(client, watcher, use_records=False)) == ["job_restarted"]
    script_poll(script, RUNNING, restarts=3, ack=9_999_000, failing={JOB_ID: exceptions(timestamp=9_998_000)})
    assert kinds(watch(client, watcher, use_records=False)) == ["job_restarted", "root_exception"]


def test_slots_low_once_while_it_lasts_and_again_after_it_ended(script, client):
    low = _watch.Watcher(URL, slots_low_below=2)
    polls = [((4, 8, 2), []), ((1, 8, 2), ["slots_low"]), ((1, 8, 2), []), ((0, 4, 1), ["slots_low"]),
             ((6, 8, 2), []), ((0, 4, 1), ["slots_low"])]
    ids = []
    for numbers, expected in polls:
        script_poll(script, overview(), slots=numbers)
        events = watch(client, low, use_records=False, slots=True)
        assert kinds(events) == expected, numbers
        ids += [event["meta"]["uuid"] for event in events]
    assert ids[1] == ids[2] != ids[0]  # the same condition again: the same id
    facts = events[0]["flink"]
    assert (facts["slots_available"], facts["slots_total"], facts["taskmanagers"], facts["threshold"]) == (0, 4, 1, 2)
    # Off by default: /overview is not read.
    script_poll(script, overview())
    assert watch(client, _watch.Watcher(URL), use_records=False) == []


def test_a_managed_job_lost_with_the_jobmanager_is_missing_with_a_durable_store(script, client):
    """A JobManager without HA restarted: Flink lists neither the job nor its JAR-store records;
    the durable store still says it should run. Watching every job (no names), the activation
    that saw it before reports it missing; a new one cannot name it (a store lists no names)."""
    source = load_source()
    backend = memorystore.MemoryBackend()
    for name in [MIGRATED] + records([("started", JOB_ID), ("upgraded", OTHER_ID)]):
        backend.create(job_scope("orders"), name)
    options = source.settings({"url": URL, "state_store": "memory://"}, {})
    before, fresh = source.Poller(options, client=client), source.Poller(options, client=client)
    for poller in (before, fresh):
        poller.state = StateStore(backend, client)
    script_poll(script, overview((OTHER_ID, "orders", "RUNNING", 9_990_000)), ack=9_999_000, entries=())
    assert before.poll(now_ms=10_000_000) == []
    script_poll(script, overview(), entries=())
    events = before.poll(now_ms=10_010_000)
    assert kinds(events) == ["managed_job_missing"]
    assert (events[0]["flink"]["expected_job_id"], events[0]["flink"]["last_action"]) == (OTHER_ID, "upgraded")
    assert events[0]["flink"]["fingerprint"] == SPEC.fingerprint
    script_poll(script, overview(), entries=())
    assert fresh.poll(now_ms=10_010_000) == []
    # Named, a new activation sees it too, with the same id.
    named = source.Poller(dict(options, jobs=["orders"]), client=client)
    named.state = StateStore(backend, client)
    script_poll(script, overview(), entries=None)
    assert [e["meta"]["uuid"] for e in named.poll(now_ms=10_020_000)] == [events[0]["meta"]["uuid"]]


def test_a_store_that_cannot_be_opened_is_a_warning_without_its_password(script, client, caplog):
    """The source keeps watching Flink (no managed-job facts) and never logs the store's secret."""
    source = load_source()
    options = source.settings({"url": URL, "state_store": "postgresql://flinkops:pw-store-secret@127.0.0.1:1/db",
                               "request_timeout": 2}, {})
    poller = source.Poller(options, client=client)
    script_poll(script, RUNNING, ack=9_999_000)
    with caplog.at_level("WARNING"):
        assert poller.poll(now_ms=10_000_000) == []
    assert "the records cannot be read" in caplog.text and "127.0.0.1" in caplog.text
    assert "pw-store-secret" not in caplog.text


@pytest.mark.parametrize("rulebook", ["self_heal.yml", "notify.yml", "savepoint_on_checkpoint_trouble.yml"])
def test_the_shipped_rulebooks_are_valid_for_ansible_rulebook(rulebook):
    """ansible-rulebook's own schema (what --rulebook checks first); the source's options and
    kinds they use exist. (Running them is tests/integration/test_heal.py's.)"""
    validators = pytest.importorskip("ansible_rulebook.validators")
    import yaml

    path = os.path.normpath(os.path.join(os.path.dirname(SOURCE), "..", "..", "rulebooks", rulebook))
    with open(path) as handle:
        data = yaml.safe_load(handle)
    validators.Validate.rulebook(data)
    source = load_source()
    for ruleset in data:
        for found in ruleset["sources"]:
            args = found["flinkops.flink.flink_jobs"]
            assert set(args) <= set(source.ARGS_SCHEMA["properties"])
            assert set(args.get("kinds", [])) <= set(_watch.KINDS)
