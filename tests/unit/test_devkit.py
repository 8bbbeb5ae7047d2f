# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dev package's pieces that need no Flink: the REST client, the recording proxy, the observers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from flinkops_devkit import flinkctl, hacluster
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.heartbeats import Heartbeats
from flinkops_devkit.observer import Flink, RunningObserver, all_running
from flinkops_devkit.rest import Rest, RestError, rest


class FakeFlink(BaseHTTPRequestHandler):
    """/jobs/overview answers one running job; /missing is a 404; every body is echoed."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.path == "/missing":
            status, answer = 404, {"errors": ["Not found: /missing"]}
        elif self.path == "/jobs/overview":
            status, answer = 200, {"jobs": [{"jid": "a" * 32, "name": "orders", "state": "RUNNING",
                                             "tasks": {"total": 2, "running": 2}}]}
        else:
            status, answer = 200, {"method": self.command, "path": self.path, "body": body}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer


@pytest.fixture(scope="module")
def url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFlink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_rest_returns_status_and_json_and_never_raises_on_an_error_status(url):
    echoed = {"method": "POST", "path": "/jars/x/run", "body": {"a": 1}}
    assert rest(url, "POST", "/jars/x/run", {"a": 1}) == (200, echoed)
    status, answer = rest(url, "GET", "/missing")
    assert status == 404 and answer["errors"]


def test_the_keep_alive_client_raises_on_an_error_status(url):
    with Rest(url) as client:
        assert client.call("PATCH", "/jobs/x?mode=cancel")["path"] == "/jobs/x?mode=cancel"
        assert client.get("/jobs/overview")["jobs"][0]["name"] == "orders"
        with pytest.raises(RestError) as failed:
            client.get("/missing")
    assert failed.value.status == 404 and "GET /missing -> 404" in str(failed.value)


def test_the_proxy_without_rules_forwards_and_records_every_request(url):
    with FaultProxy(url) as proxy:
        assert rest(proxy.url, "POST", "/jars/x/plan", {"p": 2})[1]["body"] == {"p": 2}
        assert rest(proxy.url, "GET", "/jobs/overview")[0] == 200
    assert proxy.seen == [("POST", "/jars/x/plan"), ("GET", "/jobs/overview")]


def test_the_observer_reads_through_the_devkit_client(url):
    flink = Flink(SimpleNamespace(url=url, jobs={"entry_class": "E"}))
    assert flink.the_running_job("orders")["jid"] == "a" * 32
    with pytest.raises(RestError):
        flink.get("/missing")


def test_running_gap_is_measured_between_the_samples_around_it():
    observer = RunningObserver("http://127.0.0.1:1", "orders")
    observer.samples = [(0.0, True), (1.0, False), (2.0, None), (3.0, False), (4.0, True)]
    assert observer.recovered()
    assert observer.gap() == pytest.approx(3.5 - 0.5)
    assert all_running({"state": "RUNNING", "tasks": {"total": 2, "running": 2}})
    assert not all_running({"state": "RUNNING", "tasks": {"total": 2, "running": 1}})


def test_heartbeats_are_read_per_tag_as_lines_complete(tmp_path):
    out = tmp_path / "flink-taskexecutor-0.out"
    out.write_text("FLINKOPS HB offset=2 ts=1000 version=v1 tag=a\nFLINKOPS HB offset=2 ts=1001 version=v2 tag=b\n"
                   "FLINKOPS HB offset=4 ts=2000 ver")
    beats = Heartbeats(SimpleNamespace(log_dir=tmp_path))
    assert beats.of("a") == [(2, 1000, "v1")]
    with out.open("a") as handle:
        handle.write("sion=v1 tag=a\n")
    assert beats.of("a") == [(2, 1000, "v1"), (4, 2000, "v1")]
    assert beats.wait("a", span_ms=1000, timeout=1) == beats.of("a")


def test_the_harness_keeps_its_api_and_finds_the_test_job_sources():
    assert flinkctl.resolve_version("2.3") == flinkctl.VERSIONS["2.3"]
    assert flinkctl.major("1.20") == 1
    for name in ("Cluster", "build_jobs", "provision", "rest", "upload_jar", "free_port", "ENTRY_CLASS"):
        assert hasattr(flinkctl, name), name
    assert flinkctl.provision.__module__ == "flinkops_devkit.provision"
    from flinkops_devkit.provision import JOBS_SRC  # pylint: disable=import-outside-toplevel
    assert (JOBS_SRC / "org" / "flinkops" / "testjob" / "StatefulJob.java").is_file()


def test_a_jobmanager_whose_dispatcher_cannot_recover_is_told_apart(tmp_path, monkeypatch):
    """A JobManager that died of Flink's failed HA recovery raises FlinkCannotRecover (the test
    rebuilds the cluster); one that died otherwise, a plain ClusterError."""
    cluster = hacluster.HaCluster("2.3", base_dir=tmp_path)
    cluster.rest_ports, cluster.jm_pids = [1, 2], [None, None]

    def refused(*args, **kwargs):
        raise OSError("refused")

    monkeypatch.setattr(hacluster, "rest", refused)
    log = cluster.jm_log_dir(0) / "flink-x-standalonesession-0-vm.log"
    log.parent.mkdir(parents=True)
    log.write_text("ERROR Could not start RpcEndpoint dispatcher_1.\n"
                   "\tat org.apache.flink.runtime.dispatcher.Dispatcher.onStart(Dispatcher.java:497)\n")
    with pytest.raises(hacluster.FlinkCannotRecover):
        cluster.wait_ready_jm(0, timeout=5)
    log.write_text("ERROR out of memory\n")
    with pytest.raises(hacluster.ClusterError) as died:
        cluster.wait_ready_jm(0, timeout=5)
    assert not isinstance(died.value, hacluster.FlinkCannotRecover)


def test_waiting_for_a_restore_reads_through_a_job_still_initializing(monkeypatch):
    """Flink answers 500 for a job whose JobMaster is not up yet: the wait goes on; any other
    error ends it."""
    flink = Flink(SimpleNamespace(url="http://flink.test", jobs={"entry_class": "x"}))
    initializing = {"errors": ["The requested operation is not available while the JobManager is initializing."]}
    answers = [RestError("GET", "/jobs/j/checkpoints", 500, initializing),
               {"latest": {"restored": {"external_path": "file:/sp"}}}]

    def checkpoints(job_id):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(flink, "checkpoints", checkpoints)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    assert flink.wait_restored("j")["external_path"] == "file:/sp"
    answers[:] = [RestError("GET", "/jobs/j/checkpoints", 404, {"errors": ["not found"]})]
    with pytest.raises(RestError):
        flink.wait_restored("j")
