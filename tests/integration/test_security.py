# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Security against real clusters: Flink's own REST TLS with mutual authentication, nginx
with basic auth / bearer token / API-key header in front of Flink, and no secret in any
output or returned value (module results and ``ansible-playbook -vvv``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import requests

from flinkops_devkit import flinkctl
from flinkops_devkit.playbooks import run_playbook
from flinkops_devkit.pytest_plugin import configured_versions

DEPLOY = "flinkops.flink.deploy"
STORE_PASSWORD = "flinkops-test-store"


# --------------------------------------------------------------------------- certificates

def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(directory, name):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", "%s.key" % name, "-out", "%s.pem" % name,
             "-subj", "/CN=flinkops test %s" % name,
             # Python 3.13 verifies strictly (VERIFY_X509_STRICT): a CA needs key usage,
             # a leaf its authority key identifier.
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)


def make_cert(directory, name, ca, server):
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s.key" % name,
             "-out", "%s.csr" % name, "-subj", "/CN=%s" % ("localhost" if server else name),
             cwd=directory)
    ext = directory / ("%s.ext" % name)
    leaf = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
    if server:
        ext.write_text(leaf + "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n")
    else:
        ext.write_text(leaf + "extendedKeyUsage=clientAuth\n")
    _openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "%s.pem" % ca, "-CAkey", "%s.key" % ca,
             "-CAcreateserial", "-days", "2", "-out", "%s.pem" % name, "-extfile", ext.name,
             cwd=directory)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1, a client certificate from the same CA, and
    an unrelated CA with its own client certificate."""
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "rogue-ca")
    make_cert(d, "server", "ca", server=True)
    make_cert(d, "client", "ca", server=False)
    make_cert(d, "rogue-client", "rogue-ca", server=False)
    # Flink's keystore (server key + chain) and truststore (the CA that signs client certs).
    _openssl("pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
             "-name", "flink-rest", "-out", "server.p12", "-passout", "pass:" + STORE_PASSWORD, cwd=d)
    subprocess.run(["keytool", "-importcert", "-noprompt", "-storetype", "PKCS12", "-alias", "ca",
                    "-file", "ca.pem", "-keystore", "trust.p12", "-storepass", STORE_PASSWORD],
                   cwd=d, check=True, capture_output=True)
    return d


@pytest.fixture(scope="module")
def tls_cluster(certs):
    """A dedicated cluster (first version of FLINKOPS_TEST_FLINK_VERSIONS) whose REST
    endpoint speaks only TLS and requires a client certificate signed by our CA."""
    version = configured_versions()[0]
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    config = {
        "security.ssl.rest.enabled": "true",
        "security.ssl.rest.authentication-enabled": "true",
        "security.ssl.rest.keystore": str(certs / "server.p12"),
        "security.ssl.rest.keystore-password": STORE_PASSWORD,
        "security.ssl.rest.key-password": STORE_PASSWORD,
        "security.ssl.rest.keystore-type": "PKCS12",
        "security.ssl.rest.truststore": str(certs / "trust.p12"),
        "security.ssl.rest.truststore-password": STORE_PASSWORD,
        "security.ssl.rest.truststore-type": "PKCS12",
        # Flink 1.18 and 1.19 default to TLS_RSA_WITH_AES_128_CBC_SHA
        # alone, which Python's default TLS context does not offer
        # ("no cipher suites in common"); these are 1.20+'s defaults.
        "security.ssl.algorithms": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    }
    cluster = flinkctl.Cluster(version, name="tls-%s" % uuid.uuid4().hex[:6], slots=2,
                               rest_ssl_context=context, extra_config=config)
    cluster.jobs = flinkctl.build_jobs(version)
    with cluster:  # started here, stopped however the tests end
        yield cluster


def tls(cluster, certs, **overrides):
    params = dict(url=cluster.url, ca_path=str(certs / "ca.pem"),
                  client_cert=str(certs / "client.pem"), client_key=str(certs / "client.key"))
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def assert_tls_failure(result, cluster):
    assert result["failed"], result
    msg = result["msg"]
    assert "cannot reach Flink" in msg and "TLS" in msg, msg
    assert cluster.url + "/" in msg, msg  # names the URL it tried
    return msg


def test_mtls_modules_connect_upload_run_and_stop(tls_cluster, certs, module):
    info = module("flink_cluster_info", tls(tls_cluster, certs))
    assert not info.get("failed"), info
    assert info["flink_version"] == tls_cluster.version
    name = "tls-job-%s" % uuid.uuid4().hex[:6]
    job = dict(tls(tls_cluster, certs), name=name, jar=tls_cluster.jobs["stateful-v1"],
               entry_class=tls_cluster.jobs["entry_class"],
               args=["--name", name, "--tag", name, "--rate", "200"])
    started = module("flink_job", job)
    assert started["action"] == "started" and not started.get("failed"), started
    described = module("flink_job_info", tls(tls_cluster, certs, name=name))
    assert [j["state"] for j in described["jobs"]] == ["RUNNING"]
    stopped = module("flink_job", dict(job, state="stopped"))
    assert stopped["action"] == "stopped" and stopped["savepoint"].startswith("file:"), stopped


def test_mtls_without_client_certificate_fails_clearly(tls_cluster, certs, module):
    result = module("flink_cluster_info", tls(tls_cluster, certs, client_cert=None, client_key=None,
                                              request_retries=0))
    msg = assert_tls_failure(result, tls_cluster)
    assert "certificate" in msg.lower(), msg


def test_mtls_with_a_client_certificate_of_another_ca_fails(tls_cluster, certs, module):
    result = module("flink_cluster_info", tls(tls_cluster, certs,
                                              client_cert=str(certs / "rogue-client.pem"),
                                              client_key=str(certs / "rogue-client.key"),
                                              request_retries=0))
    assert_tls_failure(result, tls_cluster)


@pytest.mark.parametrize("ca", ["rogue-ca.pem", None], ids=["other-ca", "system-cas"])
def test_untrusted_server_certificate_fails_clearly(tls_cluster, certs, module, ca):
    result = module("flink_cluster_info", tls(tls_cluster, certs,
                                              ca_path=str(certs / ca) if ca else None,
                                              request_retries=0))
    msg = assert_tls_failure(result, tls_cluster)
    assert "CERTIFICATE_VERIFY_FAILED" in msg or "certificate verify failed" in msg, msg


def test_validate_certs_false_connects_and_warns(tls_cluster, certs, module):
    result = module("flink_cluster_info", tls(tls_cluster, certs, ca_path=None, validate_certs=False))
    assert not result.get("failed"), result
    # ansible-core 2.18 returns warnings as strings, 2.19 as structured events: search both.
    assert "validate_certs is false" in json.dumps(result.get("warnings", [])), result


def test_plain_http_to_a_tls_endpoint_fails_clearly(tls_cluster, certs, module):
    url = tls_cluster.url.replace("https://", "http://")
    result = module("flink_cluster_info", {"url": url, "request_retries": 0, "request_timeout": 10})
    assert result["failed"]
    assert url + "/config" in result["msg"], result["msg"]


# --------------------------------------------------------------------------- nginx

class Nginx:
    """Debian's nginx as a child of the test, with its own prefix and config, on loopback."""

    def __init__(self, prefix, upstream, user, password, token, api_key, repo_token):
        self.prefix = prefix
        self.ports = dict(basic=flinkctl.free_port(), bearer=flinkctl.free_port(), header=flinkctl.free_port(),
                          collector=flinkctl.free_port())
        self.user, self.password, self.token = user, password, token
        self.api_key, self.repo_token = api_key, repo_token
        self.artifacts = prefix / "artifacts"
        self.artifacts.mkdir()
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir()
        hashed = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password,
                                capture_output=True, text=True, check=True).stdout.strip()
        (prefix / "htpasswd").write_text("%s:%s\n" % (user, hashed))
        proxy = """
            proxy_pass %s;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
            client_max_body_size 0;""" % upstream
        tmp = prefix / "tmp"
        (prefix / "nginx.conf").write_text("""
%(user)s
worker_processes 1;
daemon off;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log %(prefix)s/logs/access.log;
    # What a redirect target received: src_headers must never get there.
    log_format leaks '$request_uri token=$http_x_repo_token auth=$http_authorization';
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    server {
        listen 127.0.0.1:%(basic)d;
        location / {
            auth_basic "flink";
            auth_basic_user_file %(prefix)s/htpasswd;%(proxy)s
        }
    }
    server {
        listen 127.0.0.1:%(bearer)d;
        location / {
            if ($http_authorization != "Bearer %(token)s") { return 401; }%(proxy)s
        }
    }
    server {
        listen 127.0.0.1:%(header)d;
        location /artifacts/ {
            if ($http_x_repo_token != "%(repo_token)s") { return 401; }
            alias %(artifacts)s/;
        }
        location /basic-artifacts/ {
            auth_basic "repo";
            auth_basic_user_file %(prefix)s/htpasswd;
            alias %(artifacts)s/;
        }
        location ~ ^/moved/(.*)$ {
            if ($http_x_repo_token != "%(repo_token)s") { return 401; }
            return 302 http://localhost:%(collector)d/open/$1;
        }
        location / {
            if ($http_x_api_key != "%(api_key)s") { return 401; }%(proxy)s
        }
    }
    server {
        listen 127.0.0.1:%(collector)d;
        access_log %(prefix)s/logs/collector.log leaks;
        location /open/ { alias %(artifacts)s/; }
    }
}
""" % dict(user="user root;" if os.geteuid() == 0 else "", prefix=prefix, tmp=tmp, proxy=proxy,
           token=token, api_key=api_key, repo_token=repo_token, artifacts=self.artifacts, **self.ports))
        self.process = None

    def url(self, kind):
        return "http://127.0.0.1:%d" % self.ports[kind]

    def collector_log(self):
        path = self.prefix / "logs" / "collector.log"
        return path.read_text() if path.exists() else ""

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        assert os.path.exists(nginx), "nginx is not installed: run `make system-deps` (apt-get install nginx-light)"
        self.process = subprocess.Popen([nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("nginx exited: %s" % self.process.stderr.read().decode())
            try:
                for port in self.ports.values():
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("nginx did not listen within 30 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful shutdown of master and worker
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def secret(kind):
    return "flinkops-secret-%s-%s" % (kind, uuid.uuid4().hex)


@pytest.fixture(scope="module")
def nginx(flink_cluster, tmp_path_factory):
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), flink_cluster.url, "deployer", secret("password"),
                  secret("token"), secret("apikey"), secret("repotoken"))
    try:
        yield proxy.start()
    finally:
        proxy.stop()


def assert_auth_failure(result, url):
    assert result["failed"], result
    msg = result["msg"]
    assert "authentication failed" in msg and "HTTP 401" in msg and url + "/" in msg, msg
    assert result["error"]["status"] == 401


def test_basic_auth_through_nginx(nginx, flink, module):
    ok = module("flink_cluster_info", dict(url=nginx.url("basic"), url_username=nginx.user,
                                           url_password=nginx.password))
    assert not ok.get("failed") and ok["flink_version"] == flink.cluster.version, ok
    upload = module("flink_jar", dict(url=nginx.url("basic"), url_username=nginx.user,
                                      url_password=nginx.password, src=flink.jobs["stateful-v1"],
                                      name="auth-basic-%s" % uuid.uuid4().hex[:6]))
    assert not upload.get("failed") and upload["jar_id"], upload
    assert upload["name"] in flink.jar_names()
    module("flink_jar", dict(url=flink.url, jar_id=upload["jar_id"], state="absent"))


@pytest.mark.parametrize("credentials", [
    dict(url_username="deployer", url_password="wrong"),
    dict(url_username="someone-else", url_password="wrong"),
    dict(),
], ids=["wrong-password", "wrong-user", "none"])
def test_basic_auth_wrong_or_missing_credentials_fail_clearly(nginx, module, credentials):
    result = module("flink_cluster_info", dict(url=nginx.url("basic"), **credentials))
    assert_auth_failure(result, nginx.url("basic"))


def test_bearer_token_through_nginx(nginx, flink, module, monkeypatch):
    ok = module("flink_job_info", dict(url=nginx.url("bearer"), bearer_token=nginx.token))
    assert not ok.get("failed"), ok
    # The FLINK_TOKEN environment variable (AWX credential injection) works the same way.
    monkeypatch.setenv("FLINK_TOKEN", nginx.token)
    assert not module("flink_cluster_info", dict(url=nginx.url("bearer"))).get("failed")


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_bearer_token_wrong_or_missing_fails_clearly(nginx, module, token):
    params = dict(url=nginx.url("bearer"))
    if token:
        params["bearer_token"] = token
    assert_auth_failure(module("flink_cluster_info", params), nginx.url("bearer"))


def test_api_key_header_through_nginx(nginx, module):
    ok = module("flink_cluster_info", dict(url=nginx.url("header"), headers={"X-Api-Key": nginx.api_key}))
    assert not ok.get("failed"), ok
    bad = module("flink_cluster_info", dict(url=nginx.url("header"), headers={"X-Api-Key": "nope-not-the-key"}))
    assert_auth_failure(bad, nginx.url("header"))


# --------------------------------------------------------------------------- secrets

def publish_jar(nginx, path):
    name = "job-%s.jar" % uuid.uuid4().hex[:8]
    shutil.copy(path, nginx.artifacts / name)
    sha = hashlib.sha256((nginx.artifacts / name).read_bytes()).hexdigest()
    return "%s/artifacts/%s" % (nginx.url("header"), name), sha


def assert_no_secret(text, *secrets):
    for value in secrets:
        assert value not in text, "secret %s...%s leaked" % (value[:20], value[-4:])


def test_module_results_never_contain_secrets(nginx, flink, module, unique_job_name):
    url, sha = publish_jar(nginx, flink.jobs["stateful-v1"])
    # Without the repository token the download is refused, clearly.
    refused = module("flink_jar", dict(url=flink.url, src_url=url, src_checksum="sha256:" + sha,
                                       src_headers={"X-Repo-Token": "wrong-repo-token"}))
    assert refused["failed"] and "download failed" in refused["msg"] and "401" in refused["msg"]
    results = [
        module("flink_jar", dict(url=nginx.url("basic"), url_username=nginx.user, url_password=nginx.password,
                                 src_url=url, src_checksum="sha256:" + sha, name=unique_job_name,
                                 src_headers={"X-Repo-Token": nginx.repo_token})),
        module("flink_job", dict(url=nginx.url("bearer"), bearer_token=nginx.token, name=unique_job_name,
                                 jar=flink.jobs["stateful-v1"], entry_class=flink.entry_class,
                                 args=["--name", unique_job_name, "--tag", unique_job_name])),
        module("flink_job_info", dict(url=nginx.url("header"), headers={"X-Api-Key": nginx.api_key},
                                      name=unique_job_name)),
        # Failures too: the secrets must not appear in the error either.
        module("flink_job", dict(url=nginx.url("basic"), url_username=nginx.user, url_password=nginx.password,
                                 name=unique_job_name, jar=flink.jobs["stateful-v2"],
                                 entry_class=flink.entry_class,
                                 args=["--name", unique_job_name, "--variant", "throw-in-main"])),
        module("flink_savepoint", dict(url=nginx.url("bearer"), bearer_token=nginx.token + "x",
                                       job_name=unique_job_name)),
        # A password put into the URL is not shown either.
        module("flink_cluster_info", dict(url=nginx.url("basic").replace(
            "://", "://%s:%s@" % (nginx.user, nginx.password)) + "/nothing-here")),
    ]
    assert results[0]["jar_id"] and results[1]["action"] == "started", results[:2]
    assert results[2]["jobs"][0]["state"] == "RUNNING"
    assert results[3]["failed"] and "main failed on purpose" in results[3]["msg"]
    assert results[4]["failed"] and results[5]["failed"]
    assert_no_secret(json.dumps(results), nginx.password, nginx.token, nginx.api_key, nginx.repo_token,
                     nginx.token + "x")


def test_role_with_vvv_never_prints_secrets(nginx, flink, tmp_path, unique_job_name):
    url, sha = publish_jar(nginx, flink.jobs["stateful-v1"])
    base = {
        "job_deploy_name": unique_job_name,
        "job_deploy_jar_url": url,
        "job_deploy_jar_checksum": "sha256:" + sha,
        "job_deploy_jar_headers": {"X-Repo-Token": nginx.repo_token},
        "job_deploy_jar_name": unique_job_name,
        "job_deploy_entry_class": flink.entry_class,
        "job_deploy_args": ["--name", unique_job_name, "--tag", unique_job_name, "--rate", "400"],
        "job_deploy_health_window": 2,
        "job_deploy_health_require_checkpoint": False,
    }
    # Basic auth, plus an extra header whose value is a secret too.
    good = run_playbook(DEPLOY, dict(base, job_deploy_url=nginx.url("basic"), job_deploy_url_username=nginx.user,
                                     job_deploy_url_password=nginx.password,
                                     job_deploy_headers={"X-Api-Key": nginx.api_key}),
                        tmp_path, "-vvv")
    assert good.rc == 0, good.output[-3000:]
    assert good.outcome["action"] == "started"
    assert flink.the_running_job(unique_job_name)["jid"] == good.outcome["job_id"]
    # A failing deployment (main() throws) with a bearer token: the rescue path prints the error.
    bad = run_playbook(DEPLOY, dict(base, job_deploy_url=nginx.url("bearer"), job_deploy_bearer_token=nginx.token,
                                    job_deploy_args=base["job_deploy_args"] + ["--variant", "throw-in-main"]),
                       tmp_path, "-vvv")
    assert bad.rc != 0 and "main failed on purpose" in bad.output, bad.output[-3000:]
    assert flink.the_running_job(unique_job_name)["jid"] == good.outcome["job_id"]
    # The environment-variable way (AWX): FLINK_PASSWORD, with a failure at the first task.
    env_run = run_playbook(DEPLOY, dict(base, job_deploy_url=nginx.url("basic")), tmp_path, "-vvv",
                           env={"FLINK_USERNAME": nginx.user, "FLINK_PASSWORD": nginx.password + "-wrong"})
    assert env_run.rc != 0 and "authentication failed" in env_run.output, env_run.output[-3000:]
    for run in (good, bad, env_run):
        assert_no_secret(run.output + json.dumps(run.stats), nginx.password, nginx.token, nginx.api_key,
                         nginx.repo_token)
    # The play really was verbose (module invocations are shown, masked).
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in good.output or "********" in good.output
    assert requests.get(nginx.url("basic") + "/config", timeout=10).status_code == 401
