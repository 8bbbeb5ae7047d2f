# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""How a request failed before an answer came, and where it may go: retry rules,
wording of transport errors, proxies."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

try:
    import requests
except ImportError:  # pragma: no cover - reported by _client
    requests = None

from ansible_collections.flinkops.flink.plugins.module_utils._redact import redact_url


def never_sent(exc):
    """True when a request failed before any byte reached the server.

    Only then is it safe to repeat a request that changes something.
    """
    if requests is None:
        return False
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        # urllib3's NameResolutionError (DNS) is a subclass of NewConnectionError.
        return any(cls.__name__ == "NewConnectionError" for cls in type(reason).__mro__)
    return False


def transient(exc):
    """Network trouble that may pass. TLS failures and bad local input (an invalid
    URL or header, a CA file that cannot be loaded) fail the same way every time."""
    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)):
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


_NOT_TLS = ("WRONG_VERSION_NUMBER", "record layer failure", "unknown protocol", "http request",
            "RECORD_LAYER_FAILURE", "packet length too long")


# OpenSSL's reasons for a failed verification that ca_path cannot fix.
_VERIFY_REASONS = (
    (("Hostname mismatch", "IP address mismatch", "doesn't match"),
     "the server certificate is not issued for the host in url (use the name the certificate "
     "names, or have it reissued for this one; ca_path does not help)"),
    (("certificate has expired",),
     "the server certificate has expired (renew it; ca_path does not help)"),
    (("certificate is not yet valid",),
     "the server certificate is not valid yet (check the clocks of this host and the server)"),
)


def _verify_failure(detail):
    for markers, what in _VERIFY_REASONS:
        if any(marker in detail for marker in markers):
            return "TLS error: " + what
    return "TLS error: the server certificate is not trusted (set ca_path to the CA that signed it)"


def describe_transport_error(exc, proxy=None):
    """(what went wrong, detail) for an exception raised while sending a request."""
    detail = str(exc)
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy %s refused or failed the connection" % (proxy or "from the environment"), detail
    if isinstance(exc, requests.exceptions.SSLError):
        if any(marker in detail for marker in _NOT_TLS):
            return ("TLS handshake failed: the server does not speak TLS on this port; "
                    "use an http:// URL or the TLS port"), detail
        if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
            return _verify_failure(detail), detail
        unloadable = ("PEM", "KEY_VALUES_MISMATCH", "key values mismatch", "NO_START_LINE", "no start line")
        if any(marker in detail for marker in unloadable):
            return "TLS error: ca_path, client_cert or client_key cannot be loaded", detail
        return ("TLS error (the server refused the handshake: a client certificate missing "
                "or not trusted?)"), detail
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out", detail
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer before the timeout", detail
    if isinstance(exc, requests.exceptions.ConnectionError):
        if never_sent(exc):
            return "cannot connect", detail
        # Connected, then reset or closed: the request may have reached Flink.
        return "connection closed before an answer", detail
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader,
                        requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema)):
        return "invalid request (%s)" % type(exc).__name__, detail
    return "request failed (%s)" % type(exc).__name__, detail


def is_loopback(url):
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def environment_proxy(url):
    """The proxy requests would use for ``url`` from the environment (NO_PROXY honoured),
    credentials removed; None for loopback, which is never proxied."""
    if is_loopback(url):
        return None
    proxies = requests.utils.get_environ_proxies(url)
    proxy = requests.utils.select_proxy(url, proxies)
    return redact_url(proxy) if proxy else None


def header_problem(headers, what):
    """HTTP sends header values as Latin-1: say which header cannot be sent (never its value)."""
    for name, value in (headers or {}).items():
        try:
            str(value).encode("latin-1")
        except UnicodeEncodeError as exc:
            return ("%s: the value of %s has a character that HTTP headers cannot carry "
                    "(position %d; only Latin-1 is allowed)" % (what, name, exc.start))
        if "\n" in str(value).strip() or "\r" in str(value).strip():
            return "%s: the value of %s spans several lines" % (what, name)
    return None
