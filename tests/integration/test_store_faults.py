# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real-process faults during an upgrade with a durable state store, each of the three
backends (SeaweedFS for S3, ZooKeeper, PostgreSQL: the session's ``store_servers``, one
server per backend), on a dedicated single-JobManager cluster (first configured Flink version):

- the store's server stopped as the run starts: the run fails naming the store and changes
  nothing; once the store is back the same run upgrades;
- the store's server stopped at each step of an upgrade (before the stop, once the stop
  completed, once the new job was submitted, in the health window) and started again on the
  same port with its data: never two active jobs; the upgrade completes (the store is not
  needed between the stop and the submit) and its warnings say what was not recorded, or,
  should a run fail after its stop, its message names the savepoint to resume from; once the
  store is back a re-run leaves exactly one job whose state went on exactly once from the
  stop's savepoint (and a job already running the requested spec is not restarted);
- the run holding the deployment claim SIGKILLed once its stop completed (a second run takes
  over and resumes from that run's savepoint) or as it sends its stop (the old job runs on;
  the second run takes over once the store says the holder is gone: ZooKeeper expired the
  dead run's session, PostgreSQL lists its session no more, the S3 claim is past its expiry
  on the server's clock; S3 cannot see a writer die), and upgrades the old job;
- the JobManager (no HA) killed after the stop and restarted with an empty upload directory:
  with a store (ZooKeeper) the re-run resumes from the stop's savepoint; without one it must
  never start the job from empty state silently.

Facts come from Flink itself (flinkops_devkit.observer.Flink: /jobs/overview, what a job
restored from) and from the job's printed counts (each count exactly once per key)."""

from __future__ import annotations

import calendar
import email.utils
import json
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import ModuleRun, warnings_of
from flinkops_devkit.observer import Flink
from flinkops_devkit.pytest_plugin import configured_versions
from flinkops_devkit.stores import KINDS
from flinkops_devkit.zkserver import four_letter_word

# One worker for every HA-cluster and state-store suite: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")

# Each store request of a run waits this long for a stopped store (request_timeout).
REQUEST_TIMEOUT = 10
STOP = r"/jobs/[0-9a-f]+/stop$"
RUN = r"^/jars/.+/run$"


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def store_cluster():
    """A cluster of this file's own (first configured version): its JobManager is killed."""
    cluster = flinkctl.fault_cluster("store-faults", configured_versions()[0])
    with cluster:
        yield cluster


@pytest.fixture(params=KINDS)
def kind(request):
    """The backend under test: each test runs once per store."""
    return request.param


@pytest.fixture
def stores(store_servers, kind, monkeypatch):
    """The session's store servers (one per backend), the one under test started: the tests
    stop it in place and start it again (same port, same data; StoreServers.halt/resume).
    Module processes inherit this environment (the S3 credentials)."""
    store_servers.server(kind)
    for key, value in store_servers.env.items():
        monkeypatch.setenv(key, value)
    return store_servers


@pytest.fixture
def flink(store_cluster, stores, kind):
    """The dedicated cluster seen from outside; its jobs are cancelled after each test, and the
    store runs at the start and the end of each (a failed test may have left it stopped)."""
    stores.resume(kind)
    if not store_cluster.pids()["jobmanager"]:  # a failed test left it killed
        store_cluster.restart_jobmanager()
    observer = Flink(store_cluster)
    yield observer
    stores.resume(kind)
    try:
        observer.cancel_all_active()
    except Exception as exc:  # a test that left the JobManager down: nothing to cancel
        print("store-faults clean-up: %s" % exc)


SHORT = {"s3": "s3", "zookeeper": "zk", "postgresql": "pg"}
SCHEME = {"s3": "s3://", "zookeeper": "zookeeper://", "postgresql": "postgresql://"}


def job_name(kind, what):
    return "%s%s-%s" % (SHORT[kind], what, uuid.uuid4().hex[:6])


def store_url(stores, kind, name):
    """A URL of the test's own (an S3 prefix, a ZooKeeper chroot; PostgreSQL scopes by name)."""
    return stores.url(kind, name[-12:])


# --------------------------------------------------------------------------- helpers

class ActiveWatch(threading.Thread):
    """Polls /jobs/overview every 0.2 s while a test runs: every moment with two active jobs
    of the name is kept."""

    def __init__(self, flink, name):
        super().__init__(daemon=True)
        self.flink = flink
        self.name_ = name
        self.halt = threading.Event()
        self.doubles = []
        self.samples = 0

    def run(self):
        while not self.halt.wait(0.2):
            try:
                active = self.flink.active(self.name_)
            except Exception:  # the JobManager is down: nothing listed
                continue
            self.samples += 1
            if len(active) > 1:
                self.doubles.append([(job["jid"], job["state"]) for job in active])

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(10)

    def assert_never_two(self):
        assert self.samples > 0, "the watch never read the job list"
        assert not self.doubles, "two active jobs of %s at once: %s" % (self.name_, self.doubles[:3])


def start_v1(flink, module, name, **extra):
    params = dict(url=flink.url, name=name, jar=flink.jobs["stateful-v1"],
                  entry_class=flink.entry_class, args=["--name", name, "--tag", name, "--rate", "400"],
                  wait_timeout=300, request_timeout=REQUEST_TIMEOUT)
    params.update(extra)
    started = module("flink_job", params)
    assert not started.get("failed") and started["action"] == "started", started
    flink.wait_counts(name, "v1", minimum=2, timeout=120)
    return params, started["job_id"]


def wait_state(flink, job_id, states, timeout=120):
    deadline = time.time() + timeout
    while True:
        try:
            state = flink.state(job_id)
        except Exception:  # the JobManager is down
            state = None
        if state in states:
            return state
        assert time.time() < deadline, "job %s is %s, not %s, after %ss" % (job_id, state, states, timeout)
        time.sleep(0.2)


def stop_savepoints(flink, job_id):
    """The completed savepoints of job ``job_id`` on disk (the stop's, if it completed)."""
    return sorted(path for path in Path(flink.cluster.savepoint_dir).glob("savepoint-%s-*" % job_id[:6])
                  if (path / "_metadata").exists())


def same_location(one, other):
    """Flink writes a savepoint location as file:/x, file:///x or /x: compare the paths."""
    def path(location):
        text = str(location or "")
        for prefix in ("file://", "file:"):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        return "/" + text.lstrip("/")
    return bool(one) and bool(other) and path(one) == path(other)


def one_running(flink, name, timeout=180):
    """The single job of the name with every task RUNNING (never two on the way)."""
    deadline = time.time() + timeout
    while True:
        active = flink.active(name)
        assert len(active) <= 1, active
        if active and active[0]["state"] == "RUNNING" and \
                active[0]["tasks"]["running"] == active[0]["tasks"]["total"]:
            return active[0]
        assert time.time() < deadline, "no single running job %s: %s" % (name, [
            (job["jid"], job["state"]) for job in flink.jobs_named(name)])
        time.sleep(0.5)


def zk_ephemerals(zk):
    for line in four_letter_word("127.0.0.1", zk.port, "mntr").splitlines():
        if line.startswith("zk_ephemerals_count"):
            return int(line.split()[-1])
    return None


def pg_live_claims(pg):
    """Claims (ephemeral rows) whose writer's session PostgreSQL still lists: the same
    condition the backend applies (plugins/module_utils/_records/_postgresql.py, _ALIVE)."""
    import psycopg

    with psycopg.connect(pg.admin_url.rsplit("/", 1)[0] + "/" + pg.database, autocommit=True,
                         connect_timeout=10) as conn:
        return conn.execute(
            "SELECT count(*) FROM flinkops_records r WHERE r.owner_pid IS NOT NULL AND EXISTS ("
            "SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.owner_pid"
            " AND (a.backend_start IS NULL OR a.backend_start = r.owner_started))").fetchone()[0]


def s3_now(s3):
    """The S3 server's clock (its Date header), epoch seconds: a lease's expiry is judged on it."""
    answer = requests.head(s3.endpoint + "/", timeout=10)
    return calendar.timegm(email.utils.parsedate_tz(answer.headers["Date"])[:9])


def live_claims(stores, kind):
    """What the store itself says of runs' claims (None for S3: it cannot tell a live writer)."""
    server = stores.server(kind)
    if kind == "zookeeper":
        return zk_ephemerals(server)
    if kind == "postgresql":
        return pg_live_claims(server)
    return None


def wait_dead_holders_gone(stores, kind, timeout=60):
    """Until the store lists no live claim: ZooKeeper expired the sessions of runs that ended
    while it was down, PostgreSQL's sessions ended with its restart. S3 keeps a claim until its
    expiry (its payload's ttl, on the server's clock): nothing to wait for. No other client
    uses the store between runs."""
    if kind == "s3":
        return
    deadline = time.time() + timeout
    while live_claims(stores, kind) != 0:
        assert time.time() < deadline, "%s still lists %s live claims" % (kind, live_claims(stores, kind))
        time.sleep(0.5)


EXPIRY = re.compile(r"at the latest until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def claim_expiry(message):
    """The epoch second a refused run says the holder's claim lasts until (the store's clock)."""
    found = EXPIRY.search(message or "")
    assert found, "the refusal does not say until when the claim holds: %s" % message
    return calendar.timegm(time.strptime(found.group(1), "%Y-%m-%d %H:%M:%S"))


def show(label, result):
    print("%s: %s" % (label, json.dumps({k: result.get(k) for k in (
        "failed", "action", "msg", "job_id", "previous_job_id", "savepoint", "restored_from",
        "rolled_back", "_rc")}, default=str)))
    for warning in warnings_of(result):
        print("  warning: %s" % warning)


def assert_carried_exactly_once(flink, name, job_id, savepoint):
    """The running job restored from ``savepoint`` (Flink's word) and each key's counts went
    on exactly once across every version."""
    restored = flink.wait_restored(job_id, timeout=60)
    assert restored["is_savepoint"] and same_location(restored["external_path"], savepoint), \
        (restored, savepoint)
    flink.wait_counts(name, "v2", minimum=2, timeout=120)
    flink.assert_exactly_once(name)


# --------------------------------------------------------------------------- 1. the store stopped mid-upgrade

def test_the_store_unreachable_as_the_run_starts(flink, stores, kind, module):
    """The store down before the run (opened before any claim or stop): the run fails naming
    the store, the old job runs on untouched (no stop, no savepoint, no second job); once the
    store is back the same run upgrades, state exactly once."""
    name = job_name(kind, "stop-start")
    params, old_id = start_v1(flink, module, name, state_store=store_url(stores, kind, name))
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    with ActiveWatch(flink, name) as watch:
        stores.halt(kind)
        first = module("flink_job", v2)
        show("store stopped at the start: first run", first)
        assert first.get("failed"), first
        assert "Traceback" not in json.dumps(first), first
        # The store named (its URL without credentials), and that it was out of reach.
        assert SCHEME[kind] in first["msg"], first["msg"]
        assert "could not be reached" in first["msg"] or "could not connect" in first["msg"], first["msg"]
        assert flink.the_running_job(name)["jid"] == old_id
        assert stop_savepoints(flink, old_id) == [] and len(flink.jobs_named(name)) == 1, \
            flink.jobs_named(name)

        stores.resume(kind)
        wait_dead_holders_gone(stores, kind)
        rerun = module("flink_job", v2)
        show("store back: re-run", rerun)
        assert not rerun.get("failed"), rerun["msg"]
        assert rerun["action"] == "upgraded" and rerun["previous_job_id"] == old_id, rerun
        assert one_running(flink, name)["jid"] == rerun["job_id"]
        assert_carried_exactly_once(flink, name, rerun["job_id"], rerun["savepoint"])
    watch.assert_never_two()


MOMENTS = ["before-the-stop", "after-the-stop", "after-the-submit", "in-the-health-window"]


def _stop_store_when(proxy, flink, stores, kind, moment, name, old_id):
    """Install the proxy rule that stops the store's server at ``moment``; returns an Event set
    once it is stopped."""
    stopped = threading.Event()

    def stop_store():
        stores.halt(kind)
        assert not stores.serving(kind)
        stopped.set()

    if moment == "before-the-stop":
        # The rule's hook runs before the stop request is forwarded: Flink has not seen it yet.
        proxy.add("POST", STOP, "stall:0", 1, hook=stop_store)
    elif moment == "after-the-stop":
        # Once the stop's savepoint is complete and the old job FINISHED (the module learns it
        # by polling), in a thread of its own so that the stop's answer is not delayed.
        def after_finished():
            wait_state(flink, old_id, ("FINISHED",))
            stop_store()
        proxy.add("POST", STOP, "forward", 1,
                  hook=lambda: threading.Thread(target=after_finished, daemon=True).start())
    elif moment == "after-the-submit":
        # The run request was answered by Flink: the new job exists.
        proxy.add("POST", RUN, "forward", 1, hook=stop_store)
    else:
        # The new job runs and is watched for health_window (10 s): stop 4 s into it.
        def in_window():
            deadline = time.time() + 120
            while not [job for job in flink.jobs_named(name, ("RUNNING",)) if job["jid"] != old_id and
                       job["tasks"]["running"] == job["tasks"]["total"]]:
                assert time.time() < deadline, "the new job never ran"
                time.sleep(0.2)
            time.sleep(4)
            stop_store()
        proxy.add("POST", RUN, "forward", 1,
                  hook=lambda: threading.Thread(target=in_window, daemon=True).start())
    return stopped


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_store_unreachable_at_a_step_of_the_upgrade(flink, stores, kind, module, moment):
    name = job_name(kind, "stop-" + "".join(word[0] for word in moment.split("-")))
    store = store_url(stores, kind, name)
    params, old_id = start_v1(flink, module, name, state_store=store)
    v2 = dict(params, jar=flink.jobs["stateful-v2"], health_window=10)
    with ActiveWatch(flink, name) as watch:
        with FaultProxy(flink.url) as proxy:
            stopped = _stop_store_when(proxy, flink, stores, kind, moment, name, old_id)
            first = module("flink_job", dict(v2, url=proxy.url))
        assert stopped.wait(60), "the store was never stopped"
        show("store stopped %s: first run" % moment, first)
        assert "Traceback" not in json.dumps(first), first
        assert flink.state(old_id) == "FINISHED", flink.jobs_named(name)
        written = stop_savepoints(flink, old_id)
        assert len(written) == 1, written
        savepoint = first.get("savepoint")
        assert savepoint and same_location(savepoint, written[0]), (first, written)
        if first.get("failed"):
            # The old job stopped: the message must say where its state is.
            assert savepoint in first["msg"] or written[0].name in first["msg"], first["msg"]
            assert flink.active(name) == [], "the run failed, yet a job runs: %s" % flink.active(name)
        else:
            assert first["action"] == "upgraded" and first["previous_job_id"] == old_id, first
            assert same_location(first["restored_from"], savepoint), first
            assert one_running(flink, name)["jid"] == first["job_id"]
            # Honest: the records the store could not take are named in a warning.
            assert any("could not" in warning and SCHEME[kind] in warning
                       for warning in warnings_of(first)), warnings_of(first)
            assert_carried_exactly_once(flink, name, first["job_id"], savepoint)

        stores.resume(kind)
        wait_dead_holders_gone(stores, kind)
        rerun = module("flink_job", v2)
        show("store back: re-run", rerun)
        assert not rerun.get("failed"), rerun["msg"]
        running = one_running(flink, name)
        assert running["jid"] == rerun["job_id"]
        if first.get("failed"):
            # The re-run finishes the upgrade from that very savepoint.
            assert rerun["action"] in ("resumed", "upgraded"), rerun
            assert same_location(rerun["restored_from"], savepoint), (rerun, savepoint)
            assert_carried_exactly_once(flink, name, running["jid"], savepoint)
        else:
            # Whatever the re-run did, the state went on exactly once...
            flink.wait_counts(name, "v2", minimum=4, timeout=120)
            flink.assert_exactly_once(name)
            # ...and the requested spec ran already: no restart for a no-op.
            assert rerun["action"] == "none" and rerun["job_id"] == first["job_id"], \
                "the job running the requested spec was restarted for nothing: %s" % rerun
    watch.assert_never_two()


# --------------------------------------------------------------------------- 2. the claim's holder killed

@pytest.mark.parametrize("kill_at", ["after-its-stop", "before-its-stop"])
def test_the_run_holding_the_claim_killed(flink, stores, kind, module, kill_at):
    """The run is SIGKILLed holding its claim: as it submits the new version (its stop
    completed), or as it sends its stop (the old job runs on). A second run started right
    after the kill may be told another deployment is in progress and change nothing; it takes
    over once the store says the holder is gone, and never before that is refused:

    - ZooKeeper (session_timeout=4): the claim is an ephemeral node, gone once ZooKeeper
      expired the dead run's session;
    - PostgreSQL: the claim row names its writer's session, dead once the server lists that
      session no more (at once: the backend ends with the killed run's connection);
    - S3 has no sessions: the claim is a lease the run renewed (``_lease``), taken over once it
      has not been renewed for a lease (10 s, on the server's clock), long before its expiry
      (the run's ttl, which the refusal names). Before the lease, a killed run's S3 claim held
      the job until that expiry while the old job ran on (issue 25).

    Any store's claim is taken over a lease after the kill at the latest. The second run resumes from the killed run's savepoint, or upgrades the old job from
    a savepoint of its own."""
    name = job_name(kind, "kill-" + kill_at.split("-")[0])
    store = store_url(stores, kind, name)
    params, old_id = start_v1(flink, module, name, state_store=store)
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    held = threading.Event()
    with ActiveWatch(flink, name) as watch:
        with FaultProxy(flink.url) as proxy:
            proxy.add("POST", RUN if kill_at == "after-its-stop" else STOP, "hold", hook=held.set)
            # Short timeouts: the claim's ttl (what S3 goes by) is 5 + 2 x 5 + 120 s.
            killed = ModuleRun(dict(v2, url=proxy.url, savepoint_timeout=5, wait_timeout=5), "run-killed")
            deadline = time.time() + 300
            while not held.wait(1) and killed.proc.poll() is None:
                assert time.time() < deadline, "the run never reached the step"
            assert held.is_set(), killed.result()
            killed.kill()
        killed_at = time.time()
        written = stop_savepoints(flink, old_id)
        if kill_at == "after-its-stop":
            assert flink.state(old_id) == "FINISHED"
            assert len(written) == 1, written
            assert flink.active(name) == []
        else:
            assert written == [] and flink.the_running_job(name)["jid"] == old_id

        attempts = []
        expiry = None  # S3: until when the refused runs say the claim holds (server clock)
        deadline = time.time() + (300 if kind == "s3" else 120)
        while True:
            # What the store says before the attempt: the killed run's claim live, or gone.
            if kind == "s3":
                # After its stop the grace frees any store's claim: S3's expiry matters before it.
                gone = expiry is not None and s3_now(stores.server(kind)) > expiry
                before = "server clock past the expiry" if gone else "claim unexpired"
            else:
                before = live_claims(stores, kind)
                gone = before == 0
            result = module("flink_job", v2)
            refused = bool(result.get("failed")) and "another deployment" in result["msg"]
            attempts.append((round(time.time() - killed_at, 1), before,
                             (result.get("msg") or result.get("action"))[:80]))
            if not refused:
                break
            assert not gone, "the store says the holder is gone, yet the run was refused: %s" % attempts
            assert "changed nothing" in result["msg"] or "nothing was changed" in result["msg"], result["msg"]
            # Who holds it, until when, and how to release it (in the store the run uses).
            assert "run-killed" in result["msg"] and "delete the entries" in result["msg"], result["msg"]
            assert SCHEME[kind] in result["msg"], result["msg"]
            if kill_at == "after-its-stop":
                assert flink.active(name) == []
            else:
                assert flink.the_running_job(name)["jid"] == old_id
            assert time.time() < deadline, attempts
            if kind == "s3":
                expiry = claim_expiry(result["msg"])
            time.sleep(1)
        print("takeover after the kill (seconds, the store before the attempt, outcome): %s" % attempts)
        if kind == "s3":
            # S3 cannot tell its holder died: the lease did, long before the claim's expiry.
            assert expiry is None or s3_now(stores.server(kind)) < expiry, (expiry, attempts)
        show("second run", result)
        assert not result.get("failed"), result["msg"]
        assert result["previous_job_id"] == old_id, result
        if kill_at == "after-its-stop":
            assert result["action"] == "resumed", result
            assert same_location(result["restored_from"], written[0]), (result, written)
            savepoint = written[0].as_uri()
        else:
            assert result["action"] == "upgraded", result
            savepoint = result["savepoint"]
            assert same_location(result["restored_from"], savepoint), result
            assert [path.name for path in stop_savepoints(flink, old_id)] == [savepoint.rsplit("/", 1)[-1]]
        running = one_running(flink, name)
        assert running["jid"] == result["job_id"]
        assert_carried_exactly_once(flink, name, running["jid"], savepoint)
    watch.assert_never_two()


# --------------------------------------------------------------------------- 3. the JobManager killed, upload dir lost

def _restart_jobmanager_with_empty_upload_dir(cluster):
    cluster.kill_jobmanager()
    uploads = Path(cluster.base_dir) / "uploads"
    for entry in uploads.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    cluster.restart_jobmanager()


@pytest.mark.parametrize("kind", ["zookeeper"])  # the store is not the fault here: one backend
@pytest.mark.parametrize("with_store", [True, False], ids=["with-store", "without-store"])
def test_jobmanager_killed_after_the_stop_and_restarted_empty(flink, stores, kind, module, with_store):
    """No HA: the JobManager dies once the stop's savepoint is complete (as the new version is
    submitted) and comes back with no jobs and an empty upload directory. With a durable store
    the re-run resumes from exactly that savepoint; without one the job's history is gone with
    the upload directory, and the re-run must still never start it from empty state silently."""
    name = "jmkill-%s-%s" % ("store" if with_store else "nostore", uuid.uuid4().hex[:6])
    extra = dict(state_store=store_url(stores, kind, name)) if with_store else {}
    params, old_id = start_v1(flink, module, name, **extra)
    v2 = dict(params, jar=flink.jobs["stateful-v2"])
    cluster = flink.cluster
    with FaultProxy(flink.url) as proxy:
        # Before the run request is forwarded: the stop completed, nothing new was submitted.
        proxy.add("POST", RUN, "stall:0", 1, hook=cluster.kill_jobmanager)
        first = module("flink_job", dict(v2, url=proxy.url, request_timeout=5, request_retries=2))
    show("JobManager killed after the stop: first run", first)
    assert first.get("failed"), first
    assert "Traceback" not in json.dumps(first), first
    savepoint = first.get("savepoint")
    written = stop_savepoints(flink, old_id)
    assert len(written) == 1 and same_location(savepoint, written[0]), (first, written)
    # Checked last, so that a failure here still shows what the re-run does.
    unsaid = [] if savepoint in first["msg"] else [
        "the failure does not say that job %s stopped with savepoint %s: %s" % (old_id, savepoint, first["msg"])]
    if not with_store and "savepoint_path set to %s" % savepoint not in first["msg"]:
        # Only this message will still know the savepoint once the JobManager restarts empty.
        unsaid.append("without a store the failure does not say to deploy with savepoint_path set to %s: %s" % (
            savepoint, first["msg"]))

    _restart_jobmanager_with_empty_upload_dir(cluster)
    assert flink.jobs_named(name) == [] and flink.jar_names() == []
    rerun = module("flink_job", v2)
    show("JobManager back, empty: re-run", rerun)
    assert "Traceback" not in json.dumps(rerun), rerun
    active = flink.active(name)
    print("Flink lists: %s" % [(job["jid"], job["state"]) for job in flink.jobs_named(name)])
    if with_store:
        assert not rerun.get("failed"), rerun["msg"]
        assert rerun["action"] == "resumed", rerun
        assert same_location(rerun["restored_from"], savepoint), (rerun, savepoint)
        assert any(savepoint in warning for warning in warnings_of(rerun)), warnings_of(rerun)
        running = one_running(flink, name)
        assert running["jid"] == rerun["job_id"]
        assert_carried_exactly_once(flink, name, running["jid"], savepoint)
    elif rerun.get("failed"):
        # Refused: nothing started, and the message says where the state is.
        assert active == [], active
        assert savepoint in rerun["msg"], rerun["msg"]
    elif rerun.get("restored_from"):
        # Started: only from the stop's savepoint.
        assert rerun["action"] == "resumed" and same_location(rerun["restored_from"], savepoint), rerun
        running = one_running(flink, name)
        assert_carried_exactly_once(flink, name, running["jid"], savepoint)
    else:
        # Without a durable store every record went with the upload directory: nothing on the
        # cluster remembers the job, so the run cannot know it ran before. It must not be
        # silent: its warning says what is at stake and names state_store (the fix).
        assert rerun["action"] == "started", rerun
        said = [w for w in warnings_of(rerun) if "starts from empty state" in w]
        assert said and "state_store" in said[0] and "savepoint_path" in said[0], warnings_of(rerun)
    assert requests.get(flink.url + "/overview", timeout=10).json()["taskmanagers"] >= 1
    assert not unsaid, unsaid[0]
