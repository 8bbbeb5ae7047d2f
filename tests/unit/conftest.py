# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted HTTP wire for unit tests: the real requests.Session runs, only the socket is fake."""

from __future__ import annotations

import json

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.flinkops.flink.plugins.module_utils import _sealed

PRODUCTION_SEAL_ITERATIONS = _sealed.ITERATIONS


@pytest.fixture(autouse=True)
def fast_sealing(monkeypatch):
    """Seal secrets with few PBKDF2 rounds: the rounds' count is what makes sealing slow
    on purpose, and no test depends on it (test_sealed checks the production count)."""
    monkeypatch.setattr(_sealed, "ITERATIONS", 1000)


@pytest.fixture
def production_seal_iterations():
    return PRODUCTION_SEAL_ITERATIONS


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next scripted reply, and records what was sent.

    A reply is ``(status, body)`` or an exception instance to raise.
    """

    def __init__(self):
        super().__init__()
        self.replies = []
        self.sent = []

    def expect(self, *replies):
        self.replies.extend(replies)
        return self

    def send(self, request, **kwargs):
        body = request.body
        if hasattr(body, "read"):
            chunks = []
            while True:
                chunk = body.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            body = b"".join(chunks)
        self.sent.append({"method": request.method, "url": request.url,
                          "headers": dict(request.headers), "body": body,
                          "timeout": kwargs.get("timeout")})
        if not self.replies:
            raise AssertionError("unexpected request %s %s" % (request.method, request.url))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, payload = reply
        response = requests.Response()
        response.status_code = status
        response.url = request.url
        response.request = request
        response._content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self):
        pass


@pytest.fixture
def wire():
    return ScriptedAdapter()


@pytest.fixture
def make_client(wire):
    from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient

    def factory(url="http://flink.test:8081", **kwargs):
        kwargs.setdefault("sleep", lambda seconds: None)
        client = FlinkClient(url, **kwargs)
        client.session.mount("http://", wire)
        client.session.mount("https://", wire)
        return client
    return factory
