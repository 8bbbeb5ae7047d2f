# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_jobs as Ansible runs it: each item of jobs is checked with flink_job's own options before
any request is sent (the scripted Flink expects none), and secrets of any item never show."""

from __future__ import annotations

import json

import pytest
from requests.adapters import HTTPAdapter

from ansible_collections.flinkops.flink.plugins.modules import flink_jobs
from ansible_collections.flinkops.flink.tests.unit.plugins.modules.test_modules import run

SECRET = "hunter2-secret-value"


@pytest.fixture
def script(monkeypatch):
    """No request may be sent: every check here comes before the first one."""
    def refuse(adapter, request, **kwargs):
        raise AssertionError("request sent: %s %s" % (request.method, request.url))
    monkeypatch.setattr(HTTPAdapter, "send", refuse)


def item(name="orders", **options):
    return dict(dict(name=name, jar_id="u1_orders.jar", args=["--db-password", SECRET]), **options)


@pytest.mark.parametrize("jobs, message", [
    ([item(url="http://other:8081")],
     "jobs[0] (orders): unsupported option url. Supported parameters include: "),
    ([item(upgrade_mode="fast")],
     "jobs[0] (orders): value of upgrade_mode must be one of: savepoint, last-state, stateless, "
     "blue-green, got: fast; nothing was changed"),
    ([item(), item("payments", parallelism=0)],
     "jobs[1] (payments): parallelism must be 1 or more, got 0; nothing was changed"),
    ([{"name": "orders"}],
     "jobs[0] (orders): state is running but any of the following are missing: jar, jar_id"),
    ([item(state="stopped")],
     "jobs[0] (orders): state must be running: a job that must not run is left out of jobs"),
    ([item(), item()], "jobs[1] (orders): the job name orders is declared twice; nothing was changed"),
    ([item(secret_args=["--api-key"])], "jobs[0] (orders): secret_args --api-key match no argument"),
])
def test_every_item_is_checked_as_flink_job_checks_it(script, capsys, jobs, message):
    result = run(flink_jobs, dict(jobs=jobs), capsys)
    assert result["failed"] and result["msg"].startswith(message), result["msg"]
    assert SECRET not in json.dumps(result)


def test_adopt_must_name_a_declared_job(script, capsys):
    result = run(flink_jobs, dict(jobs=[item()], adopt=["payments"]), capsys)
    assert result["failed"]
    assert result["msg"] == "adopt names payments, which jobs does not declare; nothing was changed"
    assert SECRET not in json.dumps(result)


def test_max_prune_and_max_parallel_have_a_floor(script, capsys):
    result = run(flink_jobs, dict(jobs=[item()], max_prune=-1), capsys)
    assert result["failed"] and result["msg"] == "max_prune must be 0 or more, got -1"
    result = run(flink_jobs, dict(jobs=[item()], max_parallel=0), capsys)
    assert result["failed"] and result["msg"] == "max_parallel must be 1 or more, got 0"
