# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_cluster_info against a real cluster, and against endpoints that are wrong on purpose."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading

import pytest


def test_reports_version_capacity_and_savepoint_dir(flink, module):
    result = module("flink_cluster_info", dict(url=flink.url))
    assert not result.get("failed") and not result["changed"]
    assert result["flink_version"] == flink.get("/config")["flink-version"]
    overview = flink.get("/overview")
    assert result["overview"]["taskmanagers"] == overview["taskmanagers"] >= 1
    assert result["overview"]["slots_total"] == overview["slots-total"]
    assert result["configuration"]["savepoint_dir"].endswith(
        str(flink.cluster.savepoint_dir).rstrip("/"))


def test_url_from_environment(flink, module, monkeypatch):
    monkeypatch.setenv("FLINK_URL", flink.url)
    result = module("flink_cluster_info", {})
    assert not result.get("failed"), result
    assert result["flink_version"]


def test_closed_port_names_url_and_cause(module):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = module("flink_cluster_info", dict(url="http://127.0.0.1:%d" % port,
                                               request_retries=0))
    assert result["failed"]
    assert "GET http://127.0.0.1:%d/config" % port in result["msg"]
    assert "Connection refused" in result["msg"] and "cannot connect" in result["msg"]


def test_wrong_url_path_names_url_and_status(flink, module):
    result = module("flink_cluster_info", dict(url=flink.url + "/not-flink"))
    assert result["failed"]
    assert "GET %s/not-flink/config" % flink.url in result["msg"]
    assert "HTTP 404" in result["msg"]


def test_unresolvable_host(module):
    result = module("flink_cluster_info", dict(url="http://flink.invalid:8081",
                                               request_retries=0))
    assert result["failed"] and "http://flink.invalid:8081/config" in result["msg"]


@pytest.fixture
def untrusted_https(tmp_path):
    """An HTTPS endpoint with a self-signed certificate nobody trusts."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "https://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_untrusted_certificate_names_url_and_cause(module, untrusted_https):
    result = module("flink_cluster_info", dict(url=untrusted_https, request_retries=0))
    assert result["failed"]
    assert "GET %s/config" % untrusted_https in result["msg"]
    assert "TLS error" in result["msg"] and "CERTIFICATE_VERIFY_FAILED" in result["msg"]
