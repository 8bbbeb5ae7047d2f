# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scripted Flink for engine tests: ordered expectations, like community.hrobot's tests.

Each test lists the requests it expects, in order, with Flink's answers (recorded from real
clusters where the shape matters). A request that is not the next one expected fails the test,
and so does an expectation left over: the script is the sequence of steps under test.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.flinkops.flink.plugins.module_utils import _poll
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient

URL = "http://flink.test:8081"


class Expected:
    def __init__(self, method, path, status, body, check):
        self.method, self.path, self.status, self.body, self.check = method, path, status, body, check


# Read once per run, whenever the engine first needs them (the configuration: the high-availability
# check before the first change, or the stop's default savepoint directory; the overview: the
# capacity check after the plan): their place is not part of a script. A scripted answer is used
# wherever it stands; without one the configuration is empty and the slots are unknown.
ANYWHERE = {"GET /jobmanager/config": [], "GET /overview": {}}


class FlinkScript(BaseAdapter):
    """Answers requests from an ordered script; records what was sent."""

    def __init__(self):
        super().__init__()
        self.expected = []
        self.sent = []

    def _anywhere(self, call):
        """The scripted answer of an ANYWHERE call (taken out of the script), or the default."""
        for index, exp in enumerate(self.expected):
            if "%s %s" % (exp.method, exp.path) == call:
                return self.expected.pop(index)
        return Expected(*call.split(" ", 1), status=200, body=ANYWHERE[call], check=None)

    def on(self, method, path, body=None, status=200, check=None):
        """Expect ``method path`` next (``path`` is a regex matched whole, query ignored).

        ``body`` is the JSON answer, or an exception to raise (a lost answer);
        ``check(sent_json)`` may assert on the request body.
        """
        self.expected.append(Expected(method, path, status, body, check))
        return self

    def send(self, request, **kwargs):
        path = re.sub(r"^https?://[^/]+", "", request.url).split("?")[0]
        call = "%s %s" % (request.method, path)
        payload = request.body
        if hasattr(payload, "read"):
            payload = b"".join(iter(lambda: payload.read(65536), b""))
        sent = None
        if payload and request.headers.get("Content-Type") == "application/json":
            sent = json.loads(payload)
        self.sent.append((call, sent if sent is not None else payload))
        if call in ANYWHERE:
            exp = self._anywhere(call)
        elif not self.expected:
            raise AssertionError("unexpected request %s (script done)" % call)
        else:
            exp = self.expected.pop(0)
        if exp.method != request.method or not re.fullmatch(exp.path, path):
            raise AssertionError("expected %s %s, got %s" % (exp.method, exp.path, call))
        if exp.check:
            exp.check(sent)
        if isinstance(exp.body, Exception):
            raise exp.body
        response = requests.Response()
        response.status_code = exp.status
        response.url = request.url
        response.request = request
        response._content = exp.body if isinstance(exp.body, bytes) else json.dumps(
            exp.body).encode() if exp.body is not None else b""
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self):
        pass

    def calls(self):
        return [call for call, _body in self.sent]

    def body_of(self, pattern):
        """The JSON body of the last request whose ``METHOD path`` matches ``pattern``."""
        for call, body in reversed(self.sent):
            if re.search(pattern, call):
                return body
        raise AssertionError("no request matches %s" % pattern)


class Clock:
    """Monotonic time that moves only when the code under test sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_poll, "_now", clock.monotonic)
    return clock


@pytest.fixture
def script():
    fake = FlinkScript()
    yield fake
    assert not fake.expected, "expected requests not sent: %s" % [
        "%s %s" % (e.method, e.path) for e in fake.expected]


@pytest.fixture
def client(script, clock):
    flink = FlinkClient(URL, sleep=clock.sleep, retries=1, retry_backoff=0.01)
    flink.session.mount("http://", script)
    flink.session.mount("https://", script)
    return flink
