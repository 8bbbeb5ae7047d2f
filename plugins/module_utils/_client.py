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

import copy
import math
import os
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

from ansible_collections.flinkops.flink.plugins.module_utils._redact import (
    Redactor,
    redact_url,
    split_url_credentials,
)
from ansible_collections.flinkops.flink.plugins.module_utils._transport import (
    describe_transport_error,
    environment_proxy,
    header_problem,
    is_loopback,
    never_sent,
    transient,
)

RETRY_STATUSES = frozenset((502, 503, 504))
# Requests that read one JAR at the same time (plans, runs): the JDK shares an open JarFile
# between the class loaders of one path, and the first request done closes it under the others,
# which Flink answers with a 500 naming a closed zip file (a 400 when it closed while Flink
# read the program's manifest, before any job existed). The same request again succeeds.
_JAR_CLOSED = re.compile(r"zip ?file closed", re.IGNORECASE)
_CAUSED_BY = re.compile(r"^Caused by: (.+)$", re.MULTILINE)
_MAX_ERROR_TEXT = 2000
_UNREADABLE_SAVEPOINT = re.compile(r"EOFException|magic number|StreamCorruptedException|"
                                   r"UTFDataFormatException|Cannot read|Could not read|metadata",
                                   re.IGNORECASE)


_EXCEPTION_LINE = re.compile(r"^(?:Caused by: )?([A-Za-z_$][\w$]*(?:\.[\w$]+)+(?:Exception|Error|Throwable)\b.*)$",
                             re.MULTILINE)
# What an outer exception names that its root cause may not: a configuration key, a path.
_NAMES_SUBJECT = re.compile(r"key '|file:|hdfs:|s3[ap]?:|gs:|abfss?:|\bpath\b", re.IGNORECASE)


def root_cause(errors):
    """Return the line a human needs from Flink's ``errors`` list.

    Flink puts a whole Java stack trace into ``errors``; the last ``Caused by:``
    is the real reason, the first line is the fallback. A root cause that says
    too little (``java.io.EOFException``, ``NumberFormatException: For input
    string: "1.5"``) is completed with the nearest outer exception that names the
    configuration key or the path concerned.
    """
    if not errors:
        return None
    if isinstance(errors, str):
        errors = [errors]
    text = "\n".join(str(e) for e in errors)
    chain = [line.strip() for line in _EXCEPTION_LINE.findall(text)]
    causes = _CAUSED_BY.findall(text)
    if causes:
        last = causes[-1].strip()
        outer = [c for c in chain if c != last and not c.startswith(last)]
        if not _NAMES_SUBJECT.search(last) or ":" not in last:
            for line in reversed(outer):
                if _NAMES_SUBJECT.search(line):
                    return "%s (caused by %s)" % (line, last)
        return last
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("<Exception on server side"):
            if _EXCEPTION_LINE.match(line) and not _NAMES_SUBJECT.search(line):
                # No "Caused by:" but the exception names nothing: look for one that does.
                named = [c for c in chain if _NAMES_SUBJECT.search(c)]
                if named:
                    return "%s (from %s)" % (named[0], line)
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

    def redacted(self, redactor):
        """This error with every secret ``redactor`` knows hidden."""
        for field in ("msg", "url", "cause"):
            setattr(self, field, redactor.text(getattr(self, field)))
        self.errors = redactor.data(self.errors)
        self.args = (str(self),)
        return self

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


# Where requests itself finds a CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), and where
# OpenSSL does (SSL_CERT_FILE). Read here, not by requests: it skips the environment for the
# loopback addresses this client never proxies (trust_env off).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def environment_ca_bundle(env=None):
    """The CA bundle the environment names, or None."""
    env = os.environ if env is None else env
    for name in CA_BUNDLE_VARIABLES:
        if env.get(name):
            return env[name]
    return None


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
                 sleep=time.sleep, session=None, redactor=None):
        if requests is None:
            raise RuntimeError("the Python library requests is required")
        self.redactor = redactor or Redactor()
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            raise FlinkError("url must start with http:// or https://, got %r"
                             % (self.redactor.text(redact_url(url)),))
        if isinstance(timeout, float) and not math.isfinite(timeout):
            raise FlinkError("request_timeout must be a number of seconds, got %s" % timeout)
        # Credentials inside the URL (any characters, '@' and '/' too) become basic
        # authentication; they never reach a message or a result.
        url, user_in_url, password_in_url = split_url_credentials(url)
        self.redactor.add(password_in_url, user=user_in_url)
        self.redactor.add(url_password, user=url_username)
        self.redactor.add(bearer_token)
        for value in (headers or {}).values():
            self.redactor.add(value)
        self.base_url = url.rstrip("/")
        self.public_base_url = self.base_url
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.sleep = sleep
        self._dashboard_config = None
        self.request_count = 0
        self.last = None  # (method, shown url, status) of the last answer, for errors
        self.session = session or requests.Session()
        # One connection is reused for every call of a module run.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=2))
        self.session.mount("https://", HTTPAdapter(pool_maxsize=2))
        self.session.headers["Accept"] = "application/json"
        problem = header_problem(headers, "headers")
        if problem:
            raise FlinkError(problem)
        if headers:
            self.session.headers.update(dict((str(k), str(v).strip()) for k, v in headers.items()))
        if bearer_token:
            problem = header_problem({"Authorization": bearer_token}, "bearer_token")
            if problem:
                raise FlinkError(problem)
            self.session.headers["Authorization"] = "Bearer %s" % bearer_token.strip()
        elif url_username or user_in_url:
            # RFC 7617: UTF-8, so a password with any character can be sent.
            user = url_username or user_in_url
            password = url_password if url_username else password_in_url
            self.session.auth = (user.encode("utf-8"), (password or "").encode("utf-8"))
        self.session.verify = (ca_path or environment_ca_bundle() or True) if validate_certs else False
        if client_cert:
            self.session.cert = (client_cert, client_key) if client_key else client_cert
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY) are honoured, but
        # loopback is never proxied: a local Flink is never behind a forward proxy.
        self.session.trust_env = not is_loopback(self.base_url)
        self.proxy = environment_proxy(self.base_url) if self.session.trust_env else None

    def twin(self):
        """A client of the same endpoint and options with a session (connection) of its own,
        for a thread beside the run's (a lease's renewals): a request the run's thread sits in
        holds nothing of it up, and its answers never become the run's ``last``."""
        twin = copy.copy(self)
        twin.request_count = 0
        twin.last = None
        if not isinstance(self.session, requests.Session):
            return twin  # a session given by the caller (a test's stand-in) is shared
        session = requests.Session()
        for attribute in ("auth", "verify", "cert", "trust_env", "proxies"):
            setattr(session, attribute, copy.copy(getattr(self.session, attribute)))
        session.headers.update(self.session.headers)
        session.mount("http://", HTTPAdapter(pool_maxsize=2))
        session.mount("https://", HTTPAdapter(pool_maxsize=2))
        twin.session = session
        return twin

    def url(self, path):
        return "%s/%s" % (self.base_url, path.lstrip("/"))

    def public_url(self, path):
        return "%s/%s" % (self.public_base_url, path.lstrip("/"))

    def error(self, msg, **kwargs):
        """A FlinkError with every known secret hidden."""
        return FlinkError(msg, **kwargs).redacted(self.redactor)

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
                retryable = transient(exc) and (idempotent or never_sent(exc))
                if retryable and attempt <= self.retries and not _rewinds_impossible(data):
                    self._backoff(attempt)
                    continue
                what, detail = describe_transport_error(exc, self.proxy)
                raise self.error("cannot reach Flink (%s)" % what, method=method, url=shown,
                                 cause=detail)
            except (OSError, ValueError) as exc:
                # Local input requests rejects before sending (a CA bundle it cannot
                # read, a value it cannot encode): not a network error, never retried.
                raise self.error("cannot send the request (%s)" % type(exc).__name__,
                                 method=method, url=shown, cause=str(exc))
            self.last = (method, shown, response.status_code)
            if idempotent and attempt <= self.retries and (
                    response.status_code in RETRY_STATUSES or jar_closed(response.status_code, response.text)):
                self._backoff(attempt)
                continue
            if response.status_code in allow_status:
                return response
            if response.status_code not in expect:
                error = self._http_error(method, shown, response)
                restore = json.get("savepointPath") if isinstance(json, dict) else None
                if restore and error.cause and _UNREADABLE_SAVEPOINT.search(error.cause):
                    # Flink names neither the path nor the problem (java.io.EOFException).
                    error.msg = ("the savepoint or checkpoint %s cannot be read (truncated, corrupt "
                                 "or not a savepoint)" % restore)
                raise error.redacted(self.redactor)
            if not response.content or not response.content.strip():
                if method == "GET":
                    raise self.error("Flink answered with an empty body where JSON was expected",
                                     method=method, url=shown, status=response.status_code)
                return None
            try:
                return response.json()
            except ValueError:
                raise self.error("Flink answered with a body that is not JSON", method=method,
                                 url=shown, status=response.status_code,
                                 cause=response.text[:300])

    def _backoff(self, attempt):
        self.sleep(self.retry_backoff * (2 ** (attempt - 1)))

    def _http_error(self, method, url, response):
        errors = None
        flink_answered = False
        try:
            body = response.json()
            errors = body.get("errors") if isinstance(body, dict) else None
            flink_answered = errors is not None
        except ValueError:
            errors = [response.text[:_MAX_ERROR_TEXT]] if response.text else None
        status = response.status_code
        if status == 401:
            msg = "authentication failed (check url_username/url_password or bearer_token)"
        elif status == 403:
            msg = "access denied by the REST endpoint"
        elif status == 404 and not errors:
            msg = "not found"
        elif status in (502, 503, 504) and not flink_answered:
            # Flink's own errors are JSON with an "errors" list; this answer is not.
            if self.proxy:
                msg = "the proxy %s answered instead of Flink (Flink was not reached)" % self.proxy
            else:
                msg = "a proxy or gateway in front of Flink answered (Flink was not reached)"
        elif status == 407:
            msg = "the proxy %s requires authentication" % (self.proxy or "in between")
        else:
            msg = "Flink rejected the request"
        return FlinkError(msg, method=method, url=url, status=status, errors=errors)

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


def jar_closed(status, text):
    """Whether Flink failed a request because another request closed the JAR it read."""
    return status in (400, 500) and bool(_JAR_CLOSED.search(str(text or "")))


def _rewinds_impossible(data):
    # A streamed body already consumed cannot be sent again.
    return data is not None and not isinstance(data, (bytes, str, dict))


def parse_version(text):
    if not text:
        return (0,)
    numbers = re.findall(r"\d+", str(text).split("-", maxsplit=1)[0])
    return tuple(int(n) for n in numbers[:3]) or (0,)
