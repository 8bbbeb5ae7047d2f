# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The one transport to the Flink JobManager REST API.

Owns the HTTP session, authentication, TLS, timeouts, the retry rules and the
mapping of every failure to FlinkError. Nothing above this layer builds HTTP.
"""

from __future__ import annotations

import re
import time
import traceback

REQUESTS_IMPORT_ERROR = None
try:
    import requests
    from requests.adapters import HTTPAdapter
except ImportError:  # pragma: no cover - reported through missing_required_lib
    requests = None
    HTTPAdapter = object
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

RETRY_STATUSES = frozenset((502, 503, 504))
_CAUSED_BY = re.compile(r"^Caused by: (.+)$", re.MULTILINE)
_MAX_ERROR_TEXT = 2000


def root_cause(errors):
    """Return the line a human needs from Flink's ``errors`` list.

    Flink puts a whole Java stack trace into ``errors``; the last ``Caused by:``
    is the real reason, the first line is the fallback.
    """
    if not errors:
        return None
    if isinstance(errors, str):
        errors = [errors]
    text = "\n".join(str(e) for e in errors)
    causes = _CAUSED_BY.findall(text)
    if causes:
        return causes[-1].strip()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("<Exception on server side"):
            return line
    return text.strip()[:_MAX_ERROR_TEXT]


class FlinkError(Exception):
    """Any failure talking to Flink, with everything a user needs to act on it."""

    def __init__(self, msg, method=None, url=None, status=None, errors=None, cause=None):
        self.msg = msg
        self.method = method
        self.url = url
        self.status = status
        self.errors = errors
        self.cause = cause if cause is not None else root_cause(errors)
        super().__init__(str(self))

    def __str__(self):
        parts = [self.msg]
        if self.method and self.url:
            request = "%s %s" % (self.method, self.url)
            parts.append("%s answered HTTP %s" % (request, self.status) if self.status else request)
        if self.cause and self.cause not in self.msg:
            parts.append(self.cause)
        return ": ".join(parts)

    def to_dict(self):
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "cause": self.cause,
            "errors": _truncate_errors(self.errors),
        }


class FlinkTimeout(FlinkError):
    """An asynchronous operation did not finish before its deadline."""


def _truncate_errors(errors):
    if errors is None:
        return None
    if isinstance(errors, str):
        errors = [errors]
    return [str(e)[:_MAX_ERROR_TEXT] for e in errors]


def _never_sent(exc):
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


def _describe_transport_error(exc):
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate not trusted or client certificate refused)", str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out", str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer before the timeout", str(exc)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_sent(exc):
            return "cannot connect", str(exc)
        # Connected, then reset or closed: the request may have reached Flink.
        return "connection closed before an answer", str(exc)
    return "request failed", str(exc)


class FlinkClient:
    """A session to one Flink REST endpoint.

    ``retries`` applies only where a repeat is harmless: requests that read, or
    requests that never reached the server. A request that changes something and
    may have arrived is never repeated here; callers make those safe with
    client-chosen ids (job id, savepoint trigger id).
    """

    def __init__(self, url, url_username=None, url_password=None, bearer_token=None,
                 headers=None, validate_certs=True, ca_path=None, client_cert=None,
                 client_key=None, timeout=30, retries=3, retry_backoff=0.5,
                 sleep=time.sleep, session=None):
        if requests is None:
            raise RuntimeError("the Python library requests is required")
        if not url or not re.match(r"^https?://", url):
            raise FlinkError("url must start with http:// or https://, got %r" % (url,))
        self.base_url = url.rstrip("/")
        # Credentials inside the URL must never reach a message or a result.
        self.public_base_url = _redact(self.base_url)
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.sleep = sleep
        self._dashboard_config = None
        self.request_count = 0
        self.session = session or requests.Session()
        # One connection is reused for every call of a module run.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=2))
        self.session.mount("https://", HTTPAdapter(pool_maxsize=2))
        self.session.headers["Accept"] = "application/json"
        if headers:
            self.session.headers.update(headers)
        if bearer_token:
            self.session.headers["Authorization"] = "Bearer %s" % bearer_token
        elif url_username:
            self.session.auth = (url_username, url_password or "")
        self.session.verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
        if client_cert:
            self.session.cert = (client_cert, client_key) if client_key else client_cert
        # Proxies from the environment are honoured, but never for loopback.
        self.session.trust_env = True

    def url(self, path):
        return "%s/%s" % (self.base_url, path.lstrip("/"))

    def public_url(self, path):
        return "%s/%s" % (self.public_base_url, path.lstrip("/"))

    def request(self, method, path, json=None, params=None, data=None, headers=None,
                expect=(200, 201, 202), timeout=None, idempotent=None, allow_status=()):
        """Send one request; return the decoded JSON body (or None).

        ``allow_status`` lists statuses the caller handles itself: the response
        object is returned for those instead of raising.
        """
        url = self.url(path)
        shown = self.public_url(path)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        attempt = 0
        while True:
            attempt += 1
            self.request_count += 1
            try:
                # verify is passed per request: set only on the session, it loses to
                # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment, and ca_path
                # would be silently ignored (requests issue 3829).
                response = self.session.request(
                    method, url, json=json, params=params, data=data, headers=headers,
                    timeout=timeout or self.timeout, verify=self.session.verify)
            except requests.exceptions.RequestException as exc:
                retryable = idempotent or _never_sent(exc)
                if retryable and attempt <= self.retries and not _rewinds_impossible(data):
                    self._backoff(attempt)
                    continue
                what, detail = _describe_transport_error(exc)
                raise FlinkError("cannot reach Flink (%s)" % what, method=method, url=shown,
                                 cause=detail)
            if response.status_code in RETRY_STATUSES and idempotent and attempt <= self.retries:
                self._backoff(attempt)
                continue
            if response.status_code in allow_status:
                return response
            if response.status_code not in expect:
                raise self._http_error(method, shown, response)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise FlinkError("Flink answered with a body that is not JSON", method=method,
                                 url=shown, status=response.status_code,
                                 cause=response.text[:300])

    def _backoff(self, attempt):
        self.sleep(self.retry_backoff * (2 ** (attempt - 1)))

    @staticmethod
    def _http_error(method, url, response):
        errors = None
        try:
            body = response.json()
            errors = body.get("errors") if isinstance(body, dict) else None
        except ValueError:
            errors = [response.text[:_MAX_ERROR_TEXT]] if response.text else None
        if response.status_code == 401:
            msg = "authentication failed (check url_username/url_password or bearer_token)"
        elif response.status_code == 403:
            msg = "access denied by the REST endpoint"
        elif response.status_code == 404 and not errors:
            msg = "not found"
        else:
            msg = "Flink rejected the request"
        return FlinkError(msg, method=method, url=url, status=response.status_code, errors=errors)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    @property
    def dashboard_config(self):
        """Flink's /config answer (version, refresh interval, features), read once."""
        if self._dashboard_config is None:
            self._dashboard_config = self.get("/config")
        return self._dashboard_config

    @property
    def version(self):
        """The cluster's Flink version as a tuple of ints."""
        return parse_version(self.dashboard_config.get("flink-version"))

    def wait_for(self, check, timeout, interval, what):
        """Call ``check()`` until it returns something other than None.

        Raises FlinkTimeout naming ``what`` when ``timeout`` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise FlinkTimeout("timed out after %ss waiting for %s" % (timeout, what))
            self.sleep(interval)


def _rewinds_impossible(data):
    # A streamed body already consumed cannot be sent again.
    return data is not None and not isinstance(data, (bytes, str, dict))


def parse_version(text):
    if not text:
        return (0,)
    numbers = re.findall(r"\d+", text.split("-")[0])
    return tuple(int(n) for n in numbers[:3]) or (0,)


def download(url, destination, headers=None, validate_certs=True, timeout=60):
    """Stream ``url`` into the file ``destination``; return its sha256 hex digest.

    Used for JARs published by CI (``src_url``); never for the Flink API.
    """
    import hashlib

    digest = hashlib.sha256()
    try:
        with requests.get(url, headers=headers or {}, verify=validate_certs, stream=True,
                          timeout=timeout) as response:
            if response.status_code != 200:
                raise FlinkError("download failed", method="GET", url=_redact(url),
                                 status=response.status_code, cause=response.text[:300])
            with open(destination, "wb") as handle:
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    digest.update(chunk)
                    handle.write(chunk)
    except requests.exceptions.RequestException as exc:
        what, detail = _describe_transport_error(exc)
        raise FlinkError("download failed (%s)" % what, method="GET", url=_redact(url),
                         cause=detail)
    return digest.hexdigest()


def _redact(url):
    return re.sub(r"//[^/@]*@", "//", url)
