# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The redaction rule: URLs with credentials, tokens in every escaped form, key material."""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._redact import (
    MASK,
    Redactor,
    redact_url,
    redact_urls_in_text,
    split_url_credentials,
)
from ansible_collections.flinkops.flink.plugins.module_utils._secrets import (
    collect,
    problems,
    safe_no_log_values,
    shown_invocation,
)


@pytest.mark.parametrize("url, clean, user, password", [
    ("http://u:pw@127.0.0.1:8081", "http://127.0.0.1:8081", "u", "pw"),
    ("https://deployer:p@ss@flink.example.com/flink", "https://flink.example.com/flink", "deployer", "p@ss"),
    ("https://deployer:a:b/c@d@flink:8081/x", "https://flink:8081/x", "deployer", "a:b/c@d"),
    ("http://u:%40%3A%2F@h:1/", "http://h:1/", "u", "@:/"),
    ("http://user@h", "http://h", "user", None),
    ("http://u:pw@[::1]:8081/", "http://[::1]:8081/", "u", "pw"),
    ("http://127.0.0.1:8081/jobs", "http://127.0.0.1:8081/jobs", None, None),
    ("not a url", "not a url", None, None),
])
def test_credentials_in_urls_end_at_the_last_at_before_a_host(url, clean, user, password):
    assert split_url_credentials(url) == (clean, user, password)
    assert redact_url(url) == clean


def test_urls_inside_text_lose_their_credentials():
    text = ("GET http://u:p@ss/w@127.0.0.1:8081/config failed; see 'https://a:b@repo.example/x.jar', "
            "\"http://c:d@e/f\" and mail admin@example.com")
    out = redact_urls_in_text(text)
    assert "p@ss" not in out and ":b@" not in out and "c:d" not in out
    assert "http://127.0.0.1:8081/config" in out and "https://repo.example/x.jar" in out
    assert "admin@example.com" in out  # not a URL: untouched


@pytest.mark.parametrize("shown", [
    str,
    repr,
    json.dumps,
    lambda s: json.dumps(repr(s)),
    lambda s: "Bearer %s" % s,
    lambda s: repr("Bearer %s" % s),
    lambda s: s.strip(),
], ids=["raw", "repr", "json", "json-of-repr", "header", "header-repr", "stripped"])
@pytest.mark.parametrize("secret", ["tok-ä'\"\\-1234567890\n", "s3cr3t-with-newline\n", "plain-secret-value"])
def test_a_token_is_hidden_in_raw_and_escaped_forms(secret, shown):
    redactor = Redactor([secret])
    out = redactor.text("Authorization failed for %s." % shown(secret))
    assert secret.strip() not in out and repr(secret)[1:-1] not in out, out
    assert MASK in out


def test_basic_auth_header_payload_is_hidden():
    redactor = Redactor()
    redactor.add("hunter2-long", user="deployer")
    payload = base64.b64encode(b"deployer:hunter2-long").decode()
    assert payload not in redactor.text("header was Basic %s" % payload)
    assert payload not in redactor.text("token=%s" % payload)


def test_pem_key_material_is_hidden_raw_and_escaped():
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    redactor = Redactor()
    for text in (key, repr(key), json.dumps(key), "client_key: %s is missing" % key):
        out = redactor.text(text)
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in out, out
        assert "BEGIN PRIVATE KEY" in out  # says what it was


def test_short_values_do_not_mangle_unrelated_text():
    redactor = Redactor(["1", "abc"])
    assert redactor.text("http://127.0.0.1:8081/abc") == "http://127.0.0.1:8081/abc"
    assert safe_no_log_values({"1", "12345678", "abc", "long-enough"}) == {"long-enough"}


def test_data_is_redacted_recursively_keys_included():
    redactor = Redactor(["secret-value"])
    data = {"a": ["x secret-value y", {"secret-value": 1}], "b": ("secret-value",), "c": 3}
    assert json.dumps(redactor.data(data)).count("secret-value") == 0


SPEC = dict(url=dict(), url_username=dict(), url_password=dict(no_log=True), bearer_token=dict(no_log=True),
            headers=dict(no_log=True), src_url=dict(), client_key=dict(), args=dict(), configuration=dict(),
            secret_args=dict())


def test_invocation_masks_secret_options_urls_keys_and_secret_args():
    key = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
    params = dict(url="http://u:p@ss@127.0.0.1:1", url_username=None, url_password=None, bearer_token="token-123456",
                  headers={"X-Debug": "1"}, src_url="https://r:pw-long-1@repo/x.jar", client_key=key,
                  args=["--db-password", "dbpw-123456", "--user", "u1", "--opaque", "xyz-123456"],
                  configuration={"s3.secret-key": "s3-secret-999", "parallelism.default": "2"},
                  secret_args=["--opaque"])
    redactor = collect(params, SPEC)
    shown = shown_invocation(params, SPEC, redactor)
    text = json.dumps(shown)
    for secret in ("p@ss", "token-123456", "pw-long-1", "AAAA", "dbpw-123456", "xyz-123456", "s3-secret-999"):
        assert secret not in text, (secret, text)
    assert shown["url"] == "http://127.0.0.1:1" and shown["headers"] == {"X-Debug": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    assert shown["args"] == ["--db-password", MASK, "--user", "u1", "--opaque", MASK]
    assert shown["configuration"] == {"s3.secret-key": MASK, "parallelism.default": "2"}
    # And every one of them is hidden in free text too.
    assert "dbpw-123456" not in redactor.text("main failed: cannot log in with dbpw-123456")


@pytest.mark.parametrize("params, expected", [
    (dict(bearer_token="1"), "bearer_token is 1 characters long"),
    (dict(headers={"X-Api-Key": 1}), "headers: the value of X-Api-Key is 1 characters long"),
    (dict(request_timeout=float("nan")), "request_timeout must be between 0 and 3600 seconds, got nan"),
    (dict(request_timeout=float("inf")), "request_timeout must be between 0 and 3600 seconds, got inf"),
    (dict(client_key="-----BEGIN PRIVATE KEY-----\nQUFB\n-----END PRIVATE KEY-----"),
     "client_key must be the path of a PEM file; the value given is PEM content itself (not shown)"),
], ids=["short-token", "short-credential-header", "nan-timeout", "inf-timeout", "pem-content-as-client-key"])
def test_option_problems_are_named_without_the_value(params, expected):
    found = "; ".join(problems(params))
    assert expected in found, found
    assert "QUFB" not in found


def test_non_credential_headers_may_be_short():
    assert problems(dict(headers={"X-Debug": "1"})) == []


def test_file_problems(tmp_path):
    text = tmp_path / "ca.txt"
    text.write_text("not a certificate\n")
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    enc = tmp_path / "enc.pem"
    enc.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    assert problems(dict(ca_path=str(text))) == ["ca_path: %s is not a PEM certificate file "
                                                 "(no '-----BEGIN CERTIFICATE-----' line)" % text]
    assert problems(dict(ca_path=str(tmp_path))) == []  # a CA directory is fine
    assert problems(dict(ca_path=str(cert))) == []
    assert "holds no private key" in problems(dict(client_cert=str(cert)))[0]
    assert "is not a PEM private key" in problems(dict(client_cert=str(cert), client_key=str(text)))[0]
    assert "is encrypted" in problems(dict(client_cert=str(cert), client_key=str(enc)))[0]
    assert problems(dict(ca_path="/nonexistent/ca.pem")) == ["ca_path: no readable file at /nonexistent/ca.pem"]


def test_sealed_values_are_shown_masked():
    from ansible_collections.flinkops.flink.plugins.module_utils._sealed import seal
    sealed = seal({"args": ["--password", "pw-1234567"], "configuration": {"s3.secret-key": "k"}})
    shown = Redactor().data(sealed)
    assert shown["args"] == ["--password", MASK] and shown["configuration"] == {"s3.secret-key": MASK}


def test_specs_inside_results_are_masked():
    from ansible_collections.flinkops.flink.plugins.module_utils._secrets import mask_specs
    result = {"jobs": [{"spec": {"args": ["--token", "t-123456789", "--x", "opaque-1"],
                                 "configuration": {"s3.secret-key": "k-1", "a": "b"}}}],
              "diff": {"before": {"args": ["--x", "opaque-2"]}, "after": {}}}
    shown = mask_specs(result, ["--x"])
    assert shown["jobs"][0]["spec"] == {"args": ["--token", MASK, "--x", MASK],
                                        "configuration": {"s3.secret-key": MASK, "a": "b"}}
    assert shown["diff"]["before"]["args"] == ["--x", MASK]


def test_nested_configuration_secrets_are_found_and_masked():
    params = dict(url="http://127.0.0.1:1", configuration={"s3": {"secret-key": "nested-secret-1"}, "a": {"b": "c"}})
    redactor = collect(params, SPEC)
    shown = shown_invocation(params, SPEC, redactor)
    assert shown["configuration"] == {"s3": {"secret-key": MASK}, "a": {"b": "c"}}
    assert "nested-secret-1" not in redactor.text("echo nested-secret-1")
