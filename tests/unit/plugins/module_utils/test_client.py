# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    FlinkError,
    FlinkTimeout,
    parse_version,
    root_cause,
)

STACK = ("org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n"
         "\tat org.apache.flink.runtime.webmonitor.handlers.JarRunHandler.lambda$handleRequest$3\n"
         "Caused by: org.apache.flink.client.program.ProgramInvocationException: The main method caused an error\n"
         "\tat ...\n"
         "Caused by: java.lang.ClassNotFoundException: com.example.Missing\n"
         "\t... 12 more\n")


def refused():
    return requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", NewConnectionError(None, "Connection refused")))


def test_get_is_retried_on_503_and_connection_errors(make_client, wire):
    wire.expect((503, {"errors": ["busy"]}), refused(), (200, {"jobs": []}))
    client = make_client()
    assert client.get("/jobs/overview") == {"jobs": []}
    assert [s["method"] for s in wire.sent] == ["GET", "GET", "GET"]


def test_get_gives_up_after_the_configured_retries(make_client, wire):
    wire.expect(*[(502, {"errors": ["bad gateway"]})] * 3)
    client = make_client(retries=2)
    with pytest.raises(FlinkError) as info:
        client.get("/overview")
    assert info.value.status == 502
    assert len(wire.sent) == 3


def test_post_is_not_retried_after_a_reset_or_a_503(make_client, wire):
    wire.expect(requests.exceptions.ConnectionError("Connection reset by peer"))
    client = make_client()
    with pytest.raises(FlinkError) as info:
        client.post("/jars/abc/run", json={"jobId": "0" * 32})
    assert len(wire.sent) == 1
    assert info.value.method == "POST"
    assert info.value.url == "http://flink.test:8081/jars/abc/run"
    assert info.value.status is None

    wire.sent.clear()
    wire.expect((503, {"errors": ["unavailable"]}))
    with pytest.raises(FlinkError) as info:
        client.post("/jobs/x/stop", json={})
    assert info.value.status == 503
    assert len(wire.sent) == 1


ZIP_CLOSED = {"errors": ["Internal server error.", "<Exception on server side:\norg.apache.flink.client."
                         "program.ProgramInvocationException: The main method caused an error: ZipFile "
                         "closed\n...\nCaused by: java.util.zip.ZipException: ZipFile closed\n>"]}


def test_a_jar_closed_by_another_request_is_read_again_by_an_idempotent_post(make_client, wire):
    wire.expect((500, ZIP_CLOSED), (400, ZIP_CLOSED), (200, {"plan": {}}))
    client = make_client()
    assert client.post("/jars/abc/plan", json={}, idempotent=True) == {"plan": {}}
    assert len(wire.sent) == 3
    wire.sent.clear()
    wire.expect((500, ZIP_CLOSED))  # a run is not repeated here: submit_once decides
    with pytest.raises(FlinkError) as info:
        client.post("/jars/abc/run", json={})
    assert info.value.status == 500 and "ZipFile closed" in str(info.value)
    assert len(wire.sent) == 1
    wire.sent.clear()
    wire.expect((500, {"errors": ["java.lang.ClassNotFoundException: X"]}))  # any other 500: no
    with pytest.raises(FlinkError):
        client.post("/jars/abc/plan", json={}, idempotent=True)
    assert len(wire.sent) == 1


def test_post_that_never_reached_the_server_is_retried(make_client, wire):
    wire.expect(refused(), (200, {"jobid": "a" * 32}))
    client = make_client()
    assert client.post("/jars/abc/run", json={})["jobid"] == "a" * 32
    assert len(wire.sent) == 2


def test_read_timeout_on_post_is_not_retried(make_client, wire):
    wire.expect(requests.exceptions.ReadTimeout("read timed out"))
    client = make_client()
    with pytest.raises(FlinkError) as info:
        client.post("/jars/abc/run", json={})
    assert "no answer before the timeout" in str(info.value)
    assert len(wire.sent) == 1


def test_error_names_method_url_status_and_root_cause(make_client, wire):
    wire.expect((500, {"errors": ["Internal server error.", STACK]}))
    client = make_client()
    with pytest.raises(FlinkError) as info:
        client.post("/jars/abc/run", json={})
    text = str(info.value)
    assert "POST http://flink.test:8081/jars/abc/run answered HTTP 500" in text
    assert "java.lang.ClassNotFoundException: com.example.Missing" in text
    assert info.value.to_dict()["status"] == 500
    assert info.value.to_dict()["cause"] == "java.lang.ClassNotFoundException: com.example.Missing"


def test_non_json_error_body_is_kept(make_client, wire):
    wire.expect((401, b"<html>401 Authorization Required</html>"))
    client = make_client()
    with pytest.raises(FlinkError) as info:
        client.get("/overview")
    assert "authentication failed" in str(info.value)
    assert info.value.status == 401
    assert len(wire.sent) == 1


def test_basic_auth_header(make_client, wire):
    wire.expect((200, {}))
    make_client(url_username="deployer", url_password="s3cret").get("/overview")
    expected = "Basic " + base64.b64encode(b"deployer:s3cret").decode()
    assert wire.sent[0]["headers"]["Authorization"] == expected


def test_bearer_token_and_extra_headers(make_client, wire):
    wire.expect((200, {}))
    make_client(bearer_token="tok", headers={"X-Api-Key": "k1"}).get("/overview")
    headers = wire.sent[0]["headers"]
    assert headers["Authorization"] == "Bearer tok"
    assert headers["X-Api-Key"] == "k1"


def test_per_request_timeout(make_client, wire):
    wire.expect((200, {}), (200, {}))
    client = make_client(timeout=7)
    client.get("/overview")
    client.get("/overview", timeout=2)
    assert [s["timeout"] for s in wire.sent] == [7, 2]


def test_credentials_in_url_never_shown(make_client, wire):
    wire.expect((404, {"errors": ["Not found: /nope"]}))
    client = make_client(url="http://user:pw@flink.test:8081")
    with pytest.raises(FlinkError) as info:
        client.get("/nope")
    assert "pw" not in str(info.value)
    assert info.value.url == "http://flink.test:8081/nope"


def test_tls_settings_reach_the_session(make_client, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    client = make_client(url="https://flink.test", ca_path=str(ca), client_cert="c.pem",
                         client_key="k.pem")
    assert client.session.verify == str(ca)
    assert client.session.cert == ("c.pem", "k.pem")
    assert make_client(url="https://flink.test", validate_certs=False).session.verify is False


def test_a_ca_bundle_named_by_the_environment_is_used_also_on_loopback(make_client, monkeypatch, tmp_path):
    """REQUESTS_CA_BUNDLE alone (no ca_path) is honoured, also for a loopback URL, where the
    client turns requests' own environment reading off (it never proxies loopback)."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert make_client(url="https://127.0.0.1:8443").session.verify is True
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/openssl-bundle.pem")
    assert make_client(url="https://127.0.0.1:8443").session.verify == "/etc/ssl/openssl-bundle.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "corp-ca.pem"))
    client = make_client(url="https://127.0.0.1:8443")
    assert client.session.trust_env is False and client.session.verify == str(tmp_path / "corp-ca.pem")
    assert make_client(url="https://127.0.0.1:8443", ca_path="/x/ca.pem").session.verify == "/x/ca.pem"
    assert make_client(url="https://127.0.0.1:8443", validate_certs=False).session.verify is False


def test_url_must_have_a_scheme():
    from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient
    with pytest.raises(FlinkError, match="must start with http"):
        FlinkClient("flink:8081")


def test_wait_for_deadline(make_client):
    client = make_client()
    calls = []
    with pytest.raises(FlinkTimeout, match="waiting for the thing"):
        client.wait_for(lambda: calls.append(1), timeout=0, interval=0, what="the thing")
    assert calls == [1]
    assert client.wait_for(lambda: "done", timeout=1, interval=0, what="x") == "done"


def test_version_is_read_once(make_client, wire):
    wire.expect((200, {"flink-version": "1.20.5", "refresh-interval": 3000}))
    client = make_client()
    assert client.version == (1, 20, 5)
    assert client.version >= (1, 20)
    assert len(wire.sent) == 1


@pytest.mark.parametrize("text,expected", [
    ("2.3.0", (2, 3, 0)), ("1.18.1", (1, 18, 1)), ("2.1-SNAPSHOT", (2, 1)), (None, (0,))])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_root_cause_without_caused_by():
    assert root_cause(["org.apache.flink.FooException: bad"]) == "org.apache.flink.FooException: bad"
    assert root_cause(None) is None


# --- issue 15: local errors are not network errors; proxies named; root causes completed


def test_tls_and_invalid_input_errors_are_not_retried(make_client, wire):
    slept = []
    wire.expect(requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"))
    client = make_client(sleep=slept.append)
    with pytest.raises(FlinkError) as info:
        client.get("/config")
    assert "does not speak TLS on this port" in str(info.value)
    wire.expect(requests.exceptions.InvalidHeader("Invalid leading whitespace in header value"))
    with pytest.raises(FlinkError) as info:
        client.get("/config")
    assert "invalid request (InvalidHeader)" in str(info.value)
    assert len(wire.sent) == 2 and slept == []


def test_oserror_before_sending_is_reported_not_raised(make_client, wire):
    wire.expect(OSError("Could not find a suitable TLS CA certificate bundle, invalid path: /x"))
    with pytest.raises(FlinkError) as info:
        make_client().get("/config")
    assert "cannot send the request (OSError)" in str(info.value) and "/x" in str(info.value)


def test_a_proxy_answering_is_named(make_client, wire, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxyuser:proxy-secret-1@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    wire.expect((502, b"<html>Bad Gateway</html>"))
    client = make_client(url="http://flink.example:8081", retries=0)
    with pytest.raises(FlinkError) as info:
        client.get("/overview")
    text = str(info.value)
    assert "the proxy http://proxy.example:3128 answered instead of Flink" in text
    assert "proxy-secret-1" not in text


def test_a_flink_502_with_errors_is_flinks(make_client, wire):
    wire.expect((502, {"errors": ["Service temporarily unavailable due to an ongoing leader election."]}))
    with pytest.raises(FlinkError) as info:
        make_client(retries=0).get("/overview")
    assert str(info.value).startswith("Flink rejected the request")


def test_loopback_is_not_proxied_and_no_proxy_is_honoured(make_client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert make_client(url="http://127.0.0.1:8081").proxy is None
    assert make_client(url="http://localhost:8081").proxy is None
    assert make_client(url="http://[::1]:8081").proxy is None
    assert make_client(url="http://flink.internal.example:8081").proxy is None
    assert make_client(url="http://flink.example:8081").proxy == "http://proxy.example:3128"


def test_password_in_url_becomes_basic_auth_and_is_never_shown(make_client, wire):
    wire.expect((500, {"errors": ["echo: p@ss:w/rd-123 and http://deployer:p@ss:w/rd-123@flink.test:8081/x"]}))
    client = make_client(url="http://deployer:p@ss:w/rd-123@flink.test:8081", retries=0)
    with pytest.raises(FlinkError) as info:
        client.get("/overview")
    assert wire.sent[0]["url"] == "http://flink.test:8081/overview"
    assert wire.sent[0]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"deployer:p@ss:w/rd-123").decode()
    assert "p@ss:w/rd-123" not in str(info.value) + repr(info.value.to_dict())


def test_empty_get_answer_is_an_error(make_client, wire):
    wire.expect((200, b""))
    with pytest.raises(FlinkError) as info:
        make_client().get("/config")
    assert "empty body where JSON was expected" in str(info.value) and info.value.status == 200


@pytest.mark.parametrize("errors, expected", [
    (["<Exception on server side:\njava.lang.IllegalArgumentException: Could not parse value '1.5' for key "
      "'parallelism.default'.\n\tat x\nCaused by: java.lang.NumberFormatException: For input string: \"1.5\"\n"],
     "java.lang.IllegalArgumentException: Could not parse value '1.5' for key 'parallelism.default'. "
     "(caused by java.lang.NumberFormatException: For input string: \"1.5\")"),
    (["org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n"
      "Caused by: java.io.IOException: Cannot read metadata of file:/sp/sp-1/_metadata\n\tat y\n"
      "Caused by: java.io.EOFException\n"],
     "java.io.IOException: Cannot read metadata of file:/sp/sp-1/_metadata (caused by java.io.EOFException)"),
    ([STACK], "java.lang.ClassNotFoundException: com.example.Missing"),
], ids=["number-format-names-key", "eof-names-path", "plain"])
def test_root_cause_names_the_key_or_path(errors, expected):
    assert root_cause(errors) == expected


def test_an_unreadable_savepoint_is_named(make_client, wire):
    wire.expect((400, {"errors": ["org.apache.flink.runtime.rest.handler.RestHandlerException: Could not "
                                  "execute application.\nCaused by: java.lang.RuntimeException: "
                                  "java.io.EOFException\nCaused by: java.io.EOFException\n"]}))
    with pytest.raises(FlinkError) as info:
        make_client().post("/jars/a.jar/run", json={"savepointPath": "file:/sp/savepoint-1"})
    text = str(info.value)
    assert text.startswith("the savepoint or checkpoint file:/sp/savepoint-1 cannot be read")
    assert "POST http://flink.test:8081/jars/a.jar/run answered HTTP 400: java.io.EOFException" in text


@pytest.mark.parametrize("reason, said", [
    ("certificate verify failed: Hostname mismatch, certificate is not valid for 'flink.test'",
     "not issued for the host in url"),
    ("certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'",
     "not issued for the host in url"),
    ("certificate verify failed: certificate has expired", "has expired (renew it; ca_path does not help)"),
    ("certificate verify failed: certificate is not yet valid", "not valid yet (check the clocks"),
    ("certificate verify failed: self-signed certificate", "not trusted (set ca_path to the CA"),
    ("certificate verify failed: unable to get local issuer certificate", "not trusted (set ca_path"),
])
def test_each_certificate_failure_gets_its_own_hint(reason, said):
    import requests
    from ansible_collections.flinkops.flink.plugins.module_utils._transport import describe_transport_error
    what, detail = describe_transport_error(requests.exceptions.SSLError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] %s (_ssl.c:1006)" % reason))
    assert said in what and reason in detail


def test_a_twin_has_the_same_options_and_a_session_of_its_own():
    """A lease's renewing thread talks through a twin: the run's held request holds nothing
    of it up, and its answers never become the run's last answer."""
    from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient

    client = FlinkClient("https://flink.example:8081", url_username="u", url_password="secret-pw",
                         headers={"X-Team": "data"}, validate_certs=False, timeout=7)
    client.last = ("GET", "https://flink.example:8081/jobs/overview", 200)
    twin = client.twin()
    assert twin.session is not client.session and twin.last is None and client.last is not None
    assert (twin.base_url, twin.timeout, twin.session.verify) == (client.base_url, 7, False)
    assert twin.session.auth == client.session.auth and twin.session.headers["X-Team"] == "data"
    assert twin.session.trust_env == client.session.trust_env
