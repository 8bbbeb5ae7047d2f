# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job's state pre-check end to end on a fake Flink that answers what 2.3 and 1.20 recorded:
an upgrade that would drop state fails before any request that changes something, in check
mode and for real alike."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path

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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "precheck"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "job.json").exists())
RUNNING_ID = "0123456789abcdef" + "f" * 16
READ_ONLY = re.compile(r"^(GET .*|POST /jars/[^/]+/plan)$")


def recorded(version, name):
    return json.loads((FIXTURES / version / (name + ".json")).read_text())["body"]


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / "job.jar"
    path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return path


def fake_flink(monkeypatch, wire, jar, version, plan):
    sha = hashlib.sha256(jar.read_bytes()).hexdigest()[:16]
    checkpoint = recorded(version, "checkpoint_details")["id"]
    answers = {
        "GET /jobs/overview": {"jobs": [{"jid": RUNNING_ID, "name": "orders", "state": "RUNNING",
                                         "start-time": 1, "tasks": {"total": 4, "running": 4}}]},
        "GET /jars": {"files": [{"id": "u_job-sha256-%s.jar" % sha,
                                 "name": "job-sha256-%s.jar" % sha, "uploaded": 1}]},
        "GET /config": recorded(version, "config"),
        "GET /jobmanager/config": [{"key": "execution.checkpointing.savepoint-dir",
                                    "value": "file:///sp"}],
        "GET /overview": {"taskmanagers": 1, "slots-total": 4, "slots-available": 0},
        "POST /jars/u_job-sha256-%s.jar/plan" % sha: recorded(version, plan),
        "GET /jobs/%s/checkpoints" % RUNNING_ID: recorded(version, "checkpoints"),
        "GET /jobs/%s/checkpoints/details/%s" % (RUNNING_ID, checkpoint):
            recorded(version, "checkpoint_details"),
        "GET /jobs/%s" % RUNNING_ID: recorded(version, "job"),
    }
    sent = []

    def send(adapter, request, **kwargs):
        path = re.sub(r"^https?://[^/]+", "", request.url).split("?")[0]
        key = "%s %s" % (request.method, path)
        sent.append(key)
        if key not in answers:
            raise AssertionError("unexpected request %s" % key)
        wire.replies.append((200, answers[key]))
        return wire.send(request, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return sent


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            flink_job.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [True, False], ids=["check-mode", "real"])
@pytest.mark.parametrize("version", VERSIONS)
def test_refusal_before_any_change(monkeypatch, wire, jar, capsys, version, check_mode):
    sent = fake_flink(monkeypatch, wire, jar, version, "plan_incompatible")
    result = run(dict(url="http://flink.test:8081", name="orders", jar=str(jar), args=["--x"],
                      _ansible_check_mode=check_mode), capsys)
    assert result["failed"] and not result["changed"], result
    assert result["msg"].startswith("upgrade refused before anything stopped")
    assert "flinkops-keyed-counter" in result["msg"]
    assert result["state_check"]["outcome"] == "refused"
    assert all(READ_ONLY.match(call) for call in sent), sent
    assert not any(a.startswith(("stop", "cancel", "start")) for a in result["actions"])


@pytest.mark.parametrize("version", VERSIONS)
def test_check_mode_passes_a_compatible_upgrade(monkeypatch, wire, jar, capsys, version):
    sent = fake_flink(monkeypatch, wire, jar, version, "plan_compatible")
    result = run(dict(url="http://flink.test:8081", name="orders", jar=str(jar), args=["--x"],
                      _ansible_check_mode=True), capsys)
    assert result["changed"] and not result.get("failed"), result
    assert result["state_check"]["outcome"] == "passed"
    assert "GET /jobs/%s" % RUNNING_ID not in sent  # two reads, not three
    assert any(a.startswith("stop job") for a in result["actions"])


@pytest.mark.parametrize("version", VERSIONS)
def test_state_check_off_reads_nothing_more(monkeypatch, wire, jar, capsys, version):
    sent = fake_flink(monkeypatch, wire, jar, version, "plan_incompatible")
    result = run(dict(url="http://flink.test:8081", name="orders", jar=str(jar), args=["--x"],
                      state_check="off", _ansible_check_mode=True), capsys)
    assert result["changed"] and "state_check" not in result, result
    assert not any("/checkpoints" in call for call in sent)
