# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tooling's one REST client for Flink's JobManager: what a minimal script would use.

Stdlib only. Never the collection's own client: the tests and benchmarks look at Flink from
outside the code under test.

    rest(url, method, path, body=None, timeout=30, context=None) -> (status, JSON or text)
        one request on a new connection; never raises on an HTTP error status
    upload_jar(url, jar_path, timeout=60) -> (status, JSON or text)
        POST /jars/upload (multipart field ``jarfile``)
    Rest(url, timeout=60, context=None).call(method, path, body=None) -> JSON
        one keep-alive connection for many requests in a row (20 ms polls, benchmarks);
        raises RestError on a status >= 300
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path


def _encode(body):
    """(data, headers) of a JSON request body (None: no body)."""
    if body is None:
        return None, {}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def _decode(raw: bytes):
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def rest(url: str, method: str, path: str, body=None, timeout: float = 30.0, context=None):
    """Minimal JSON REST call. Returns (status, parsed JSON or text). Never raises on HTTP errors.

    ``context`` (an ssl.SSLContext) is used for https:// URLs, e.g. a cluster with REST TLS.
    """
    data, headers = _encode(body)
    headers["Accept"] = "application/json"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, _decode(raw)


def upload_jar(url: str, jar_path: str, timeout: float = 60.0):
    """POST /jars/upload (multipart field 'jarfile'). Returns (status, parsed JSON)."""
    boundary = "----flinkops" + uuid.uuid4().hex
    fname = os.path.basename(jar_path)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"{fname}\"\r\n"
            "Content-Type: application/x-java-archive\r\n\r\n").encode()
    body = head + Path(jar_path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url.rstrip("/") + "/jars/upload", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw.decode())
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class RestError(RuntimeError):
    """A status >= 300 from Rest.call."""

    def __init__(self, method, path, status, answer):
        super().__init__("%s %s -> %s %s" % (method, path, status, str(answer)[:2000]))
        self.status = status
        self.answer = answer


class Rest:
    """A keep-alive JSON client (http.client): one connection, reopened once when it broke."""

    def __init__(self, url, timeout=60.0, context=None):
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port, self.timeout, self.context = parts.hostname, parts.port, timeout, context
        self.conn = None

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, method, path, body=None):
        """The parsed JSON answer (None when empty); RestError on a status >= 300."""
        data, headers = _encode(body)
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        answer = json.loads(raw) if raw else None
        if resp.status >= 300:
            raise RestError(method, path, resp.status, answer)
        return answer

    def get(self, path):
        return self.call("GET", path)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
