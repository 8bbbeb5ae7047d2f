# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The modules as Ansible runs them, on a scripted Flink: options in, result out."""

from __future__ import annotations

import contextlib
import hashlib
import json

import pytest
from requests.adapters import HTTPAdapter

from ansible_collections.flinkops.flink.plugins.module_utils import _engine
from ansible_collections.flinkops.flink.plugins.module_utils._precheck import StateCheckHook
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployRequest
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_record_names
from ansible_collections.flinkops.flink.plugins.modules import (
    flink_cluster_info,
    flink_job,
    flink_job_info,
    flink_savepoint,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.conftest import (
    FlinkScript,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.unleased import Unleased
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils import memorystore
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    checkpoints,
    job,
    IN_PROGRESS,
    overview,
    savepoint_done,
)

try:  # ansible-core 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.18
    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args):
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        yield

URL = "http://flink.test:8081"
JID = "b" * 32


@pytest.fixture
def memory(monkeypatch):
    return memorystore.install(monkeypatch)


@pytest.fixture
def script(monkeypatch):
    fake = FlinkScript()
    monkeypatch.setattr(HTTPAdapter, "send", lambda adapter, request, **kw: fake.send(request, **kw))
    yield fake
    assert not fake.expected, [e.path for e in fake.expected]


def run(module, args, capsys):
    with patch_module_args(dict(args, url=args.get("url", URL))):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_every_flink_job_option_reaches_the_request():
    params = dict((option, "x") for option in flink_job.ARGUMENT_SPEC)
    request = flink_job.deploy_request(params)
    assert isinstance(request, DeployRequest) and request.jar_path == "x"
    # deadline bounds the run (the client's clock), not the job: the engine never reads it;
    # version names a recorded spec, turned into the job's options before the engine runs.
    assert set(flink_job.ARGUMENT_SPEC) - {"jar", "deadline", "version"} <= set(DeployRequest.__dataclass_fields__)


def test_flink_job_failure_reports_what_happened(script, capsys, tmp_path, monkeypatch):
    # The concurrency guard's records are covered in test_deployment_lease.py; the state
    # pre-check runs here.
    monkeypatch.setattr(_engine, "default_hooks", lambda: [StateCheckHook()])
    monkeypatch.setattr(_engine, "DeploymentLease", Unleased)
    jar = tmp_path / "j.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    sha = hashlib.sha256(jar.read_bytes()).hexdigest()
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("GET", "/jars", {"files": [{"id": "u_j-sha256-%s.jar" % sha[:16],
                                          "name": "j-sha256-%s.jar" % sha[:16]}]})
    script.on("GET", "/config", {"flink-version": "2.3.0"})
    script.on("POST", "/jars/.*/plan", {"plan": {}})
    # The state pre-check (_precheck): no completed checkpoint yet, so it warns and goes on.
    script.on("GET", "/jobs/%s/checkpoints" % JID, {"latest": {"completed": None}})
    spec = JobSpec("orders", "sha256:" + sha[:16])
    for _name in spec_record_names(spec, "u_j-sha256-%s.jar" % sha[:16]):
        script.on("POST", "/jars/upload", {"filename": "/x/u_flinkops-spec.jar"})
    script.on("POST", "/jobs/%s/stop" % JID, {"request-id": "t"})
    script.on("GET", "/jobs/%s/savepoints/t" % JID, savepoint_done(failure="IOException: full"))
    script.on("GET", "/jobs/overview", overview(job(JID)))  # still running after the failed stop
    result = run(flink_job, dict(name="orders", jar=str(jar), savepoint_dir="file:/sp"), capsys)
    assert result["failed"] and "the job was left as it is" in result["msg"]
    assert result["error"]["status"] == 200 and result["rolled_back"] is False
    assert result["action"] == "none" and result["savepoint"] is None
    assert result["changed"] is True  # the spec record was written
    assert result["state_check"]["outcome"] == "not_run"


@pytest.mark.parametrize("args, expected", [
    (dict(parallelism=0), "parallelism must be 1 or more"),
    (dict(wait_timeout=0), "wait_timeout must be between 1 and 86400"),
    (dict(health_window=5, wait=False), "health_window needs wait=true"),
    (dict(request_timeout=0), "request_timeout must be between 0 and 3600"),
    (dict(request_retries=11), "request_retries must be between 0 and 10"),
    (dict(ca_path="/nonexistent/ca.pem"), "ca_path: no readable file at /nonexistent/ca.pem"),
    (dict(url="ftp://flink"), "url must start with http:// or https://"),
    (dict(args=["--db-password", "hunter2-hunter2"], secret_args=["--db-pasword"]),
     "secret_args --db-pasword match no argument in args"),
    (dict(args=["a", "b"], secret_args=["2"]), "secret_args 2 match no argument in args"),
    (dict(state_store="mysql://u:p@db/x"), "unknown scheme 'mysql'"),
])
def test_flink_job_refuses_bad_options_before_any_request(script, capsys, args, expected):
    result = run(flink_job, dict(dict(name="orders", jar_id="j"), **args), capsys)
    assert result["failed"] and expected in result["msg"], result["msg"]
    assert not script.sent


def test_flink_job_info_says_which_jobs_are_active(script, capsys):
    script.on("GET", "/jobs/overview", overview(job(JID), job("c" * 32, state="FINISHED", end=3)))
    script.on("GET", "/jars", {"files": []})
    for jid in (JID, "c" * 32):
        script.on("GET", "/jobs/%s" % jid, {"vertices": []})
        script.on("GET", "/jobs/%s/checkpoints" % jid, checkpoints(
            savepoint={"external_path": "file:/%s" % jid[0], "latest_ack_timestamp": 1}))
    result = run(flink_job_info, dict(name="orders"), capsys)
    assert [j["active"] for j in result["jobs"]] == [True, False]
    assert result["latest_savepoint"]["job_id"] in (JID, "c" * 32)


def test_flink_job_info_gives_the_recorded_spec_when_flink_lists_no_run(script, capsys):
    """After a JobManager without HA restarted: no run listed; the records say which spec should
    run, and another upload of its JAR's content (the recorded one is gone) is found."""
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names

    spec = JobSpec("orders", "sha256:" + "a" * 16, "com.example.Orders", ["--in", "x"], 2)
    names = list(spec_record_names(spec, "gone_orders-sha256-%s.jar" % ("a" * 16)))
    for index, action in enumerate(("started", "upgraded")):
        names += operation_names("orders", {"time": 1000 + index, "action": action, "job_id": JID,
                                            "fingerprint": spec.fingerprint if action == "upgraded" else "0" * 16},
                                 now_ms=1_000_000 + index)
    names.append("orders-sha256-%s.jar" % ("a" * 16))
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", {"files": [{"id": "new_%s" % n, "name": n, "uploaded": 1} for n in names]})
    result = run(flink_job_info, dict(name="orders"), capsys)
    recorded = result["recorded_spec"]
    assert (recorded["args"], recorded["parallelism"], recorded["jar"]) == (["--in", "x"], 2, spec.jar)
    assert recorded["jar_on_cluster"] == "new_orders-sha256-%s.jar" % ("a" * 16)
    assert result["jobs"] == [] and result["operations"][0]["action"] == "upgraded"


def test_flink_savepoint_reuses_a_recent_savepoint(script, capsys):
    import time
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints(
        savepoint={"external_path": "file:/sp/1", "latest_ack_timestamp": int(time.time() * 1000)}))
    script.on("GET", "/jars", {"files": []})  # no disposal recorded for it
    result = run(flink_savepoint, dict(job_name="orders", max_age=600), capsys)
    assert result["location"] == "file:/sp/1" and not result["changed"]


def test_flink_savepoint_triggers_and_waits(script, capsys):
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("POST", "/jobs/%s/savepoints" % JID, {"request-id": "any"},
              check=lambda body: body["cancel-job"] is False or 1 / 0)
    script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % JID, savepoint_done("file:/sp/2"))
    script.on("GET", "/jars", {"files": []})  # no records of the job: not logged
    result = run(flink_savepoint, dict(job_name="orders"), capsys)
    assert result["location"] == "file:/sp/2" and result["changed"]


def test_flink_savepoint_of_several_jobs_triggers_every_stop_before_waiting(script, capsys):
    other = "c" * 32
    script.on("GET", "/jobs/overview", overview(job(JID), job(other, name="payments")))
    script.on("POST", "/jobs/%s/stop" % JID, {"request-id": "t1"})
    script.on("POST", "/jobs/%s/stop" % other, {"request-id": "t2"})
    script.on("GET", "/jobs/%s/savepoints/t1" % JID, IN_PROGRESS)
    script.on("GET", "/jobs/%s/savepoints/t1" % JID, savepoint_done("file:/sp/b"))
    script.on("GET", "/jobs/%s/savepoints/t2" % other, savepoint_done("file:/sp/c"))
    script.on("GET", "/jars", {"files": []})  # the records of both jobs, read once
    result = run(flink_savepoint, dict(job_ids=[JID, other], stop=True), capsys)
    assert result["changed"] and not result.get("failed")
    assert result["savepoints"] == [
        dict(job_id=JID, location="file:/sp/b", trigger_id="t1", error=None),
        dict(job_id=other, location="file:/sp/c", trigger_id="t2", error=None)]


def test_flink_savepoint_of_several_jobs_with_max_age_reads_the_jar_list_once(script, capsys):
    import time
    other = "c" * 32
    script.on("GET", "/jobs/overview", overview(job(JID), job(other, name="payments")))
    script.on("GET", "/jars", {"files": []})  # no disposal recorded; read once for both jobs
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints(
        savepoint={"external_path": "file:/sp/recent", "latest_ack_timestamp": int(time.time() * 1000)}))
    script.on("GET", "/jobs/%s/checkpoints" % other, checkpoints(
        savepoint={"external_path": "file:/sp/old", "latest_ack_timestamp": 1}))
    script.on("POST", "/jobs/%s/savepoints" % other, {"request-id": "any"})
    script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % other, savepoint_done("file:/sp/new"))
    script.on("GET", "/jars", {"files": []})  # the records, for the savepoint taken
    result = run(flink_savepoint, dict(job_ids=[JID, other], max_age=600), capsys)
    assert [(s["location"], bool(s["trigger_id"])) for s in result["savepoints"]] == [
        ("file:/sp/recent", False), ("file:/sp/new", True)]
    # once for the disposal marks of both jobs, once for the records after the waits
    assert script.calls().count("GET /jars") == 2


def test_flink_savepoint_of_several_jobs_fails_naming_each_failure_after_the_others(script, capsys):
    gone, finished = "d" * 32, "e" * 32
    script.on("GET", "/jobs/overview", overview(job(JID), job(finished, state="FINISHED")))
    script.on("POST", "/jobs/%s/stop" % JID, {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % JID, savepoint_done("file:/sp/b"))
    script.on("GET", "/jars", {"files": []})
    result = run(flink_savepoint, dict(job_ids=[gone, JID, finished], stop=True), capsys)
    assert result["failed"] and result["changed"]
    assert result["msg"].startswith("2 of 3 savepoints failed: job %s: no job with id %s" % (gone, gone))
    assert "job %s (orders) is FINISHED; a savepoint needs a RUNNING job" % finished in result["msg"]
    assert [(s["job_id"], s["location"]) for s in result["savepoints"]] == [
        (gone, None), (JID, "file:/sp/b"), (finished, None)]


def test_flink_savepoint_of_several_jobs_in_check_mode_only_reads(script, capsys):
    script.on("GET", "/jobs/overview", overview(job(JID)))
    result = run(flink_savepoint, dict(job_ids=[JID], stop=True, _ansible_check_mode=True), capsys)
    assert result["changed"] and result["savepoints"] == [
        dict(job_id=JID, location=None, trigger_id=None, error=None)]
    assert result["actions"] == ["stop job %s with a canonical savepoint" % JID]


def managed_orders(backend, actions=(("started", JID),)):
    """Job orders as flink_job leaves it in a durable store: its confirmation and its log."""
    from ansible_collections.flinkops.flink.plugins.module_utils._guard import confirmation_name
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names
    from ansible_collections.flinkops.flink.plugins.module_utils._records._state import MIGRATED, job_scope

    names = [MIGRATED, confirmation_name("orders", JID, "f" * 16)]
    for index, (action, job_id) in enumerate(actions):
        names += operation_names("orders", {"time": 1000 + index, "action": action, "job_id": job_id,
                                            "actor": "deployer", "fingerprint": "f" * 16},
                                 now_ms=1_000_000 + index)
    for name in names:
        backend.create(job_scope("orders"), name)
    return job_scope("orders")


@pytest.mark.parametrize("stop", [False, True])
def test_flink_savepoint_logs_a_savepoint_of_a_managed_job(script, capsys, memory, stop):
    """In the job name's operation log, where flink_job logs: the heal and flink_job_info's
    savepoints know it. A stop with a savepoint is logged as a stop (the job should not run;
    a deployment resumes from it)."""
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
        read_operations, resumable_state, savepoint_history, wanted_run)

    scope = managed_orders(memory)
    script.on("GET", "/jobs/overview", overview(job(JID)))
    if stop:
        script.on("POST", "/jobs/%s/stop" % JID, {"request-id": "t1"})
        script.on("GET", "/jobs/%s/savepoints/t1" % JID, savepoint_done("file:/sp/taken"))
    else:
        script.on("POST", "/jobs/%s/savepoints" % JID, {"request-id": "any"})
        script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % JID, savepoint_done("file:/sp/taken"))
    result = run(flink_savepoint, dict(name="orders", stop=stop, state_store="memory://test"), capsys)
    assert result["location"] == "file:/sp/taken"
    log = read_operations(memory.entries(scope), "orders")
    assert [entry["action"] for entry in log] == ["stopped" if stop else "savepoint", "started"]
    assert log[0]["savepoint"] == "file:/sp/taken" and log[0]["fingerprint"] == "f" * 16
    assert log[0]["previous_job_id" if stop else "job_id"] == JID and log[0]["actor"]
    assert savepoint_history(log, [])[0]["path"] == "file:/sp/taken"
    assert (wanted_run(log) is None) == stop
    assert resumable_state(log, set([JID])) == ((JID, "file:/sp/taken") if stop else None)


def test_flink_savepoint_logs_nothing_of_a_job_the_collection_did_not_deploy(script, capsys, memory):
    scope = managed_orders(memory)
    stranger = "c" * 32
    script.on("GET", "/jobs/overview", overview(job(stranger)))
    script.on("POST", "/jobs/%s/savepoints" % stranger, {"request-id": "any"})
    script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % stranger, savepoint_done("file:/sp/other"))
    result = run(flink_savepoint, dict(job_id=stranger, state_store="memory://test"), capsys)
    assert result["location"] == "file:/sp/other"
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
    assert [entry["action"] for entry in read_operations(memory.entries(scope), "orders")] == ["started"]


def test_flink_savepoint_whose_log_cannot_be_written_warns_and_returns_the_savepoint(
        script, capsys, memory, monkeypatch):
    from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import StoreError
    from ansible_collections.flinkops.flink.plugins.module_utils._records._state import FORMAT, FORMAT_SCOPE

    managed_orders(memory)
    memory.create(FORMAT_SCOPE, "flinkops-format-%d" % FORMAT)  # it opens; the log's write fails

    def refuse(scope, name, ephemeral=False):
        raise StoreError("memory://test is read-only")

    monkeypatch.setattr(memory, "create", refuse)
    # What the module warns (its result carries warnings only as ansible-core's global state lets it).
    warned = []
    warn = flink_savepoint.FlinkModule.warn
    monkeypatch.setattr(flink_savepoint.FlinkModule, "warn", lambda module, msg: warned.append(msg) or warn(module, msg))
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("POST", "/jobs/%s/savepoints" % JID, {"request-id": "any"})
    script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % JID, savepoint_done("file:/sp/taken"))
    result = run(flink_savepoint, dict(name="orders", state_store="memory://test"), capsys)
    assert not result.get("failed") and result["location"] == "file:/sp/taken"
    assert warned == ["the operation log of job orders could not be updated: memory://test is read-only"]


def test_flink_savepoint_dispose_of_a_missing_path_changes_nothing(script, capsys):
    script.on("POST", "/savepoint-disposal", {"request-id": "d"})
    script.on("GET", "/savepoint-disposal/d", savepoint_done(failure="FileNotFoundException"))
    script.on("GET", "/jars", {"files": []})
    script.on("POST", "/jars/upload", {"filename": "/x/y_flinkops-disposed-0.jar"})
    result = run(flink_savepoint, dict(state="absent", path="file:/gone"), capsys)
    assert result["disposed"] is False and not result["changed"] and result["actions"] == []


def test_flink_cluster_info(script, capsys):
    script.on("GET", "/config", {"flink-version": "2.3.0"})
    script.on("GET", "/overview", {"slots-total": 8})
    script.on("GET", "/jobmanager/config", [{"key": "execution.checkpointing.savepoint-dir",
                                             "value": "file:/sp"}])
    result = run(flink_cluster_info, dict(url=URL + "/", url_username="u",
                                          url_password="secret"), capsys)
    assert result["configuration"]["savepoint_dir"] == "file:/sp"
    assert "secret" not in json.dumps(result)


def test_a_password_in_the_url_is_never_returned(script, capsys):
    script.on("GET", "/config", {"errors": ["no"]}, status=500)
    result = run(flink_cluster_info, dict(url="http://admin:hunter2@flink.test:8081"), capsys)
    assert result["failed"] and "hunter2" not in json.dumps(result)


@pytest.mark.parametrize("max_age", [float("nan"), float("inf"), 0, -5])
def test_flink_savepoint_refuses_a_max_age_that_is_no_age(script, capsys, max_age):
    result = run(flink_savepoint, dict(job_name="orders", max_age=max_age), capsys)
    assert result["failed"] and "max_age must be a number of seconds more than 0" in result["msg"]
    assert not script.sent


def _history(sha_v1, sha_v2, v1_uploaded=True):
    """A JAR list holding job orders' records: version 1 started, version 2 upgraded to it."""
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names

    v1 = JobSpec("orders", "sha256:" + sha_v1[:16], None, ["--in", "x"], 2)
    v2 = JobSpec("orders", "sha256:" + sha_v2[:16], None, ["--in", "x"], 2)
    names = []
    for spec, sha in ((v1, sha_v1), (v2, sha_v2)):
        names += spec_record_names(spec, "u_orders-sha256-%s.jar" % sha[:16])
    for index, (action, spec) in enumerate((("started", v1), ("upgraded", v2))):
        names += operation_names("orders", {"time": 1000 + index, "action": action, "job_id": JID,
                                            "fingerprint": spec.fingerprint, "actor": "me@ci"},
                                 now_ms=1_000_000 + index)
    files = [{"id": "r%d" % i, "name": n, "uploaded": 1} for i, n in enumerate(names)]
    for sha in (sha_v1, sha_v2)[0 if v1_uploaded else 1:]:
        files.append({"id": "u_orders-sha256-%s.jar" % sha[:16], "name": "orders-sha256-%s.jar" % sha[:16],
                      "uploaded": 1})
    return v1, v2, {"files": files}


def test_flink_job_info_lists_the_versions_of_a_job(script, capsys):
    v1, v2, jars = _history("1" * 64, "2" * 64, v1_uploaded=False)
    script.on("GET", "/jobs/overview", overview())
    script.on("GET", "/jars", jars)
    result = run(flink_job_info, dict(name="orders"), capsys)
    assert [(v["version"], v["fingerprint"], v["outcome"]) for v in result["versions"]] == [
        (1, v1.fingerprint, "started"), (2, v2.fingerprint, "upgraded")]
    assert result["versions"][0]["jar_on_cluster"] is None
    assert result["versions"][1]["jar_on_cluster"] == "u_orders-sha256-%s.jar" % ("2" * 16)
    assert result["versions"][0]["spec"]["args"] == ["--in", "x"]
    assert result["versions"][0]["actor"] == "me@ci" and result["versions"][0]["first_applied"] == 1000
    script.on("GET", "/jobs/overview", overview())
    assert run(flink_job_info, dict(), capsys)["versions"] is None


def test_flink_job_deploys_a_version_as_the_plain_request_of_its_spec(script, capsys, monkeypatch):
    from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployResult

    v1, _v2, jars = _history("1" * 64, "2" * 64)
    script.on("GET", "/jars", jars)
    seen = []

    class Recorder:
        def __init__(self, client, request, changes, state=None):
            seen.append(request)
            self.warnings = []

        def run(self):
            result = DeployResult()
            result.update(action="upgraded", job_id=JID)
            result.diff = {}
            return result

    monkeypatch.setattr(flink_job, "Engine", Recorder)
    result = run(flink_job, dict(name="orders", version=1, upgrade_mode="last-state"), capsys)
    assert result["version"] == 1 and result["action"] == "upgraded", result
    request = seen[0]
    assert (request.jar_id, request.args, request.parallelism, request.upgrade_mode) == (
        "u_orders-sha256-%s.jar" % ("1" * 16), ["--in", "x"], 2, "last-state")


@pytest.mark.parametrize("args, expected", [
    (dict(version=3), "job orders has no recorded version 3 (its recorded versions: 1, 2)"),
    (dict(version=1, args=["--in", "y"]), "version cannot be combined with args"),
    (dict(version=1), "the JAR of version 1 of job orders (sha256:1111111111111111, uploaded as "
                      "orders-sha256-1111111111111111.jar) is not on the JobManager any more"),
])
def test_flink_job_refuses_a_version_it_cannot_deploy_before_any_change(script, capsys, args, expected):
    script.on("GET", "/jars", _history("1" * 64, "2" * 64, v1_uploaded=False)[2])
    result = run(flink_job, dict(name="orders", **args), capsys)
    assert result["failed"] and expected in result["msg"], result["msg"]
    assert not result["changed"] and script.calls() == ["GET /jars"]


@pytest.mark.parametrize("args", [dict(version=0), dict(version=1, state="stopped")])
def test_flink_job_refuses_a_version_that_is_no_version_number(script, capsys, args):
    result = run(flink_job, dict(name="orders", **args), capsys)
    assert result["failed"] and "version must be a version number (1 or more) with state=running" in result["msg"]
    assert not script.sent
