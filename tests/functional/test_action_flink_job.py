# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The flink_job action plugin (plugins/action/flink_job.py), through ansible-playbook, no Flink:
a task run through it (the module started async and polled, for its progress lines) returns
exactly what the module returns run directly (the same collection without the action plugin),
failures, no_log, module_defaults of the action group, check mode and a task the user made async
included; and it leaves no async job file nor progress file behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import yaml

from flinkops_devkit.modules import collection_root
from flinkops_devkit.playbooks import ansible_env

TOKEN = "tok-%s" % os.urandom(8).hex()
# A closed loopback port: the module fails at its first request, the same way each time.
CLOSED = "http://127.0.0.1:9"

PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/flinkops.flink.flink:
      url: "{{ url }}"
      request_retries: 0
      request_timeout: 2
  tasks:
    - name: unreachable, with a warning
      flinkops.flink.flink_job: {name: orders, jar_id: x, validate_certs: false}
      register: unreachable
      ignore_errors: true
    - name: an option out of range
      flinkops.flink.flink_job: {name: orders, jar_id: x, deadline: 0}
      register: out_of_range
      ignore_errors: true
    - name: a secret, no_log
      flinkops.flink.flink_job: {name: orders, jar_id: x, bearer_token: "{{ token }}"}
      register: secret
      ignore_errors: true
      no_log: true
    - name: check mode
      flinkops.flink.flink_job: {name: orders, jar_id: x}
      register: checked
      ignore_errors: true
      check_mode: true
    - name: async by the user
      flinkops.flink.flink_job: {name: orders, jar_id: x}
      register: user_async
      ignore_errors: true
      async: 60
      poll: 1
    - name: keep the results
      ansible.builtin.copy:
        content: "{{ {'unreachable': unreachable, 'out_of_range': out_of_range, 'secret': secret,
                      'checked': checked, 'user_async': user_async} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""
# The user's async task reports its own job (a new id each run).
PER_RUN = ("ansible_job_id", "results_file")


def run(tmp_path, label, collections):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    out = tmp_path / ("%s.json" % label)
    variables = tmp_path / ("%s-vars.yml" % label)
    variables.write_text(yaml.safe_dump({"url": CLOSED, "token": TOKEN, "out": str(out)}))
    async_dir = tmp_path / ("%s-async" % label)
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(play),
         "-e", "@%s" % variables],
        capture_output=True, text=True, timeout=300, check=False,
        env=ansible_env({"ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_ASYNC_DIR": str(async_dir)}))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in PER_RUN:
        results["user_async"].pop(key, None)
    return results, proc.stdout + proc.stderr, async_dir


def shown(output):
    """The task outcome lines of a play's output, without the user's async job's own id."""
    lines = [line for line in output.splitlines() if line.startswith(("fatal", "ok", "changed"))]
    return [re.sub(r'"(ansible_job_id|results_file)": "[^"]*"', "", line) for line in lines]


def test_a_task_through_the_action_plugin_returns_what_the_module_returns(tmp_path):
    direct = tmp_path / "direct"
    shutil.copytree(os.path.join(collection_root(), "ansible_collections"),
                    direct / "ansible_collections", symlinks=True)
    os.remove(direct / "ansible_collections" / "flinkops" / "flink" / "plugins" / "action" / "flink_job.py")

    watched, watched_output, async_dir = run(tmp_path, "watched", collection_root())
    plain, plain_output, _async_dir = run(tmp_path, "direct", str(direct))

    assert watched == plain
    assert watched["unreachable"]["failed"] and "cannot reach Flink" in watched["unreachable"]["msg"]
    assert "validate_certs is false" in " ".join(watched["unreachable"]["warnings"])
    assert "deadline must be between 1 and 604800 seconds, got 0" in watched["out_of_range"]["msg"]
    assert watched["checked"]["failed"] and watched["user_async"]["failed"]
    # What the play shows: the same lines, the secret in neither.
    for output in (watched_output, plain_output):
        assert TOKEN not in output
        assert "the output has been hidden due to the fact that 'no_log: true'" in output
    assert shown(watched_output) == shown(plain_output)
    # Nothing left behind: no job file, no progress file.
    assert not os.path.isdir(async_dir) or os.listdir(async_dir) == [], os.listdir(async_dir)
