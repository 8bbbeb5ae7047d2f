# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every way a secret once leaked (issue 15), run through real ansible-playbook against real
Flink behind nginx, in plain and -vvv output (and --diff where a diff exists). Each secret
carries a random hex marker; the marker is searched in the output, in the results, diffs and
warnings (all printed at -vvv), in the custom stats, in nginx's log of a redirect target and
in the cluster's JAR list with the spec records decoded: 0 hits."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import uuid
import zipfile

import pytest
import requests
import yaml

from flinkops_devkit import flinkctl
from flinkops_devkit.playbooks import run_playbook
from test_security import Nginx, make_ca, make_cert

# Module-scoped fixtures (a cluster, a proxy, a started job): under pytest-xdist the whole
# module runs on one worker, so they start once.
pytestmark = pytest.mark.xdist_group("test_secrets")

DEPLOY = "flinkops.flink.deploy"


def marker():
    return uuid.uuid4().hex


class Secrets:
    """Secret values, each holding a unique marker; ``hits`` finds any of them in text."""

    def __init__(self):
        self.markers = {}

    def new(self, kind, template="flinkops-{kind}-{marker}"):
        mark = marker()
        self.markers[kind] = mark
        return template.format(kind=kind, marker=mark)

    def hits(self, text, *extra):
        found = [kind for kind, mark in self.markers.items() if mark in text]
        found += [value[:12] for value in extra if value and value in text]
        return found


@pytest.fixture(scope="module")
def secrets():
    return Secrets()


@pytest.fixture(scope="module")
def nginx(flink_cluster, tmp_path_factory, secrets):
    # A password with every character that once broke redaction: '@', ':' and '/'.
    password = secrets.new("password", "p@ss:w/rd-{marker}")
    proxy = Nginx(tmp_path_factory.mktemp("nginx-secrets"), flink_cluster.url, "deployer", password,
                  secrets.new("token"), secrets.new("apikey"), secrets.new("repotoken"))
    try:
        yield proxy.start()
    finally:
        proxy.stop()


def decoded_jar_list(url):
    """The cluster's JAR list as text, spec records decoded (what anyone can read)."""
    from ansible_collections.flinkops.flink.plugins.module_utils import _spec
    names = [jar["name"] for jar in requests.get(url + "/jars", timeout=30).json()["files"]]
    reader = getattr(_spec, "read_spec_records", None)
    records = reader(names) if reader else {}
    return json.dumps(names) + json.dumps(records)


def playbook(tmp_path, tasks, name="play"):
    path = tmp_path / ("%s-%s.yml" % (name, marker()[:6]))
    path.write_text(yaml.safe_dump([{"name": name, "hosts": "localhost", "connection": "local",
                                     "gather_facts": False, "tasks": tasks}], sort_keys=False))
    return str(path)


def run_both(play, variables, tmp_path, env=None, diff=False):
    """The same play in plain and in -vvv output (with --diff when asked)."""
    extra = ["--diff"] if diff else []
    return [run_playbook(play, variables, tmp_path, *extra, env=env),
            run_playbook(play, variables, tmp_path, "-vvv", *extra, env=env)]


def assert_clean(runs, secrets, *extra):
    for run in runs:
        text = run.output + json.dumps(run.stats)
        assert secrets.hits(text, *extra) == [], text[-4000:]


def unique_jar(source, destination):
    """A copy of ``source`` with one more entry, so its content (and checksum) is new:
    flink_jar downloads nothing for content the cluster has already."""
    shutil.copy(source, destination)
    with zipfile.ZipFile(destination, "a") as archive:
        archive.writestr("flinkops-unique.txt", marker())
    return hashlib.sha256(destination.read_bytes()).hexdigest()


def basic_url(nginx):
    return nginx.url("basic").replace("://", "://%s:%s@" % (nginx.user, nginx.password))


def test_password_inside_the_role_url_when_preflight_fails(nginx, flink, tmp_path, secrets, unique_job_name):
    """Issue 15.1 and 15.3: a password with '@', ':' and '/' inside job_deploy_url; the pre-flight
    assertion fails (more slots than the cluster has)."""
    variables = {"job_deploy_name": unique_job_name, "job_deploy_url": basic_url(nginx),
                 "job_deploy_jar": flink.jobs["stateful-v1"], "job_deploy_entry_class": flink.entry_class,
                 "job_deploy_parallelism": 999}
    runs = run_both(DEPLOY, variables, tmp_path)
    for run in runs:
        assert run.rc != 0
        # flink_job's own capacity check (more than the whole cluster) refuses first, in the
        # role's check-mode task; the role's free-slot pre-flight names the (redacted) URL.
        assert "needs at least 999 task slots" in run.output or \
            ("not enough free task slots" in run.output and nginx.url("basic") in run.output), run.output[-3000:]
    assert_clean(runs, secrets)
    assert flink.active(unique_job_name) == []


def test_token_with_a_trailing_newline_in_an_error(nginx, flink, tmp_path, secrets, unique_job_name):
    """Issue 15.2: a wrong bearer token ending in a newline; the error once showed it escaped."""
    token = secrets.new("wrongtoken") + "\n"
    variables = {"job_deploy_name": unique_job_name, "job_deploy_url": nginx.url("bearer"),
                 "job_deploy_bearer_token": token, "job_deploy_jar": flink.jobs["stateful-v1"]}
    runs = run_both(DEPLOY, variables, tmp_path)
    for run in runs:
        assert run.rc != 0 and "authentication failed" in run.output and "HTTP 401" in run.output
    assert_clean(runs, secrets)


def test_modules_with_url_password_src_url_credentials_pem_key_and_short_headers(nginx, flink, tmp_path, secrets):
    """Issues 15.3, 15.4, 15.5, 15.13 through modules in one play (each task may fail)."""
    name = "secret-jar-%s" % marker()[:6]
    sha = unique_jar(flink.jobs["stateful-v1"], nginx.artifacts / (name + ".jar"))
    src_url = nginx.url("header").replace("://", "://%s:%s@" % (nginx.user, nginx.password)) \
        + "/basic-artifacts/%s.jar" % name
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEv%s\n-----END PRIVATE KEY-----\n" % secrets.new("pem", "{marker}")
    # Secrets come from variables (a vault, extra vars), as in real playbooks: Ansible prints
    # the playbook's own source lines next to an error, so a literal would show there.
    variables = {"v_url": basic_url(nginx), "v_src_url": src_url, "v_pem": pem}
    tasks = [
        {"name": "URL with a password holding @ : /, good", "flinkops.flink.flink_cluster_info": {
            "url": "{{ v_url }}"}, "register": "good"},
        {"name": "URL with a password, 404", "flinkops.flink.flink_cluster_info": {
            "url": "{{ v_url }}/nothing"}, "ignore_errors": True, "register": "missing"},
        {"name": "src_url with credentials, wrong checksum", "flinkops.flink.flink_jar": {
            "url": flink.url, "src_url": "{{ v_src_url }}", "src_checksum": "sha256:" + "0" * 64},
         "ignore_errors": True, "register": "mismatch"},
        {"name": "src_url with credentials, uploaded", "flinkops.flink.flink_jar": {
            "url": flink.url, "src_url": "{{ v_src_url }}", "src_checksum": "sha256:" + sha, "name": name},
         "register": "uploaded"},
        {"name": "PEM content given as client_key", "flinkops.flink.flink_cluster_info": {
            "url": flink.url, "client_cert": flink.jobs["stateful-v1"], "client_key": "{{ v_pem }}"},
         "ignore_errors": True, "register": "pem"},
        {"name": "a short header value", "flinkops.flink.flink_cluster_info": {
            "url": flink.url + "/nothing", "headers": {"X-Debug": 1}, "request_retries": 0},
         "ignore_errors": True, "register": "short"},
        {"name": "results", "ansible.builtin.assert": {"that": [
            "good.flink_version is defined", "missing is failed", "'HTTP 404' in missing.msg",
            "mismatch is failed", "'checksum mismatch for http://127.0.0.1:' in mismatch.msg",
            "uploaded.jar_id | length > 0", "pem is failed", "'PEM content itself' in pem.msg",
            "'127.0.0.1' in short.msg"]}},
    ]
    runs = run_both(playbook(tmp_path, tasks), variables, tmp_path)
    for run in runs:
        assert run.rc == 0, run.output[-4000:]
        assert "********27.0.0" not in run.output
    assert_clean(runs, secrets)
    assert secrets.hits(decoded_jar_list(flink.url)) == []


def test_src_headers_never_follow_a_redirect_to_another_host(nginx, flink, tmp_path, secrets):
    """Issue 15.6: /moved/ redirects to another host (localhost instead of 127.0.0.1)."""
    name = "moved-%s" % marker()[:6]
    sha = unique_jar(flink.jobs["stateful-v1"], nginx.artifacts / (name + ".jar"))
    tasks = [{"name": "download through a redirect", "flinkops.flink.flink_jar": {
        "url": flink.url, "src_url": nginx.url("header") + "/moved/%s.jar" % name,
        "src_checksum": "sha256:" + sha, "src_headers": {"X-Repo-Token": "{{ v_token }}"}, "name": name}}]
    # One run only: a second would find the JAR uploaded and download nothing.
    runs = [run_playbook(playbook(tmp_path, tasks), {"v_token": nginx.repo_token}, tmp_path, "-vvv")]
    assert runs[0].rc == 0, runs[0].output[-4000:]
    assert_clean(runs, secrets)
    log = nginx.collector_log()
    assert "/open/%s.jar" % name in log  # the redirect was followed ...
    assert secrets.hits(log) == [], log  # ... without the repository token


def test_secret_args_and_configuration_are_never_stored_or_shown(flink, tmp_path, secrets, unique_job_name):
    """Issue 15.7: secret program arguments and configuration values, through flink_job with
    --diff and -vvv, flink_job_info, and the JAR list everyone can read."""
    # The sample job accepts only its own flags: --tag carries the secret argument here.
    variables = {"v_tag": secrets.new("tag"), "v_s3": secrets.new("s3secret")}
    job = {"url": flink.url, "name": unique_job_name, "jar": flink.jobs["stateful-v1"],
           "entry_class": flink.entry_class,
           "args": ["--name", unique_job_name, "--tag", "{{ v_tag }}", "--rate", "200"],
           "secret_args": ["--tag"], "configuration": {"s3.secret-key": "{{ v_s3 }}"}}
    tasks = [
        {"name": "deploy", "flinkops.flink.flink_job": job, "register": "deployed"},
        {"name": "again, same secrets", "flinkops.flink.flink_job": job, "register": "again"},
        {"name": "describe", "flinkops.flink.flink_job_info": {"url": flink.url, "name": unique_job_name},
         "register": "described"},
        {"name": "results", "ansible.builtin.assert": {"that": [
            "again is not changed", "described.jobs[0].spec.configuration['s3.secret-key'] == '********'"]}},
    ]
    first = run_playbook(playbook(tmp_path, tasks), variables, tmp_path, "-vvv", "--diff")
    assert first.rc == 0, first.output[-4000:]
    running = flink.the_running_job(unique_job_name)["jid"]
    # Plain output of the same play: no change, nothing printed either.
    plain = run_playbook(playbook(tmp_path, tasks[1:]), variables, tmp_path, "--diff")
    assert plain.rc == 0 and flink.the_running_job(unique_job_name)["jid"] == running
    # A changed secret is a changed spec: an upgrade, shown masked. The records keep only the old
    # secret's hash, so the running spec could not be started again: rollback=false says so.
    rotated = dict(variables, v_s3=secrets.new("s3rotated"))
    upgrade = run_playbook(playbook(tmp_path, [{"name": "rotate", "flinkops.flink.flink_job":
                                                dict(job, rollback=False), "register": "r"},
                                               {"ansible.builtin.assert": {"that": ["r is changed"]}}]),
                           rotated, tmp_path, "-vvv", "--diff")
    assert upgrade.rc == 0, upgrade.output[-4000:]
    assert flink.the_running_job(unique_job_name)["jid"] != running
    assert "********" in upgrade.output
    assert_clean([first, plain, upgrade], secrets)
    assert secrets.hits(decoded_jar_list(flink.url)) == []


@pytest.fixture(scope="module")
def tls_token_proxy(flink_cluster, tmp_path_factory, secrets):
    """nginx speaking TLS with a self-signed certificate, checking a bearer token, in front
    of Flink: what an AWX job template reaches with a Flink credential."""
    d = tmp_path_factory.mktemp("awx")
    make_ca(d, "ca")
    make_cert(d, "server", "ca", server=True)
    token = secrets.new("awxtoken")
    port = flinkctl.free_port()
    for sub in ("logs", "tmp"):
        (d / sub).mkdir()
    (d / "nginx.conf").write_text("""
worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(d)s/server.pem;
        ssl_certificate_key %(d)s/server.key;
        location / {
            if ($http_authorization != "Bearer %(token)s") { return 401; }
            proxy_pass %(upstream)s;
            client_max_body_size 0;
        }
    }
}
""" % dict(d=d, port=port, token=token, upstream=flink_cluster.url))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-p", str(d), "-c", str(d / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = "https://127.0.0.1:%d" % port
    try:
        for _attempt in range(300):
            try:
                requests.get(url, verify=False, timeout=2)
                break
            except requests.exceptions.RequestException:
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read().decode())
                time.sleep(0.1)
        yield {"url": url, "token": token}
    finally:
        process.terminate()
        process.wait(20)


AWX_ROLE_PLAY = [{"name": "AWX-style run of the role", "hosts": "localhost", "connection": "local",
                  "gather_facts": False, "roles": [{"role": "flinkops.flink.job_deploy"}]}]


@pytest.mark.first_version_only  # the environment's way into the modules, not Flink's behaviour
@pytest.mark.parametrize("entry", ["role", "deploy-playbook"])
def test_awx_environment_through_role_and_deploy_playbook(tls_token_proxy, flink, tmp_path, secrets,
                                                          unique_job_name, entry):
    """Issue 15.8: FLINK_URL, FLINK_VALIDATE_CERTS=false and FLINK_TOKEN only (no connection
    variable set) reach every module through the role and the deploy playbook."""
    env = {"FLINK_URL": tls_token_proxy["url"], "FLINK_VALIDATE_CERTS": "false",
           "FLINK_TOKEN": tls_token_proxy["token"], "FLINK_USERNAME": ""}
    variables = {"job_deploy_name": unique_job_name, "job_deploy_jar": flink.jobs["stateful-v1"],
                 "job_deploy_entry_class": flink.entry_class,
                 "job_deploy_args": ["--name", unique_job_name, "--tag", unique_job_name, "--rate", "200"],
                 "job_deploy_health_window": 2, "job_deploy_health_require_checkpoint": False}
    if entry == "role":
        play = tmp_path / "awx-role.yml"
        play.write_text(yaml.safe_dump(AWX_ROLE_PLAY))
        target = str(play)
    else:
        target = DEPLOY
    run = run_playbook(target, variables, tmp_path, "-vvv", env=env)
    assert run.rc == 0, run.output[-4000:]
    assert run.outcome["action"] == "started"
    assert flink.the_running_job(unique_job_name)["jid"] == run.outcome["job_id"]
    assert "validate_certs is false" in run.output  # the warning: verification really is off
    assert_clean([run], secrets)
    # Without FLINK_VALIDATE_CERTS the self-signed certificate is refused, clearly.
    strict = run_playbook(target, variables, tmp_path, env=dict(env, FLINK_VALIDATE_CERTS=""))
    assert strict.rc != 0 and "the server certificate is not trusted" in strict.output, strict.output[-3000:]
    assert_clean([strict], secrets)
