# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX credential type injects exactly the environment the modules read, and it works.

``inject`` renders ``injectors`` as AWX does (awx/main/models/credential:
CredentialType.inject_credential): inputs left empty are absent from the
namespace, unset booleans are False, each file injector is rendered into a
0600 temp file under the private data dir's env/ and its path is
``tower.filename`` (``tower.filename.<name>`` for ``template.<name>``), then
every env injector is rendered in a Jinja2 ImmutableSandboxedEnvironment.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import stat
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ansible_collections.flinkops.flink.plugins.module_utils._module import (
    connection_argument_spec,
)

from conftest import COLLECTION, ROOT, run, tool

CREDENTIAL_TYPE = ROOT / "examples" / "awx" / "credential_type.yml"
TOKEN = "s3cr3t-token"
USER, PASSWORD = "deployer", "pa55word"


def module_env_vars():
    """The environment variables the modules fall back to, from the argument spec itself."""
    names = {}
    for option, spec in connection_argument_spec().items():
        fallback = spec.get("fallback")
        if fallback:
            assert callable(fallback[0])
            for name in fallback[1]:
                names[name] = option
    return names


class _Namespace:
    pass


def inject(credential_type, inputs, private_data_dir):
    namespace = {"tower": _Namespace()}
    for name, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[name] = value
    for field in credential_type["inputs"]["fields"]:
        if field["type"] == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = private_data_dir / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=str(env_dir))
        with os.fdopen(handle, "w") as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            namespace["tower"].filename = path
        else:
            if not hasattr(namespace["tower"], "filename"):
                namespace["tower"].filename = _Namespace()
            setattr(namespace["tower"].filename, label.split(".", 1)[1], path)
    return dict((name, sandbox.from_string(template).render(**namespace))
                for name, template in credential_type["injectors"]["env"].items())


@pytest.fixture(scope="module")
def credential_type():
    return yaml.safe_load(CREDENTIAL_TYPE.read_text())


def test_credential_type_is_well_formed(credential_type):
    assert credential_type["kind"] == "cloud"
    fields = dict((f["id"], f) for f in credential_type["inputs"]["fields"])
    assert set(fields) == {"url", "username", "password", "token", "ca_cert", "client_cert",
                           "client_key", "validate_certs", "state_store"}
    assert all(f["type"] in ("string", "boolean") for f in fields.values())
    for secret in ("password", "token", "client_key", "state_store"):
        assert fields[secret].get("secret") is True, secret
    for multiline in ("ca_cert", "client_cert", "client_key"):
        assert fields[multiline].get("multiline") is True, multiline
    assert credential_type["inputs"]["required"] == ["url"]
    # Injectors only use declared inputs (and AWX's tower namespace).
    env = ImmutableSandboxedEnvironment()
    injectors = credential_type["injectors"]
    for template in list(injectors["env"].values()) + list(injectors["file"].values()):
        assert meta.find_undeclared_variables(env.parse(template)) <= set(fields) | {"tower"}
    assert all(label == "template" or label.startswith("template.") for label in injectors["file"])


def test_injected_env_is_exactly_what_the_modules_read(credential_type, tmp_path):
    assert set(credential_type["injectors"]["env"]) == set(module_env_vars())
    ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    env = inject(credential_type, {"url": "https://flink:8081", "token": TOKEN, "ca_cert": ca_pem},
                 tmp_path)
    assert set(env) == set(module_env_vars())
    assert env["FLINK_URL"] == "https://flink:8081" and env["FLINK_TOKEN"] == TOKEN
    # Unset inputs render empty; the modules treat empty as not set.
    assert env["FLINK_USERNAME"] == env["FLINK_PASSWORD"] == ""
    assert env["FLINK_CLIENT_CERT"] == env["FLINK_CLIENT_KEY"] == env["FLINK_STATE_STORE"] == ""
    # An unset "verify" means verify.
    assert env["FLINK_VALIDATE_CERTS"] == "true"
    with open(env["FLINK_CA_PATH"]) as ca_file:
        assert ca_file.read() == ca_pem
    assert stat.S_IMODE(os.stat(env["FLINK_CA_PATH"]).st_mode) == 0o600
    assert os.path.dirname(env["FLINK_CA_PATH"]) == str(tmp_path / "env")

    basic = inject(credential_type, {"url": "http://flink:8081", "username": USER,
                                     "password": PASSWORD, "validate_certs": "false"},
                   tmp_path / "basic")
    assert (basic["FLINK_USERNAME"], basic["FLINK_PASSWORD"], basic["FLINK_TOKEN"]) == \
        (USER, PASSWORD, "")
    assert basic["FLINK_CA_PATH"] == "" and basic["FLINK_VALIDATE_CERTS"] == "false"


# --------------------------------------------------------------------------- real run


def make_pki(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    def openssl(*args):
        proc = run(["openssl"] + list(args), cwd=directory)
        assert proc.returncode == 0, proc.stderr
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=flinkops test CA", "-keyout", "ca.key", "-out", "ca.pem",
            # strict verification (Python 3.13) wants key usage on a CA, an AKI on a leaf
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")
    (directory / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid,issuer\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


class AuthProxy:
    """HTTPS in front of Flink that only forwards GETs with the expected credentials."""

    def __init__(self, upstream, cert, key):
        self.seen = []
        proxy = self
        allowed = {"Bearer " + TOKEN,
                   "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 pylint: disable=invalid-name
                auth = self.headers.get("Authorization", "")
                proxy.seen.append(auth.split(" ")[0])
                if auth not in allowed:
                    status, body = 401, b'{"errors": ["unauthorized"]}'
                else:
                    answer = requests.get(upstream + self.path, timeout=30)
                    status, body = answer.status_code, answer.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def auth_proxy(ee_flink, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    ca, cert, key = make_pki(pki)
    proxy = AuthProxy(ee_flink.url, cert, key)
    proxy.ca_pem = ca.read_text()
    yield proxy
    proxy.close()


def cluster_info(env, tmp_path):
    """``ansible localhost -m flinkops.flink.flink_cluster_info`` with that environment only."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(env, PATH=os.path.dirname(tool("ansible")) + ":/usr/bin:/bin", HOME=str(home),
               LANG="C.UTF-8", ANSIBLE_COLLECTIONS_PATH=str(COLLECTION.parents[2]),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = run([tool("ansible"), "localhost", "-m", "flinkops.flink.flink_cluster_info"], env=env,
               timeout=120)
    # "localhost | SUCCESS => {...}" (the default callback; json needs ansible.posix)
    assert "localhost | " in proc.stdout and " => " in proc.stdout, proc.stdout + proc.stderr
    result = json.JSONDecoder().raw_decode(proc.stdout.split(" => ", 1)[1])[0]
    return proc.returncode, result


# AWX injects every env variable the credential type declares, empty ones too
# (FLINK_USERNAME="" next to FLINK_TOKEN="..."): the modules must take an empty
# variable as unset, or bearer_token and url_username would clash.
def test_injected_env_runs_a_module_against_real_flink(credential_type, auth_proxy, ee_flink,
                                                       tmp_path):
    version = ee_flink.version
    # Bearer token, TLS verified against the injected CA file.
    env = inject(credential_type, {"url": auth_proxy.url, "token": TOKEN,
                                   "ca_cert": auth_proxy.ca_pem}, tmp_path / "token")
    rc, result = cluster_info(env, tmp_path)
    assert rc == 0, result
    assert result["flink_version"] == version and result["overview"]["taskmanagers"] >= 1
    assert set(auth_proxy.seen) == {"Bearer"}

    # Basic auth, certificate verification switched off by the credential.
    auth_proxy.seen.clear()
    env = inject(credential_type, {"url": auth_proxy.url, "username": USER, "password": PASSWORD,
                                   "validate_certs": "false"}, tmp_path / "basic")
    rc, result = cluster_info(env, tmp_path)
    assert rc == 0, result
    assert result["flink_version"] == version
    assert set(auth_proxy.seen) == {"Basic"}

    # Without the CA the certificate does not verify: the CA file injector is what made it work.
    env = inject(credential_type, {"url": auth_proxy.url, "token": TOKEN}, tmp_path / "no-ca")
    rc, result = cluster_info(env, tmp_path)
    assert rc != 0, result
    assert "certificate" in json.dumps(result).lower(), result
