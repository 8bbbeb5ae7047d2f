# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job's check mode against a fake Flink: only reads (and the plan) may be sent."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re

import pytest
from requests.adapters import HTTPAdapter

from ansible_collections.flinkops.flink.plugins.modules import flink_job

try:  # ansible-core 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.18
    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args):
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        yield

RUNNING_ID = "0123456789abcdef" + "f" * 16
READ_ONLY = re.compile(r"^(GET .*|POST /jars/[^/]+/plan)$")


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / "job.jar"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return path


@pytest.fixture
def fake_flink(monkeypatch, wire, jar):
    sha = hashlib.sha256(jar.read_bytes()).hexdigest()
    answers = {
        "GET /jobs/overview": {"jobs": [{"jid": RUNNING_ID, "name": "orders", "state": "RUNNING",
                                         "start-time": 1, "tasks": {"total": 2, "running": 2}}]},
        "GET /jars": {"files": [{"id": "u_job-sha256-%s.jar" % sha[:16],
                                 "name": "job-sha256-%s.jar" % sha[:16], "uploaded": 1}]},
        "GET /config": {"flink-version": "2.3.0"},
        "GET /jobmanager/config": [{"key": "execution.checkpointing.savepoint-dir",
                                    "value": "file:///sp"}],
        "GET /overview": {"taskmanagers": 1, "slots-total": 4, "slots-available": 0},
        "POST /jars/u_job-sha256-%s.jar/plan" % sha[:16]: {"plan": {"nodes": []}},
        # The state pre-check's read: no completed checkpoint, so it could not run.
        "GET /jobs/%s/checkpoints" % RUNNING_ID: {"latest": {"completed": None}},
    }
    sent = []

    def send(adapter, request, **kwargs):
        path = re.sub(r"^https?://[^/]+", "", request.url).split("?")[0]
        key = "%s %s" % (request.method, path)
        sent.append(key)
        if key not in answers:
            raise AssertionError("check mode sent %s" % key)
        wire.replies.append((200, answers[key]))
        return wire.send(request, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return sent


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            flink_job.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("change", [
    dict(args=["--new"]),
    dict(args=["--new"], upgrade_mode="stateless"),
    dict(state="stopped"),
    dict(state="stopped", stop_mode="cancel"),
])
def test_check_mode_only_reads(fake_flink, jar, capsys, change):
    args = dict(url="http://flink.test:8081", name="orders", jar=str(jar),
                _ansible_check_mode=True, _ansible_diff=True)
    args.update(change)
    result = run(args, capsys)
    assert result["changed"] and not result.get("failed"), result
    assert result["actions"], result
    assert fake_flink and all(READ_ONLY.match(call) for call in fake_flink), fake_flink
    assert result["job_id"] is None or result["job_id"] == RUNNING_ID
    assert "diff" in result
