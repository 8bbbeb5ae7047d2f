# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flink_job action plugin's wait for the module it started asynchronously (its status
answers scripted; no target): a job file that async_wrapper wrote late is waited for, a job
gone after it was seen is the answer."""

from __future__ import annotations

from unittest import mock

import pytest

from ansible_collections.flinkops.flink.plugins.action import flink_job

NOT_FOUND = {"failed": True, "msg": "could not find job", "started": 1, "finished": 1}
RUNNING = {"started": 1, "finished": 0}
DONE = {"started": 1, "finished": 1, "changed": True, "action": "upgraded"}


@pytest.fixture
def action(monkeypatch):
    monkeypatch.setattr(flink_job.time, "sleep", lambda seconds: None)
    plugin = flink_job.ActionModule(mock.MagicMock(), mock.MagicMock(), mock.MagicMock(),
                                    mock.MagicMock(), mock.MagicMock(), mock.MagicMock())
    plugin._show = lambda progress: None
    return plugin


def waited(action, answers):
    answers = list(answers)
    action._status = lambda jid, async_dir, task_vars, mode="status": answers.pop(0)
    return action._wait("j1", "/async", "/async/progress", {})


def test_a_job_file_written_late_is_waited_for(action):
    assert waited(action, [NOT_FOUND, NOT_FOUND, RUNNING, DONE]) == DONE


def test_a_job_file_gone_after_it_was_seen_is_the_answer(action):
    assert waited(action, [RUNNING, NOT_FOUND]) == NOT_FOUND


def test_a_job_file_that_never_comes_ends_the_wait(action, monkeypatch):
    clock = iter(range(0, 10000, 50))
    monkeypatch.setattr(flink_job.time, "monotonic", lambda: next(clock))
    assert waited(action, [NOT_FOUND] * 10) == NOT_FOUND
