# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs the flink_job module and shows its progress lines while it waits.

Why this exists: a module cannot print while it runs (Ansible shows its result when it ends),
and a deployment waits for minutes (a savepoint of large state, the start, the health window).
So this plugin starts the module the way a task's ``async`` does (ansible-core's async_wrapper
on the target), asks ``async_status`` every few seconds (sooner at first), and shows through Ansible's display (at
default verbosity, in ansible-playbook and in AWX's job output) each line the module appended
meanwhile to a progress file whose path it passes in the module's environment. The result is
the module's own, as a synchronous run returns it; the job file and the progress file are
removed. A task the user made ``async``, check mode (it only reads), and connections that run
modules their own way run the module directly, exactly as the ``normal`` action does.
"""

from __future__ import annotations

import secrets
import time

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

from ansible_collections.flinkops.flink.plugins.module_utils._progress import PROGRESS_FILE

display = Display()

# Polls 0.5, 1 and 2 s after the start, then every 3 s: a run that changes nothing (about a
# second) is not held up, and a long wait costs one status check every 3 s.
FIRST_POLL_SECONDS = 0.5
POLL_SECONDS = 3.0
# async_wrapper kills a module that runs longer than its limit. This one is a watchdog far beyond
# any run (every wait of the module ends on its own): a deployment is never killed mid-step.
WATCHDOG_SECONDS = 7 * 86400
# What async_wrapper and async_status add to a module's result: a synchronous run has none.
ASYNC_KEYS = ("ansible_job_id", "started", "finished", "results_file", "stdout", "stderr",
              "stdout_lines", "stderr_lines")
# async_status failing this many times in a row (a connection that broke for good) ends the wait.
STATUS_FAILURES = 10
# async_wrapper returns once the module's job file is written or after 2.5 s, whichever is first:
# on a loaded machine the file can come later, and async_status then answers "could not find
# job" for a job that is starting. Until its file was seen once, that answer is waited out.
JOB_FILE_GRACE_SECONDS = 120
NO_JOB_FILE = "could not find job"


class ActionModule(ActionBase):

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        if self._task.async_val or self._play_context.check_mode or self._connection.has_native_async \
                or self._connection.always_pipeline_modules:
            return merge_hash(result, self._run_directly(task_vars))
        return merge_hash(result, self._run_watched(task_vars))

    def _run_directly(self, task_vars):
        """The ``normal`` action's way."""
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        result = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_watched(self, task_vars):
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        progress = self._connection._shell.join_path(async_dir, "flinkops-progress-%s" % secrets.token_hex(8))
        # As ansible-core passes ANSIBLE_ASYNC_DIR: an environment entry for this execution only.
        self._task.environment.append({PROGRESS_FILE: progress})
        self._task.async_val = WATCHDOG_SECONDS
        try:
            started = self._execute_module(task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = 0  # else the task executor would poll the job itself
            self._task.environment.pop()
        if started.get("failed") or "ansible_job_id" not in started:
            return started
        jid = started["ansible_job_id"]
        # Where async_wrapper writes the job file, as it says: it expands the async directory in
        # the module's environment, which can differ from this connection's (ansible-runner).
        if started.get("results_file"):
            async_dir = started["results_file"].rsplit("/", 1)[0]
        self._shown = 0
        # Interrupted (Ctrl-C), the module goes on to its end on the target, as an async task
        # does, and its job file stays; a re-run meets it through the concurrency guard.
        status = self._wait(jid, async_dir, progress, task_vars)
        self._show(progress)  # the lines since the last poll; then no file is left behind
        self._status(jid, async_dir, task_vars, mode="cleanup")
        self._low_level_execute_command("rm -f %s" % self._connection._shell.quote(progress))
        # The module's own temporary directory (its payload, which the async child reads when
        # it starts) goes only now: removed at the first status poll, a child slow to start
        # found nothing to run and wrote no job file.
        self._remove_tmp_path(self._connection._shell.tmpdir)
        for key in ASYNC_KEYS:
            status.pop(key, None)
        # What the start learnt for the controller (a discovered interpreter, its warnings) is
        # reported as a synchronous run reports it.
        if started.get("ansible_facts"):
            status["ansible_facts"] = merge_hash(started["ansible_facts"], status.get("ansible_facts") or {})
        for key in ("warnings", "deprecations"):
            if started.get(key):
                status[key] = list(started[key]) + list(status.get(key) or [])
        return status

    def _wait(self, jid, async_dir, progress, task_vars):
        failures, delay = 0, FIRST_POLL_SECONDS
        file_seen, grace_ends = False, time.monotonic() + JOB_FILE_GRACE_SECONDS
        while True:
            time.sleep(delay)
            delay = min(POLL_SECONDS, delay * 2)
            self._show(progress)
            try:
                status = self._status(jid, async_dir, task_vars)
            except AnsibleError as exc:
                # As the task executor's own async poll: a connection can bounce; try again.
                failures += 1
                if failures >= STATUS_FAILURES:
                    raise
                display.vvvv("flink_job: asking for the module's status failed, trying again: %s" % exc)
                continue
            failures = 0
            if status.get("msg") == NO_JOB_FILE and not file_seen and time.monotonic() < grace_ends:
                continue
            file_seen = True
            if status.get("finished") or status.get("failed"):
                return status

    def _status(self, jid, async_dir, task_vars, mode="status"):
        """async_status's module (in the module's temporary directory, removed at the end)."""
        return self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                    module_args={"jid": jid, "mode": mode, "_async_dir": async_dir})

    _shown = 0

    def _show(self, progress):
        """Display the progress lines the module appended since the last call."""
        answer = self._low_level_execute_command("cat %s 2>/dev/null || true" % self._connection._shell.quote(progress))
        lines = [line for line in (answer.get("stdout") or "").splitlines() if line.strip()]
        for line in lines[self._shown:]:
            display.display(line)
        self._shown = max(self._shown, len(lines))
