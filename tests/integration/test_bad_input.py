# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input against real clusters: every case fails with a message that names the problem
(method, URL, status and Flink's own text when Flink answered with an error), and leaves the
cluster as it was: the running job untouched, no job started, no JAR uploaded."""

from __future__ import annotations

import shutil
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import run_module
from flinkops_devkit.observer import Flink
from test_security import make_ca, make_cert

# Module-scoped fixtures (a cluster, a proxy, a started job): under pytest-xdist the whole
# module runs on one worker, so they start once.
pytestmark = pytest.mark.xdist_group("test_bad_input")

ZEROS = "sha256:" + "0" * 64


class Victim:
    """A job that runs through all the bad-input cases and must never be touched."""

    def __init__(self, flink, prefix):
        self.flink = flink
        self.prefix = prefix
        self.name = prefix + "-victim"
        self.params = dict(url=flink.url, name=self.name, jar=flink.jobs["stateful-v1"],
                           entry_class=flink.entry_class,
                           args=["--name", self.name, "--tag", self.name, "--rate", "100"])
        self.job_id = None
        self.savepoint = None

    def snapshot(self):
        jobs = sorted((job["jid"], job["name"], job["state"])
                      for job in self.flink.get("/jobs/overview")["jobs"]
                      if job["name"].startswith(self.prefix))
        return jobs, self.flink.jar_names()


@pytest.fixture(scope="module")
def victim(flink_cluster):
    flink = Flink(flink_cluster)
    v = Victim(flink, "bad-%s" % uuid.uuid4().hex[:6])
    started = run_module("flink_job", v.params)
    assert started["action"] == "started", started
    v.job_id = started["job_id"]
    # A second job whose name shares the prefix: "a name matching several jobs".
    twin = dict(v.params, name=v.prefix + "-twin", args=["--name", v.prefix + "-twin", "--rate", "100"])
    assert run_module("flink_job", twin)["action"] == "started"
    # A savepoint of the victim (the job keeps running) for the restore cases.
    sp = run_module("flink_savepoint", dict(url=flink.url, job_id=v.job_id))
    assert sp["location"], sp
    v.savepoint = sp["location"]
    yield v
    for job in flink.get("/jobs/overview")["jobs"]:
        if job["name"].startswith(v.prefix) and job["state"] in ("RUNNING", "CREATED", "RESTARTING",
                                                                 "INITIALIZING"):
            flinkctl.rest(flink.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """A loopback HTTPS endpoint with a private CA that requires a client certificate."""
    d = tmp_path_factory.mktemp("badpki")
    make_ca(d, "ca")
    make_cert(d, "server", "ca", server=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(d / "server.pem"), str(d / "server.key"))
    context.load_verify_locations(str(d / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": "https://127.0.0.1:%d" % server.server_address[1], "ca": str(d / "ca.pem")}
    server.shutdown()
    server.server_close()


def _text_file(tmp_path):
    path = tmp_path / "not-a.jar"
    path.write_text("this is a text file, not a JAR\n")
    return str(path)


def _corrupt_savepoint(tmp_path):
    directory = tmp_path / ("corrupt-%s" % uuid.uuid4().hex[:6])
    directory.mkdir()
    (directory / "_metadata").write_bytes(b"\x00\x01 not a savepoint")
    return directory.as_uri()


def _truncated_savepoint(victim, tmp_path):
    """The victim's savepoint with its _metadata cut in half (a copy: the real one stays)."""
    source = victim.savepoint.replace("file:", "", 1)
    directory = tmp_path / ("truncated-%s" % uuid.uuid4().hex[:6])
    shutil.copytree(source, directory)
    data = (directory / "_metadata").read_bytes()
    (directory / "_metadata").write_bytes(data[:len(data) // 2])
    return directory.as_uri()


def _unwritable_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return (blocker / "savepoints").as_uri()


# Each case: (id, module, params(v, ctx) -> dict, expected fragments of msg, strict)
# strict: the snapshot (jobs with the prefix, uploaded JARs) is identical afterwards, and the
# result says changed=false. "triggered": the snapshot is identical, but a request that asks
# for a change was sent (a savepoint trigger), so changed=true is honest.
# not strict: Flink itself records a failed submission (a FAILED job with 0 tasks) and the
# module recorded the spec; still no active job of that name and the victim untouched.
CASES = [
    ("missing-jar-file", "flink_job", lambda v, c: dict(v.params, jar="/nonexistent/job.jar"),
     ["JAR file /nonexistent/job.jar does not exist"], True),
    ("non-jar-file-flink_job", "flink_job", lambda v, c: dict(v.params, jar=_text_file(c["tmp"])),
     ["is not a JAR file"], True),
    ("non-jar-file-flink_jar", "flink_jar", lambda v, c: dict(url=v.flink.url, src=_text_file(c["tmp"])),
     ["is not a JAR file", "ZIP"], True),
    ("wrong-checksum", "flink_jar", lambda v, c: dict(url=v.flink.url, src=v.flink.jobs["stateful-v2"],
                                                      src_checksum=ZEROS),
     ["checksum mismatch", "nothing was uploaded"], True),
    ("malformed-checksum", "flink_jar", lambda v, c: dict(url=v.flink.url, src=v.flink.jobs["stateful-v1"],
                                                          src_checksum="md5:abc"),
     ["src_checksum must look like sha256:<64 hex characters>"], True),
    ("unknown-entry-class", "flink_job", lambda v, c: dict(v.params, entry_class="org.example.NoSuchMain"),
     ["POST", "/plan", "HTTP 500", "ClassNotFoundException", "org.example.NoSuchMain"], True),
    ("throws-in-main", "flink_job", lambda v, c: dict(v.params, args=v.params["args"] + ["--variant", "throw-in-main"]),
     ["POST", "/plan", "HTTP 500", "main failed on purpose"], True),
    ("savepoint-path-missing", "flink_job", lambda v, c: dict(v.params, name=v.prefix + "-nosp",
                                                              savepoint_path="file:///nonexistent/savepoint-1"),
     ["POST", "/run", "HTTP 400", "/nonexistent/savepoint-1"], False),
    ("renamed-operator-without-allow-non-restored", "flink_job",
     lambda v, c: dict(v.params, name=v.prefix + "-renamed", jar=v.flink.jobs["stateful-incompatible"],
                       savepoint_path=v.savepoint),
     ["POST", "/run", "HTTP 400", "Failed to rollback to checkpoint/savepoint"], False),
    ("name-matches-several-jobs", "flink_job", lambda v, c: dict(v.params, name=v.prefix + "-", name_match="prefix"),
     ["2 jobs match name", "refusing to guess"], True),
    ("savepoint-name-matches-nothing", "flink_savepoint", lambda v, c: dict(url=v.flink.url, job_name=v.prefix + "-nobody"),
     ["no running job named"], True),
    ("savepoint-unknown-job-id", "flink_savepoint", lambda v, c: dict(url=v.flink.url, job_id="0" * 32),
     ["no job with id " + "0" * 32], True),
    ("savepoint-target-unwritable", "flink_savepoint",
     lambda v, c: dict(url=v.flink.url, job_id=v.job_id, target_directory=_unwritable_dir(c["tmp"])),
     ["the savepoint of job", "failed; the job was left as it is", "GET", "/savepoints/"], "triggered"),
    ("unknown-jar-id", "flink_job", lambda v, c: dict(v.params, jar=None, jar_id="0000_nothing.jar"),
     ["no uploaded JAR with id 0000_nothing.jar"], True),
    ("unreachable-host", "flink_cluster_info", lambda v, c: dict(url="http://flink.invalid:8081", request_retries=0),
     ["cannot reach Flink (cannot connect)", "GET http://flink.invalid:8081/config", "flink.invalid"], True),
    ("closed-port", "flink_cluster_info", lambda v, c: dict(url="http://127.0.0.1:%d" % c["closed_port"],
                                                            request_retries=1),
     ["cannot reach Flink (cannot connect)", "Connection refused"], True),
    ("url-without-scheme", "flink_cluster_info", lambda v, c: dict(url="127.0.0.1:8081"),
     ["url must start with http:// or https://"], True),
    ("wrong-credentials", "flink_job_info", lambda v, c: dict(url=c["auth_proxy"], url_username="u", url_password="bad"),
     ["authentication failed", "GET", "/jobs/overview", "HTTP 401"], True),
    ("untrusted-certificate", "flink_cluster_info", lambda v, c: dict(url=c["tls"]["url"], request_retries=0),
     ["cannot reach Flink (TLS error", "CERTIFICATE_VERIFY_FAILED", "{tls}/config"], True),
    ("client-certificate-missing", "flink_cluster_info",
     lambda v, c: dict(url=c["tls"]["url"], ca_path=c["tls"]["ca"], request_retries=0),
     ["cannot reach Flink", "{tls}/config"], True),
    ("ca-path-not-a-file", "flink_cluster_info", lambda v, c: dict(url=v.flink.url, ca_path="/nonexistent/ca.pem"),
     ["ca_path: no readable file at /nonexistent/ca.pem"], True),
    ("client-key-without-cert", "flink_cluster_info", lambda v, c: dict(url=v.flink.url, client_key="/etc/hostname"),
     ["client_key", "client_cert"], True),
    ("conflict-jar-and-jar-id", "flink_job", lambda v, c: dict(v.params, jar_id="x.jar"),
     ["mutually exclusive", "jar|jar_id"], True),
    ("conflict-bearer-and-username", "flink_cluster_info",
     lambda v, c: dict(url=v.flink.url, bearer_token="a-token", url_username="someone"),
     ["mutually exclusive", "bearer_token|url_username"], True),
    ("conflict-src-and-src-url", "flink_jar", lambda v, c: dict(url=v.flink.url, src=v.flink.jobs["stateful-v1"],
                                                                src_url="https://example.invalid/a.jar", src_checksum=ZEROS),
     ["mutually exclusive", "src|src_url"], True),
    ("conflict-stop-and-max-age", "flink_savepoint", lambda v, c: dict(url=v.flink.url, job_id=v.job_id, stop=True, max_age=60),
     ["mutually exclusive", "stop|max_age"], True),
    ("request-timeout-zero", "flink_cluster_info", lambda v, c: dict(url=v.flink.url, request_timeout=0),
     ["request_timeout must be between 0 and 3600 seconds, got 0"], True),
    ("wait-timeout-negative", "flink_job", lambda v, c: dict(v.params, wait_timeout=-5),
     ["wait_timeout must be between 1 and 86400 seconds, got -5"], True),
    ("savepoint-timeout-over-a-day", "flink_job", lambda v, c: dict(v.params, savepoint_timeout=90000),
     ["savepoint_timeout must be between 1 and 86400 seconds, got 90000"], True),
    ("savepoint-wait-timeout-zero", "flink_savepoint", lambda v, c: dict(url=v.flink.url, job_id=v.job_id, wait_timeout=0),
     ["wait_timeout must be between 1 and 86400 seconds"], True),
    ("request-retries-absurd", "flink_cluster_info", lambda v, c: dict(url=v.flink.url, request_retries=100),
     ["request_retries must be between 0 and 10, got 100"], True),
    ("unknown-option", "flink_job", lambda v, c: dict(v.params, paralellism=2),
     ["Unsupported parameters", "paralellism"], True),
    ("wrong-type-parallelism", "flink_job", lambda v, c: dict(v.params, parallelism="many"),
     ["parallelism", "int"], True),
    ("wrong-type-configuration", "flink_job", lambda v, c: dict(v.params, configuration="a=b c"),
     ["configuration", "dict"], True),
    ("wrong-type-validate-certs", "flink_cluster_info", lambda v, c: dict(url=v.flink.url, validate_certs="perhaps"),
     ["validate_certs", "bool"], True),
    ("parallelism-zero", "flink_job", lambda v, c: dict(v.params, parallelism=0),
     ["parallelism must be 1 or more, got 0"], True),
    ("health-window-without-wait", "flink_job", lambda v, c: dict(v.params, wait=False, health_window=10),
     ["health_window needs wait=true"], True),
    ("src-url-not-http", "flink_jar", lambda v, c: dict(url=v.flink.url, src_url="ftp://repo.example/a.jar", src_checksum=ZEROS),
     ["src_url must be an http:// or https:// URL", "ftp://repo.example/a.jar"], True),
    ("src-url-without-checksum", "flink_jar", lambda v, c: dict(url=v.flink.url, src_url="https://repo.example/a.jar"),
     ["src_checksum", "src_url"], True),
    ("jar-absent-without-selector", "flink_jar", lambda v, c: dict(url=v.flink.url, state="absent"),
     ["state is absent but any of the following are missing"], True),
    ("keep-negative", "flink_jar", lambda v, c: dict(url=v.flink.url, state="absent", name=v.prefix, keep=-1),
     ["keep must be 0 or more, got -1"], True),
    ("savepoint-absent-without-path", "flink_savepoint", lambda v, c: dict(url=v.flink.url, state="absent"),
     ["state is absent", "path"], True),
    ("invalid-choice", "flink_job", lambda v, c: dict(v.params, upgrade_mode="yolo"),
     ["upgrade_mode", "must be one of", "yolo"], True),
    ("running-without-jar", "flink_job", lambda v, c: dict(url=v.flink.url, name=v.name),
     ["state is running but any of the following are missing: jar, jar_id"], True),
    # Issue 15: Flink's root cause completed with the key or path it concerns.
    ("float-configuration-value", "flink_job", lambda v, c: dict(v.params, configuration={"parallelism.default": 1.5}),
     ["POST", "/plan", "HTTP 500", "for key 'parallelism.default'", "NumberFormatException"], True),
    ("non-numeric-max-parallelism", "flink_job",
     lambda v, c: dict(v.params, configuration={"pipeline.max-parallelism": "lots"}),
     ["POST", "/plan", "HTTP 500", "for key 'pipeline.max-parallelism'"], True),
    ("corrupt-savepoint", "flink_job", lambda v, c: dict(v.params, name=v.prefix + "-corrupt",
                                                         savepoint_path=_corrupt_savepoint(c["tmp"])),
     ["the savepoint or checkpoint file:", "/corrupt-", "cannot be read", "POST", "/run", "HTTP 400",
      "Unexpected magic number"], False),
    ("truncated-savepoint", "flink_job", lambda v, c: dict(v.params, name=v.prefix + "-truncated",
                                                           savepoint_path=_truncated_savepoint(v, c["tmp"])),
     ["the savepoint or checkpoint file:", "/truncated-", "cannot be read", "POST", "/run", "HTTP 400",
      "EOFException"], False),
    ("https-to-the-plain-rest-port", "flink_job_info",
     lambda v, c: dict(url=v.flink.url.replace("http://", "https://"), request_retries=0),
     ["cannot reach Flink (TLS handshake failed: the server does not speak TLS on this port"], True),
    ("short-header-value-keeps-the-message-intact", "flink_job_info",
     lambda v, c: dict(url=v.flink.url + "/nothing", headers={"X-Debug": 1}, request_retries=0),
     ["GET {flink}/nothing/jobs/overview answered HTTP 404"], True),
    ("token-with-newline-refused-by-proxy", "flink_job_info",
     lambda v, c: dict(url=c["auth_proxy"], bearer_token="wrong-token-value\n", request_retries=0),
     ["authentication failed", "GET", "/jobs/overview", "HTTP 401"], True),
    ("ca-directory-without-the-ca", "flink_cluster_info",
     lambda v, c: dict(url=c["tls"]["url"], ca_path=str(c["tmp"]), request_retries=0),
     ["the server certificate is not trusted", "{tls}/config"], True),
]


@pytest.fixture(scope="module")
def context(tmp_path_factory, tls_server, flink_cluster):
    closed_port = flinkctl.free_port()
    proxy = FaultProxy(flink_cluster.url)
    proxy.add("*", r".*", "status:401")
    with proxy:
        yield {"tmp": tmp_path_factory.mktemp("bad"), "tls": tls_server, "closed_port": closed_port,
               "auth_proxy": proxy.url}


# Cases that fail on the caller's side (argument checks, local files, transport and TLS) before
# Flink answers anything: Flink's version cannot change them, the first version proves them.
CALLER_SIDE = {
    "missing-jar-file", "non-jar-file-flink_job", "non-jar-file-flink_jar", "wrong-checksum",
    "malformed-checksum", "unreachable-host", "closed-port", "url-without-scheme", "wrong-credentials",
    "untrusted-certificate", "client-certificate-missing", "ca-path-not-a-file", "client-key-without-cert",
    "conflict-jar-and-jar-id", "conflict-bearer-and-username", "conflict-src-and-src-url",
    "conflict-stop-and-max-age", "request-timeout-zero", "wait-timeout-negative",
    "savepoint-timeout-over-a-day", "savepoint-wait-timeout-zero", "request-retries-absurd", "unknown-option",
    "wrong-type-parallelism", "wrong-type-configuration", "wrong-type-validate-certs", "parallelism-zero",
    "health-window-without-wait", "src-url-not-http", "src-url-without-checksum", "jar-absent-without-selector",
    "keep-negative", "savepoint-absent-without-path", "invalid-choice", "running-without-jar",
    "https-to-the-plain-rest-port", "token-with-newline-refused-by-proxy", "ca-directory-without-the-ca",
}
assert CALLER_SIDE <= {c[0] for c in CASES}, CALLER_SIDE - {c[0] for c in CASES}


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c[0], marks=[pytest.mark.first_version_only] if c[0] in CALLER_SIDE else [])
    for c in CASES])
def test_bad_input_fails_clearly_and_changes_nothing(flink, victim, context, case):
    _id, module_name, make_params, expected, strict = case
    params = dict((k, v) for k, v in make_params(victim, context).items() if v is not None)
    before = victim.snapshot()
    result = run_module(module_name, params)
    assert result.get("failed"), result
    print("%s: %s" % (_id, result["msg"]))  # shown with -rA: the table in docs/reliability.md
    for fragment in expected:
        fragment = fragment.format(tls=context["tls"]["url"], flink=victim.flink.url)
        assert fragment in result["msg"], "%r not in %r" % (fragment, result["msg"])
    if strict is True:
        assert not result.get("changed"), result
    after = victim.snapshot()
    if strict:
        assert after == before
    else:
        new_jobs = set(after[0]) - set(before[0])
        assert all(state == "FAILED" for _jid, _name, state in new_jobs), new_jobs
        assert set(before[1]) <= set(after[1])
    job = flink.the_running_job(victim.name)
    assert job["jid"] == victim.job_id and job["state"] == "RUNNING"
    assert job["tasks"]["running"] == job["tasks"]["total"]


def test_awkward_names_and_args_work(flink, module):
    """Quotes, spaces and unicode in the job name, JAR name and arguments are not bad input."""
    name = "it's a \"quoted\" job — ünïcödé € %s" % uuid.uuid4().hex[:6]
    tag = "tag with spaces, 'single' and \"double\" quotes, ß and 日本"
    params = dict(url=flink.url, name=name, jar=flink.jobs["stateful-v1"], jar_name="my job ü.jar",
                  entry_class=flink.entry_class, args=["--name", name, "--tag", tag, "--rate", "200"])
    started = module("flink_job", params)
    assert started["action"] == "started", started
    assert flink.the_running_job(name)["jid"] == started["job_id"]
    flink.wait_counts(tag, "v1", minimum=1)  # the job received the arguments intact
    again = module("flink_job", params)
    assert not again["changed"] and again["job_id"] == started["job_id"]
    info = module("flink_job_info", dict(url=flink.url, name=name))
    assert [j["job_id"] for j in info["jobs"]] == [started["job_id"]]
    stopped = module("flink_job", dict(params, state="stopped"))
    assert stopped["action"] == "stopped" and flink.active(name) == []


def test_parallelism_above_the_clusters_slots_is_refused_before_any_change(flink, job_params, module):
    """Issue 30: Flink accepts such a job, keeps its tasks waiting for slots and fails it; the
    plan says so first. The running version and the JAR list stay as they are."""
    slots = flink.get("/overview")["slots-total"]
    params = job_params()
    started = module("flink_job", params)
    assert started["action"] == "started"
    flink.wait_counts(params["name"], "v1", minimum=1)
    before = flink.snapshot(params["name"])
    for check in (True, False):
        result = module("flink_job", job_params(jar="stateful-v2", parallelism=slots + 4), check=check)
        assert result["failed"] and not result["changed"], result
        assert "needs at least %d task slots" % (slots + 4) in result["msg"], result["msg"]
        assert "the cluster has %d in all" % slots in result["msg"], result["msg"]
        assert "nothing was changed" in result["msg"], result["msg"]
        assert flink.snapshot(params["name"]) == before
    assert flink.the_running_job(params["name"])["jid"] == started["job_id"]
